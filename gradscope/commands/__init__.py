"""One module per CLI command; each registers itself on `gradscope.cli.app`."""
