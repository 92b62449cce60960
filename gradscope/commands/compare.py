"""`gradscope compare`."""
