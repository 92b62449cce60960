"""Record layer: turning a training step into a trace row, and finding where a non-finite value began."""
