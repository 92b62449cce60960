"""Drivers: the ways a run reaches the recorder (a config's training loop, torchrun)."""
