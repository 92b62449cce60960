"""Core: clipping during a run (the online `Guard`)."""
