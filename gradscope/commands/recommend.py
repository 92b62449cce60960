"""`gradscope recommend`."""
