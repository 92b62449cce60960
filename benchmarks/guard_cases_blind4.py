"""A ninth held-out split for `benchmarks/guard_regret.py` ("held-out-9"): 10 healthy runs a guard left on must
not move (three that start slowly: a CNN without BatchNorm on plain SGD, a deep ReLU MLP at half the He init on
Adam and a GRU recalling a marker 12 steps back, flat for 60-80 steps before they learn; a CNN with BatchNorm on
SGD momentum; pre-norm and post-norm causal transformers on Adam and AdamW at lr 1e-2, and the pre-norm one on SGD
momentum at lr 1, aggressive but fine; GELU MLPs regressing unstandardised targets, gradient norms in the hundreds,
and tiny ones, gradient norms of thousandths; a GELU MLP on RMSprop) and 8 unstable runs a clip saves (three
stalled from the first steps by a too-high learning rate, never rising and never non-finite: a CNN without
BatchNorm on SGD momentum, a pre-norm transformer on Adam at lr 5e-2, a deep ReLU MLP on SGD momentum; and five
that blow up later: a tanh MLP on plain SGD whose loss jumps near the end, a tanh RNN and an LSTM whose losses
spike, a post-norm transformer on SGD momentum and a GELU autoencoder on SGD Nesterov that turn non-finite).

Written blind to the guard (its code, its tests, its README sections and its earlier scores were not read),
labelled from the plain torch loop of benchmarks/recommend_regret.py alone (unclipped run and the 13-point
threshold grid, fresh_labels.verify's rules). No case has a [schedule]: guard_regret.py's method loop steps no
scheduler, so a scheduled case would score the methods on a different run than its unclipped one.

Same form as guard_cases_blind3.py: every factory the TOMLs name is in `FACTORIES`, which guard_cases.py adds to
its own namespace; `BLIND9` is built on first access (fresh_labels.lazy_cases). Seeds 901-924.

    .venv/bin/python benchmarks/guard_cases_blind4.py [--cases a,b] [-v]   # verify every label, print the table

Labels as verified (plain loop, one torch thread, 2026-12-07): the 10 healthy runs end at 0.02-0.49x their first
loss and the grid's best clip beats them by at most 1.6% (b9_gelu_mlp_big_targets_adam, at 316; b9_gru_recall_adam
by 1.3% at 1; 0-0.1% for the other eight); the slow starters' 10-step mean loss first falls below 0.9x the first
loss at steps 80 (CNN on SGD), 68 (small-init MLP) and 59 (GRU). The 8 unstable ones lose to the grid's best by
36-99% of their reference: the stalled CNN ends at 1.42 (chance 1.39) against 0.37 at clip 0.1, the stalled
transformer at 2.00 against 0.57 at clip 0.001 (its grid is jagged: 1.00 at 0.1, 1.22 at 1), the stalled deep MLP
at 1.33 against 0.85 at 0.316; the tanh MLP ends at 13.4 against 0.89 at 0.1; the RNN at 25.7 against 0.065 at
0.316; the LSTM at 0.95 against 0.34 at 0.316; the post-norm transformer and the autoencoder turn non-finite at
steps 40 and 39 (0.52 at 0.316 and 0.069 at 0.1). Unclipped runs take 0.05-2.0 s on one busy thread.

Changed while writing: the BatchNorm CNN from 1536 images with 5% of labels flipped at batch 32 and lr 0.1 (clip 1
beat it by 6%; at lr 0.05 batch 64 clip 0.316 by 4%: it was still memorising label noise) to 4096 images with 10%
flipped at batch 64, lr 0.05, which sits on its noise floor; the recall task from the marker sharing channels with
the noise (an LSTM on Adam did not learn it at 20-50 steps, a GRU on RMSprop not at 40) to a separate noise channel,
12 steps and 10% of labels flipped (without the flips the loss went to 1e-3, where any clip's small difference is a
large relative one), and from an LSTM (at 10-12 steps it half-learns and clip 0.1 beat it by 31%) to a GRU; the
tiny-gradient case from an autoencoder on inputs x0.01 (Adam: clip 1e-3 beat it by 64%, its early large gradients
inflating Adam's second moment; SGD Nesterov: it learned only the mean) to a regression with inputs at unit scale
and targets x0.01; the RMSprop case from a tanh autoencoder (clip 0.1 beat it by 8-14% at lr 3e-4 to 2e-3) to a GELU
classifier; the deep MLP's classes from counts of positive projections (imbalanced 1:3:3:1) to the largest
|projection|, balanced; the post-norm transformer's SGD lr 1 -> 1.5 (at seed 922 lr 1 converges; at seed 909 it went
non-finite). Could not make: a stalled RMSprop CNN (at lr 0.1 it sits at chance, but every clip from 1e-3 to 1e3
ends within 0.5% of it: RMSprop divides the clip's scale back out) and a stalled post-norm transformer on AdamW at
lr 5e-2 (the best clip gains 2%); the Adam transformer stalls only at lr 5e-2 (at 1e-2 to 3e-2 it converges; those
are healthy cases).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import torch
from fresh_labels import check_labels, lazy_cases
from fresh_labels import factory_section as _m
from fresh_labels import make_case as _case
from regret_cases import Case
from torch import nn

Dataset = torch.utils.data.TensorDataset


# -- models ---------------------------------------------------------------------------------------------------

def build_spot_cnn(channels: int = 8, classes: int = 4, batch_norm: bool = False, size: int = 16) -> nn.Module:
    """A 2D CNN for (batch, 1, size, size) images: two conv-(BN)-ReLU-maxpool blocks and a third conv-(BN)-ReLU,
    then a linear head on the flattened maps (size/4 squared per channel)."""
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)
        return [conv, nn.BatchNorm2d(c_out), nn.ReLU()] if batch_norm else [conv, nn.ReLU()]

    c = channels
    return nn.Sequential(*block(1, c), nn.MaxPool2d(2), *block(c, 2 * c), nn.MaxPool2d(2), *block(2 * c, 2 * c),
                         nn.Flatten(), nn.Linear(2 * c * (size // 4) ** 2, classes))


def build_scaled_mlp(inputs: int = 12, width: int = 64, depth: int = 4, outputs: int = 4, activation: str = "relu",
                     init: str = "default", init_scale: float = 1.0) -> nn.Module:
    """`depth - 1` Linear+activation layers of `width` (no normalisation, no residuals), then a linear head.
    `init` "default" keeps PyTorch's init, "he" uses Kaiming-normal (fan-in) weights and zero biases; every
    weight is then multiplied by `init_scale` (below 1: a small init whose signal fades through the depth)."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[activation]
    layers: list[nn.Module] = []
    n_in = inputs
    for _ in range(depth - 1):
        layers += [nn.Linear(n_in, width), act()]
        n_in = width
    layers.append(nn.Linear(n_in, outputs))
    with torch.no_grad():
        for m in layers:
            if isinstance(m, nn.Linear):
                if init == "he":
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)
                m.weight.mul_(init_scale)
    return nn.Sequential(*layers)


class SequenceReader(nn.Module):
    """A recurrent net (tanh RNN, LSTM or GRU) over (batch, seq, inputs); a linear head on the last state."""

    def __init__(self, cell: str, inputs: int, hidden: int, outputs: int, layers: int) -> None:
        super().__init__()
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = kind(inputs, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_sequence_reader(cell: str = "lstm", inputs: int = 1, hidden: int = 32, outputs: int = 1,
                          layers: int = 1) -> nn.Module:
    return SequenceReader(cell, inputs, hidden, outputs, layers)


class LagTransformer(nn.Module):
    """Token and learned position embeddings, a `torch.nn.TransformerEncoder` (no dropout, causal mask), per-token
    logits shaped (batch, vocab, seq) for CrossEntropyLoss; pre-norm (with a final LayerNorm) or post-norm."""

    def __init__(self, vocab: int, d_model: int, heads: int, layers: int, seq_len: int, norm_first: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(0.1 * torch.randn(seq_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model) if norm_first else None,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(seq_len), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.encoder(self.embed(ids) + self.pos[:t], mask=self.causal[:t, :t], is_causal=True)
        return self.head(h).transpose(1, 2)


def build_lag_transformer(vocab: int = 10, d_model: int = 32, heads: int = 4, layers: int = 2, seq_len: int = 20,
                          norm_first: bool = True) -> nn.Module:
    return LagTransformer(vocab, d_model, heads, layers, seq_len, norm_first)


def build_bottleneck_autoencoder(inputs: int = 32, hidden: int = 64, code: int = 6,
                                 activation: str = "gelu") -> nn.Module:
    """inputs -> hidden -> code -> hidden -> inputs, `activation` after the first and third layers, a linear code
    and a linear reconstruction."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[activation]
    return nn.Sequential(nn.Linear(inputs, hidden), act(), nn.Linear(hidden, code),
                         nn.Linear(code, hidden), act(), nn.Linear(hidden, inputs))


# -- data -----------------------------------------------------------------------------------------------------

def _noisy_labels(labels: torch.Tensor, classes: int, fraction: float, g: torch.Generator) -> torch.Tensor:
    """`labels` with `fraction` of them replaced by random classes: label noise, a floor under the loss."""
    random = torch.randint(0, classes, labels.shape, generator=g)
    return torch.where(torch.rand(labels.shape, generator=g) < fraction, random, labels)


def quadrant_spots(n: int = 1536, size: int = 16, noise: float = 0.5, flip: float = 0.0, seed: int = 0) -> Dataset:
    """size x size images of one Gaussian spot (random width and brightness) whose quadrant is the class, plus
    a dimmer distractor spot anywhere, in Gaussian noise; `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    half = size / 2
    cy = (labels // 2).float() * half + 1 + (half - 2) * torch.rand(n, generator=g)
    cx = (labels % 2).float() * half + 1 + (half - 2) * torch.rand(n, generator=g)
    width = 1.0 + 1.5 * torch.rand(n, generator=g)
    bright = 0.8 + 0.8 * torch.rand(n, generator=g)
    d2 = (ys[None] - cy[:, None, None]) ** 2 + (xs[None] - cx[:, None, None]) ** 2
    spot = bright[:, None, None] * torch.exp(-d2 / (2 * width[:, None, None] ** 2))
    dy, dx = size * torch.rand(2, n, 1, 1, generator=g)
    distractor = 0.4 * torch.exp(-((ys[None] - dy) ** 2 + (xs[None] - dx) ** 2) / 2.0)
    images = spot + distractor + noise * torch.randn(n, size, size, generator=g)
    return Dataset(images.unsqueeze(1), _noisy_labels(labels, 4, flip, g))


def axis_affinity_classes(n: int = 4096, inputs: int = 12, classes: int = 4, flip: float = 0.0,
                          seed: int = 0) -> Dataset:
    """Gaussian inputs; the class is the one of `classes` random directions with the largest |projection| (a
    nonlinear rule: x and -x share a class); `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, classes, generator=g)
    w = w / w.norm(dim=0)
    labels = (x @ w).abs().argmax(dim=1)
    return Dataset(x, _noisy_labels(labels, classes, flip, g))


def scaled_targets(n: int = 2048, inputs: int = 10, scale: float = 100.0, offset: float = 0.0, noise: float = 0.1,
                   seed: int = 0) -> Dataset:
    """Gaussian inputs; the target is (a random linear map plus a smooth nonlinearity plus noise) times `scale`,
    plus `offset`: regression targets in raw units (not standardised), at `scale` 100 gradients of hundreds; at
    `scale` 0.01 gradients of thousandths."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    v = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    y = x @ w + 0.5 * torch.tanh(2 * (x @ v)) + noise * torch.randn(n, generator=g)
    return Dataset(x, (scale * y + offset).unsqueeze(1))


def marker_recall(n: int = 2048, seq_len: int = 12, classes: int = 4, noise: float = 1.0, flip: float = 0.0,
                  seed: int = 0) -> Dataset:
    """(n, seq_len, classes + 1) sequences: the first `classes` channels hold the class as a one-hot at step 0 and
    zeros after it, the last channel Gaussian noise at every step; the target is the class at the end (a long
    dependency: nothing after step 0 tells it); `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    x = torch.zeros(n, seq_len, classes + 1)
    x[:, :, classes] = noise * torch.randn(n, seq_len, generator=g)
    x[torch.arange(n), 0, labels] = 1.0
    return Dataset(x, _noisy_labels(labels, classes, flip, g))


def drift_sums(n: int = 2048, seq_len: int = 20, window: int = 5, seed: int = 0) -> Dataset:
    """(n, seq_len, 2) readings (Gaussian, the second channel a slow random walk); the target is the sum of the
    first channel over the last `window` steps plus the walk's final value."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, seq_len, generator=g)
    walk = torch.cumsum(0.3 * torch.randn(n, seq_len, generator=g), dim=1)
    y = a[:, -window:].sum(dim=1) + walk[:, -1]
    return Dataset(torch.stack([a, walk], dim=2), y.unsqueeze(1))


def lag_tokens(n: int = 2048, seq_len: int = 20, vocab: int = 10, lag: int = 2, typo: float = 0.1,
               seed: int = 0) -> Dataset:
    """Random token sequences; the target at each position is the token `lag` positions back (the first `lag`
    targets: the token itself), `typo` of the targets replaced by random tokens (a loss floor)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (n, seq_len), generator=g)
    targets = torch.cat([ids[:, :lag], ids[:, :-lag]], dim=1)
    return Dataset(ids, _noisy_labels(targets, vocab, typo, g))


def subspace_points(n: int = 2048, inputs: int = 32, rank: int = 4, scale: float = 1.0, noise: float = 0.05,
                    seed: int = 0) -> Dataset:
    """Points near a curved `rank`-dimensional surface in `inputs` dimensions (a random linear map of a random
    sine-warped latent), standardised, then times `scale`; the target is the input (an autoencoder's)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, rank, generator=g)
    z = torch.cat([z, torch.sin(2 * z)], dim=1)
    x = z @ torch.randn(2 * rank, inputs, generator=g)
    x = (x - x.mean(0)) / x.std(0) + noise * torch.randn(n, inputs, generator=g)
    x = scale * x
    return Dataset(x, x.clone())


# The factories the TOMLs below name (none clashing with guard_cases, regret_cases or the other case modules):
# guard_cases.py puts these into its globals.
FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "build_spot_cnn", "build_scaled_mlp", "build_sequence_reader", "build_lag_transformer",
    "build_bottleneck_autoencoder", "quadrant_spots", "axis_affinity_classes", "scaled_targets", "marker_recall",
    "drift_sums", "lag_tokens", "subspace_points")}


# -- cases ----------------------------------------------------------------------------------------------------

_CNN = _m("build_spot_cnn", "channels = 8, classes = 4")
_CNN_BN = _m("build_spot_cnn", "channels = 8, classes = 4, batch_norm = true")
_SPOTS = _m("quadrant_spots", "n = 1536, size = 16, noise = 0.5, flip = 0.05")
_SPOTS_BIG = _m("quadrant_spots", "n = 4096, size = 16, noise = 0.5, flip = 0.1")
_SMALL_INIT_MLP = _m("build_scaled_mlp", 'inputs = 12, width = 64, depth = 6, outputs = 4, activation = "relu", '
                     'init = "he", init_scale = 0.5')
_DEEP_MLP = _m("build_scaled_mlp", 'inputs = 12, width = 64, depth = 10, outputs = 4, activation = "relu", '
               'init = "he"')
_TANH_MLP = _m("build_scaled_mlp", 'inputs = 12, width = 64, depth = 4, outputs = 4, activation = "tanh"')
_GELU_CLS = _m("build_scaled_mlp", 'inputs = 12, width = 64, depth = 3, outputs = 4, activation = "gelu"')
_GELU_REG = _m("build_scaled_mlp", 'inputs = 10, width = 64, depth = 3, outputs = 1, activation = "gelu"')
_AXES = _m("axis_affinity_classes", "n = 4096, inputs = 12, classes = 4, flip = 0.1")
_BIG_TARGETS = _m("scaled_targets", "n = 2048, inputs = 10, scale = 100.0, noise = 0.1")
_TINY_TARGETS = _m("scaled_targets", "n = 2048, inputs = 10, scale = 0.01, noise = 0.1")
_GRU_RECALL = _m("build_sequence_reader", 'cell = "gru", inputs = 5, hidden = 48, outputs = 4')
_RECALL = _m("marker_recall", "n = 2048, seq_len = 12, classes = 4, noise = 1.0, flip = 0.1")
_RNN_DRIFT = _m("build_sequence_reader", 'cell = "rnn", inputs = 2, hidden = 32, outputs = 1')
_LSTM_DRIFT = _m("build_sequence_reader", 'cell = "lstm", inputs = 2, hidden = 32, outputs = 1')
_DRIFT = _m("drift_sums", "n = 2048, seq_len = 20, window = 5")
_PRE_TX = _m("build_lag_transformer", "vocab = 10, d_model = 32, heads = 4, layers = 2, seq_len = 20, "
             "norm_first = true")
_POST_TX = _m("build_lag_transformer", "vocab = 10, d_model = 32, heads = 4, layers = 2, seq_len = 20, "
              "norm_first = false")
_LAGS = _m("lag_tokens", "n = 2048, seq_len = 20, vocab = 10, lag = 2, typo = 0.1")
_GELU_AE = _m("build_bottleneck_autoencoder", 'inputs = 32, hidden = 64, code = 6, activation = "gelu"')
_SURFACE = _m("subspace_points", "n = 2048, inputs = 32, rank = 4, scale = 1.0")
_CE, _MSE = "CrossEntropyLoss", "MSELoss"

# (case, kind): the split of every one is "held-out-9"
SPECS: list[tuple[Case, str]] = [
    # -- healthy
    (_case("b9_cnn_sgd_slow_start", "cnn", "CNN without BatchNorm finding a spot's quadrant (5% of labels "
           "flipped), plain SGD lr 0.04: flat for ~80 steps, then learns", _CNN, _SPOTS, 32, _CE,
           'name = "SGD"\nlr = 0.04', 250, 901), "healthy"),
    (_case("b9_bn_cnn_sgd_mom", "cnn", "CNN with BatchNorm finding a spot's quadrant (10% flipped), SGD lr 0.05 "
           "momentum 0.9, batch 64", _CNN_BN, _SPOTS_BIG, 64, _CE, 'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200,
           904), "healthy"),
    (_case("b9_small_init_mlp_adam", "feed-forward", "6-layer ReLU MLP at half the He init (its signal fades) "
           "classifying by the largest |projection| (10% flipped), Adam lr 1e-3: flat for ~50 steps", _SMALL_INIT_MLP,
           _AXES, 64, _CE, 'name = "Adam"\nlr = 1e-3', 250, 912), "healthy"),
    (_case("b9_gru_recall_adam", "recurrent", "GRU recalling a class marked at the first of 12 noisy steps (10% "
           "flipped), Adam lr 3e-3: flat for ~70 steps", _GRU_RECALL, _RECALL, 32, _CE, 'name = "Adam"\nlr = 3e-3',
           250, 913), "healthy"),
    (_case("b9_prenorm_tx_adam", "transformer", "pre-norm causal transformer copying the token 2 back (10% "
           "typos), Adam lr 1e-2", _PRE_TX, _LAGS, 32, _CE, 'name = "Adam"\nlr = 1e-2', 200, 905), "healthy"),
    (_case("b9_postnorm_tx_adamw", "transformer", "post-norm causal transformer copying the token 2 back (10% "
           "typos), AdamW lr 1e-2", _POST_TX, _LAGS, 32, _CE, 'name = "AdamW"\nlr = 1e-2\nweight_decay = 0.01',
           200, 906), "healthy"),
    (_case("b9_prenorm_tx_sgd_mom_aggressive", "transformer", "pre-norm causal transformer copying the token 2 "
           "back, SGD lr 1 momentum 0.9 (aggressive, still converges; the post-norm one diverges at 1.5)", _PRE_TX,
           _LAGS, 32, _CE, 'name = "SGD"\nlr = 1.0\nmomentum = 0.9', 200, 921), "healthy"),
    (_case("b9_gelu_mlp_big_targets_adam", "feed-forward", "GELU MLP regressing unstandardised targets (x100: "
           "gradient norms in the hundreds), Adam lr 1e-2", _GELU_REG, _BIG_TARGETS, 64, _MSE,
           'name = "Adam"\nlr = 1e-2', 250, 917), "healthy"),
    (_case("b9_gelu_mlp_tiny_targets_sgd_mom", "feed-forward", "GELU MLP regressing tiny targets (x0.01: "
           "gradient norms of thousandths), SGD lr 0.05 momentum 0.9", _GELU_REG, _TINY_TARGETS, 64, _MSE,
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 250, 918), "healthy"),
    (_case("b9_gelu_mlp_rmsprop", "feed-forward", "GELU MLP classifying by the largest |projection| (10% "
           "flipped), RMSprop lr 1e-3", _GELU_CLS, _AXES, 64, _CE, 'name = "RMSprop"\nlr = 1e-3', 250, 924),
     "healthy"),
    # -- unstable
    (_case("b9_cnn_sgd_mom_stalled", "cnn", "CNN without BatchNorm finding a spot's quadrant, SGD lr 0.3 "
           "momentum 0.9: sits at chance from the first steps", _CNN, _SPOTS, 32, _CE,
           'name = "SGD"\nlr = 0.3\nmomentum = 0.9', 200, 902), "unstable"),
    (_case("b9_prenorm_tx_adam_stalled", "transformer", "pre-norm causal transformer copying the token 2 back, "
           "Adam lr 5e-2: stalls near chance from the start", _PRE_TX, _LAGS, 32, _CE, 'name = "Adam"\nlr = 5e-2',
           200, 909), "unstable"),
    (_case("b9_deep_relu_mlp_stalled", "feed-forward", "10-layer He-init ReLU MLP (no norm) classifying by the "
           "largest |projection|, SGD lr 0.2 momentum 0.9: drops to chance and stays", _DEEP_MLP, _AXES, 64, _CE,
           'name = "SGD"\nlr = 0.2\nmomentum = 0.9', 200, 911), "unstable"),
    (_case("b9_tanh_mlp_sgd_late_spike", "feed-forward", "tanh MLP classifying by the largest |projection|, plain "
           "SGD lr 3: flat, then its loss jumps near the end", _TANH_MLP, _AXES, 64, _CE, 'name = "SGD"\nlr = 3.0',
           250, 920), "unstable"),
    (_case("b9_rnn_drift_sgd_mom", "recurrent", "tanh RNN summing a window and tracking a random walk, SGD "
           "lr 0.05 momentum 0.9: learns, then its loss spikes and grows", _RNN_DRIFT, _DRIFT, 32, _MSE,
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200, 914), "unstable"),
    (_case("b9_lstm_drift_sgd_mom", "recurrent", "LSTM summing a window and tracking a random walk, SGD lr 0.3 "
           "momentum 0.9: loss spikes", _LSTM_DRIFT, _DRIFT, 32, _MSE, 'name = "SGD"\nlr = 0.3\nmomentum = 0.9',
           200, 916), "unstable"),
    (_case("b9_postnorm_tx_sgd_mom", "transformer", "post-norm causal transformer copying the token 2 back, SGD "
           "lr 1.5 momentum 0.9: non-finite after ~40 steps", _POST_TX, _LAGS, 32, _CE,
           'name = "SGD"\nlr = 1.5\nmomentum = 0.9', 200, 922), "unstable"),
    (_case("b9_gelu_ae_nesterov", "autoencoder", "GELU autoencoder (code 6) on a curved 4-d surface in 32-d, SGD "
           "lr 0.7 Nesterov momentum 0.9: learns, then non-finite", _GELU_AE, _SURFACE, 32, _MSE,
           'name = "SGD"\nlr = 0.7\nmomentum = 0.9\nnesterov = true', 200, 919), "unstable"),
]

SPLIT = "held-out-9"
__getattr__ = lazy_cases("BLIND9", SPECS, SPLIT)  # PEP 562: BLIND9 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(check_labels(SPECS, sys.modules[__name__], SPLIT))
