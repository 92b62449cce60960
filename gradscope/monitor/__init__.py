"""Core: `Monitor` and what it measures a step with (fused norm kernels, one host copy, AMP, rank reduction)."""
