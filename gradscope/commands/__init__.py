"""One module per CLI command, each a plain function; `gradscope.cli` registers them on its app."""
