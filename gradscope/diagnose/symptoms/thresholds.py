"""Every detector threshold in one frozen object, shared by all detectors: `diagnose_trace(trace,
thresholds=Thresholds(grad_spike_ratio=5.0))`, `monitor.diagnose(grad_spike_ratio=5.0)`.

The defaults are the documented ones (README, "What gradscope detects"); each says where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    """The detectors' thresholds; steps are optimizer steps, ratios are plain factors."""

    # -- spikes.py: one step far above the recent typical level ---------------------------------------------
    spike_window: int = 20  # steps of history the typical level (median) is taken from
    grad_spike_ratio: float = 10.0  # a gradient spike is at least 10x the recent median norm ...
    loss_spike_ratio: float = 3.0  # ... a loss spike at least 3x the recent median loss ...
    # ... and at least 8 robust standard deviations above it, on the log scale. Calibration: healthy runs reach
    # at most ~6 among steps that pass the ratio (the bundled healthy samples run 5x longer than their configs,
    # to convergence); a converged classifier whose minibatch loss swings with log-noise ~1 passes 6 in 5% of
    # 400-step runs and 8 in 1%; spikes of a too-high learning rate score 8-12 in minibatch runs, 15-600 in
    # full-batch ones. (Before: 8 sigmas of the raw values, which a converged Adam classifier passed at 10-30x.)
    spike_z: float = 8.0
    # Near convergence losses and gradient norms get tiny, and a 5x jump of a tiny number is harmless noise:
    # a spike must also rise by this fraction of the run's early level (median of its first spike_window steps).
    min_rise_over_early: float = 0.1

    # -- early.py: an unstable start (no spike_window of history yet: step 0 is the reference) ---------------
    early_steps: int = 20  # the first steps, before the spike detectors have their history
    early_min_steps: int = 8  # a shorter run says nothing about its start
    early_window: int = 4  # consecutive steps whose loss is averaged (geometric mean)
    # The window sits this far above step 0's loss. Measured: a Llama at AdamW lr 0.1 without warm-up sits at
    # 1.29x (peak 1.58x) and ends on a plateau 1.4x above the warmed-up run; at lr 0.3, 1.45x; healthy starts
    # (AdamW 3e-3..3e-2, warm-up or not) stay below 1.0x, synthetic Adam transients whose loss wobbles up to
    # 1.3x below 1.22x.
    early_loss_rise: float = 1.25
    early_noise_sigmas: float = 4.0  # ... and beyond this many sigmas of the run's step-to-step log-loss noise
    # Or a start thrown off course by its first updates (issue 22: a Llama at AdamW lr 5e-2 without warm-up rose
    # to 1.31x its start by step 5 with a 6x gradient-norm jump, then settled on a plateau far above its warm-up
    # twin): one step's loss >= 1.3x step 0's (beyond early_noise_sigmas of one step's noise) once the gradient
    # norm has reached >= 4x step 0's, in a run whose late loss stays >= 0.5x its start. Healthy Adam transients
    # (2-5x norms, the loss wobbling up to ~1.25x) fall below that; the twins with warm-up do not rise at all.
    early_jump_loss_rise: float = 1.3
    early_jump_grad_ratio: float = 4.0
    early_jump_settles_above: float = 0.5

    # -- amp_scale.py: a GradScaler that never settles --------------------------------------------------------
    amp_settle_fraction: float = 0.1  # the first skips, and this fraction of the run, are the scale settling
    amp_unsettled_min_skips: int = 3  # after that, at least this many skipped updates ...
    amp_unsettled_fraction: float = 0.05  # ... and this fraction of the steps (healthy: 0 until growth_interval)

    # -- hidden_overflow.py: an fp16/bf16 overflow inside the forward that the loss and gradients hide ----------
    # With it, a run whose loss ends less than 10% below its start has stalled (critical). Measured: an RMSNorm
    # MLP on raw features x300 under fp16 ends 2% below its start (its fp32 and bf16 twins: 70%); where only part
    # of the rows overflow (features x100) the loss still falls 67%: a warning.
    overflow_stall_improvement: float = 0.1

    # -- loss.py: loss trends (divergence, plateau) ----------------------------------------------------------
    trend_min_steps: int = 10  # fewer finite steps than this say nothing about a trend
    edge_fraction: float = 0.1  # start / late levels are medians over this fraction of the run (at least 3 steps)
    start_steps: int = 10  # the start level is the median of at most the first 10 steps: a run can blow up early
    diverged_over_start: float = 1.5  # late loss >= 1.5x the start: training made it worse
    lost_progress: float = 0.3  # or it gave back 30% of what it gained from start to its lowest level ... (a
    # ResNet whose lr jumped 20x gave back 35%: a real loss of progress; healthy runs end within 1.5x of it anyway)
    lost_over_best: float = 1.5  # ... and sits >= 1.5x above its lowest level
    runaway_over_start: float = 10.0  # ending 10x above the start: reported as runaway in the evidence
    # A divergence is critical (the run is broken: a user throws it away) when the loss ends at or above its
    # start, or has given back this much of its progress from start to its lowest level; less is a warning.
    broken_lost_progress: float = 0.8
    plateau_min_steps: int = 20
    plateau_max_improvement: float = 0.01  # less than 1% better than the start after the whole run: not training
    # ... or less than 5% better and no downward trend beyond the noise: a line through log(loss) over the run
    # falls by less than 2 standard errors of its slope. Measured: a 6-layer RNN at 0.3x init whose minibatch
    # loss wobbles 30% around 0.42 for 200 steps ends 2.4% below its 10-step start median (-0.7 standard errors)
    # and above its first loss. The slope alone is too weak a test: of the benchmark's 21 healthy runs the least
    # improved by their end medians gain 8.3% (a GPT-2 warm-up, -2.9 standard errors) and 12.9% (-2.1); the cap
    # keeps them out of it.
    plateau_noise_max_improvement: float = 0.05
    plateau_noise_z: float = 2.0

    # -- growth.py: exponential growth of the gradient norm --------------------------------------------------
    growth_windows: tuple[int, ...] = (8, 16, 32, 64)  # trailing window lengths (steps) over which log(norm) is fit
    max_doubling_steps: float = 12.0  # the norm must double at least this often: slower rises are training dynamics
    min_r2: float = 0.85  # how straight log(norm) must be over the window: noise and one-off spikes are not growth
    min_growth_over_baseline: float = 100.0  # and it must already be 2 orders of magnitude above the run's start
    baseline_steps: int = 8  # the run's starting level is the median of its first steps
    # A burst that ends on its own is a catapult, not a runaway: at a learning rate just past the edge of
    # stability the norm climbs exponentially for a few steps, the weights move to a flatter region, and it
    # falls back. When nothing went non-finite and the run ends within this factor of the level the norm had
    # before the burst, the growth is reported as a warning (instability), not as critical.
    recovered_within: float = 10.0
    recovery_tail_steps: int = 10  # the run's end level is the median of its last steps
    settled_steps: int = 20  # a rise followed by this many steps at its new level (within recovered_within) ...
    settled_max_growth: float = 1e4  # ... and smaller than 4 orders of magnitude is not an explosion

    # -- growth.py: growth of the weight norm ----------------------------------------------------------------
    weight_max_doubling_steps: float = 25.0  # weights grow slower than gradients before overflowing
    weight_min_growth: float = 10.0  # exponential weight growth must have multiplied the norm by this much
    weight_min_r2: float = 0.9
    weight_growth_warning: float = 100.0  # any rise of the weight norm by this factor is a warning
    weight_stopped_pace: float = 0.25  # exponential growth whose last settled_steps climb at < 1/4 its pace stopped
    weight_near_overflow: float = 1e18  # a weight norm this large squares past float32 range: critical

    # -- vanishing.py: vanishing gradients ------------------------------------------------------------------
    vanishing_ratio: float = 1e-3  # early/late layer gradient norm below this: three orders of magnitude
    # ... or two in a run that does not train (its loss not 5% below its start): an 18-layer tanh MLP at torch's
    # default init, at chance for 200 steps, its early third's gradients 6e-3 of its late third's (9e-4 first to
    # last), was told only "check that gradients reach the weights"
    vanishing_ratio_untrained: float = 1e-2
    min_weight_layers: int = 3  # depth needs at least three weight tensors to speak of early and late
    # A depth ratio in a finite run whose late loss ends at 20% of its start or below is info, not a warning: it
    # trained well all the same (issue 22: a wide bf16 MLP with an oversized init went 2.3 -> 0.05 under a real
    # early/late ratio). The vanishing cases that never train end at 0.7-1.1x their start (a 10-layer sigmoid
    # MLP under Adam: 0.73x, at chance).
    vanishing_trains_well: float = 0.2
    collapse_ratio: float = 1e-4  # late global norm below this fraction of the early one ...
    collapse_min_loss_left: float = 0.5  # ... while the loss is above half its start: gradients died, not converged
    dead_fraction: float = 0.5  # half the weight matrices with exactly zero gradient: more than an unused branch
    min_dead_steps: int = 10  # judged over the second half of the run, at least this many steps

    # -- collapse.py: one side of an adversarial game (GAN) won outright (judged by diagnose/adversarial.py) ------
    collapse_min_steps: int = 20  # a shorter game says nothing about how it ended
    # A side's loss is pinned near 0 when the late tail (the last edge_fraction of the run) sits at or below 5% of
    # its start level (the median of its first start_steps). Measured on the 8x8 DCGAN of
    # benchmarks/adversarial_cases.py: a netD that wins outright ends at ~1.5% of its start; healthy games keep
    # netD near the equilibrium (log 4 ~ 1.39, at 0.9-1.05x of its start).
    collapse_loss_fraction: float = 0.05
    # ... or its gradient norm has fallen below 1e-3 of its start: a generator behind a Sigmoid saturated at 0
    # gets exactly none (BCELoss clamps log(0) to -100: its loss is pinned at 100 with a zero gradient).
    collapse_grad_ratio: float = 1e-3
    collapse_pinned_quantile: float = 0.9  # "pinned": 90% of the late steps under the bar, not a few dips

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_keywords(cls, **overrides: Any) -> Thresholds:
        """The defaults with `overrides`; an unknown name is a TypeError that lists the valid ones."""
        unknown = sorted(set(overrides) - set(cls.names()))
        if unknown:
            raise TypeError(f"unknown threshold {unknown[0]!r} (valid: {', '.join(cls.names())})")
        return cls(**overrides)


DEFAULT = Thresholds()
