"""Ground layer: reading a trace back from what a run left behind."""
