"""Record layer: `RunRecorder`, the one place a training step becomes a trace row; where a non-finite value began
(replaying the step); the AMP recipe a step runs under; the run folder's plots."""
