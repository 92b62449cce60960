"""Ground layer: the TOML config: read, override, validate (load.py) and write a clip setting back (write.py)."""
