"""Ground layer: the per-step trace of a run, its row layout, and the run folder it is written to."""
