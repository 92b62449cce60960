"""Ground layer: the per-step trace of a run (trace.py) and the run folder it is written to (run_folder.py)."""
