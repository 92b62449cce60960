"""An eighth held-out split for `benchmarks/guard_regret.py` ("held-out-8"): 8 healthy runs a guard left on must
not move (a 1D CNN with BatchNorm on SGD momentum, a GRU language model on Adam, a wide shallow MLP on plain SGD
near its edge of stability, a transformer encoder on AdamW at batch 8, a tanh autoencoder on RMSprop, a LayerNorm
residual MLP on SGD Nesterov, a CNN without BatchNorm on Adagrad, a linear softmax classifier on SGD at lr 2) and 6
unstable runs a clip saves (the wide MLP past its edge, a tanh RNN whose gradients explode through time, Cauchy
outliers in regression targets on plain SGD, a deep plain MLP, a transformer encoder and a 1D CNN without BatchNorm
on SGD momentum at too-high learning rates).

Written blind to the guard (its code, its tests, its README sections and its earlier scores were not read),
labelled from the plain torch loop of benchmarks/recommend_regret.py alone (unclipped run and the 13-point
threshold grid, fresh_labels.verify's rules). No case has a [schedule]: guard_regret.py's method loop steps no
scheduler, so a scheduled case would score the methods on a different run than its unclipped one.

Same form as guard_cases_blind2.py: every factory the TOMLs name is in `FACTORIES`, which guard_cases.py adds to
its own namespace; `BLIND8` is built on first access (fresh_labels.lazy_cases).

    .venv/bin/python benchmarks/guard_cases_blind3.py [--cases a,b] [-v]   # verify every label, print the table

Labels as verified (plain loop, one torch thread, 2026-12-06): the 8 healthy runs end at 0.008-0.49x their first
loss and the grid's best clip beats them by at most 2.1% (b8_ln_resmlp_nesterov, at 3.16; 0-1.9% for the others);
the 6 unstable ones lose to the grid's best by 40-98% of their reference (three turn non-finite unclipped, at
steps 4, 44 and 93; the outlier regression ends at 0.58 against 0.13 at clip 1; the deep MLP and the 1D CNN end
near chance, 1.35 and 1.44, against 0.68 and 0.84 clipped). Unclipped runs take 0.1-2.4 s on one busy thread.
Changed while writing: the wide MLP's healthy lr 0.1 -> 0.02 (0.1 turns non-finite at step 7; at 0.04 it spikes and
clip 1 beats it by 10%); the Adagrad CNN's lr 0.02 -> 0.01 and image noise 0.6 -> 0.3 (it ended at 0.84x its
first loss, clip 1 21% better; lr 0.02 at noise 0.3 still lost 16% to clip 1); the LayerNorm residual MLP from
lr 0.05 on 16-d shells (clip 0.316 18% better; lr 0.005-0.02 there lost 5-17% to clip 1 or 3.16) to lr 0.01 on
8-d shells: its score is sensitive to the trajectory, a near-miss healthy case; the deep plain MLP from PyTorch's
default init to He init (default init stalls at chance and no clip saves it: not a clipping case); the 1D CNN
without BatchNorm from lr 0.2 (or 0.4) to 0.8 (at 0.2-0.4 the best clip beat it by only 20%).
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

def build_conv1d_net(channels: int = 16, classes: int = 4, batch_norm: bool = True) -> nn.Module:
    """A 1D CNN for (batch, 1, length) signals: three conv-(BN)-ReLU blocks (the second strided), global average
    pooling, a linear head."""
    def block(c_in: int, c_out: int, kernel: int, stride: int) -> list[nn.Module]:
        conv = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=not batch_norm)
        return [conv, nn.BatchNorm1d(c_out), nn.ReLU()] if batch_norm else [conv, nn.ReLU()]

    c = channels
    return nn.Sequential(*block(1, c, 7, 1), *block(c, 2 * c, 5, 2), *block(2 * c, 2 * c, 3, 1),
                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(2 * c, classes))


class GRULanguageModel(nn.Module):
    """Token embedding, a GRU, a linear head: next-token logits shaped (batch, vocab, seq) for CrossEntropyLoss."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.gru = nn.GRU(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(ids))
        return self.head(out).transpose(1, 2)


def build_gru_language_model(vocab: int = 12, embed: int = 16, hidden: int = 48, layers: int = 1) -> nn.Module:
    return GRULanguageModel(vocab, embed, hidden, layers)


def build_dense_stack(inputs: int = 8, width: int = 256, depth: int = 2, outputs: int = 1,
                      activation: str = "relu", he_init: bool = False) -> nn.Module:
    """`depth - 1` Linear+activation layers of `width` (no normalisation, no residuals), then a linear head: a wide
    shallow MLP at depth 2, a deep plain one at depth 10+. PyTorch's default init, or with `he_init` Kaiming-normal
    (fan-in) weights and zero biases, which keep a deep ReLU stack's signal from vanishing."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
    layers: list[nn.Module] = []
    n_in = inputs
    for _ in range(depth - 1):
        layers += [nn.Linear(n_in, width), act()]
        n_in = width
    layers.append(nn.Linear(n_in, outputs))
    if he_init:
        for m in layers:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)


class PooledEncoder(nn.Module):
    """Token and position embeddings, a `torch.nn.TransformerEncoder` (no dropout), mean pooling over positions,
    a linear head: one label per sequence."""

    def __init__(self, vocab: int, classes: int, d_model: int, heads: int, layers: int, seq_len: int,
                 norm_first: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(seq_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model) if norm_first else None,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(ids) + self.pos).mean(dim=1))


def build_pooled_encoder(vocab: int = 6, classes: int = 6, d_model: int = 32, heads: int = 4, layers: int = 2,
                         seq_len: int = 16, norm_first: bool = False) -> nn.Module:
    return PooledEncoder(vocab, classes, d_model, heads, layers, seq_len, norm_first)


def build_tanh_autoencoder(inputs: int = 24, hidden: int = 32, code: int = 4) -> nn.Module:
    """inputs -> hidden -> code -> hidden -> inputs, tanh between the layers, a linear reconstruction."""
    return nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, code), nn.Tanh(),
                         nn.Linear(code, hidden), nn.Tanh(), nn.Linear(hidden, inputs))


class LayerNormResMLP(nn.Module):
    """A linear stem, `blocks` pre-norm residual blocks x + W2 gelu(W1 LN(x)), a final LayerNorm and a head."""

    def __init__(self, inputs: int, width: int, blocks: int, outputs: int) -> None:
        super().__init__()
        self.stem = nn.Linear(inputs, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.GELU(),
                                                  nn.Linear(2 * width, width)) for _ in range(blocks))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(self.norm(h))


def build_layernorm_res_mlp(inputs: int = 16, width: int = 64, blocks: int = 4, outputs: int = 4) -> nn.Module:
    return LayerNormResMLP(inputs, width, blocks, outputs)


def build_stroke_cnn(channels: int = 12, classes: int = 4) -> nn.Module:
    """A CNN without normalisation for 16x16 images: conv-ReLU, max-pool, conv-ReLU, max-pool, a linear head on the
    flattened 4x4 maps."""
    c = channels
    return nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * c * 16, classes))


def build_softmax_linear(inputs: int = 32, classes: int = 10) -> nn.Module:
    """Multinomial logistic regression: one linear layer, the logits go to CrossEntropyLoss."""
    return nn.Linear(inputs, classes)


class TanhRNNReader(nn.Module):
    """A one-layer tanh RNN over (batch, seq, 1) readings, its recurrent matrix `gain` times an orthogonal one
    (gain > 1 makes the gradients through time explode); a linear head on the last state."""

    def __init__(self, hidden: int, gain: float) -> None:
        super().__init__()
        self.rnn = nn.RNN(1, hidden, batch_first=True)
        nn.init.orthogonal_(self.rnn.weight_hh_l0, gain=gain)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_tanh_rnn_reader(hidden: int = 48, gain: float = 1.0) -> nn.Module:
    return TanhRNNReader(hidden, gain)


# -- data -----------------------------------------------------------------------------------------------------

def _flip_labels(labels: torch.Tensor, classes: int, fraction: float, g: torch.Generator) -> torch.Tensor:
    """`labels` with `fraction` of them replaced by random classes: label noise, a floor under the loss."""
    random = torch.randint(0, classes, labels.shape, generator=g)
    return torch.where(torch.rand(labels.shape, generator=g) < fraction, random, labels)


def periodic_signals(n: int = 2048, length: int = 64, noise: float = 0.4, flip: float = 0.0,
                     seed: int = 0) -> Dataset:
    """(n, 1, length) signals of one of 4 shapes (the class: sine, square, sawtooth, triangle) at a random period
    (8-24 samples), phase, amplitude and offset, in Gaussian noise; `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    period = 8 + 16 * torch.rand(n, 1, generator=g)
    t = torch.arange(length).float()[None] / period + torch.rand(n, 1, generator=g)  # in cycles
    frac = t - torch.floor(t)
    shapes = torch.stack([torch.sin(2 * math.pi * t), torch.sign(frac - 0.5), 2 * frac - 1,
                          4 * (frac - 0.5).abs() - 1], dim=1)
    x = shapes[torch.arange(n), labels]
    x = (0.5 + torch.rand(n, 1, generator=g)) * x + 0.3 * torch.randn(n, 1, generator=g)
    x = x + noise * torch.randn(n, length, generator=g)
    return Dataset(x.unsqueeze(1), _flip_labels(labels, 4, flip, g))


def progression_tokens(n: int = 2048, seq_len: int = 24, vocab: int = 12, typo: float = 0.1,
                       seed: int = 0) -> Dataset:
    """Token sequences counting up modulo `vocab` from a random start by a random stride (1, 2, 3 or 5), `typo` of
    the tokens replaced by random ones; inputs are tokens 0..seq_len-2, targets tokens 1..seq_len-1 (next token)."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, vocab, (n, 1), generator=g)
    stride = torch.tensor([1, 2, 3, 5])[torch.randint(0, 4, (n, 1), generator=g)]
    ids = (start + stride * torch.arange(seq_len)[None]) % vocab
    typos = torch.randint(0, vocab, ids.shape, generator=g)
    ids = torch.where(torch.rand(ids.shape, generator=g) < typo, typos, ids)
    return Dataset(ids[:, :-1], ids[:, 1:])


def ripple_regression(n: int = 2048, inputs: int = 8, waves: int = 6, noise: float = 0.1, outliers: float = 0.0,
                      outlier_scale: float = 1.0, seed: int = 0) -> Dataset:
    """Gaussian inputs; the target is a sum of `waves` random plane waves sin(w.x + b) / sqrt(waves), plus Gaussian
    noise. A fraction `outliers` of the targets gets added Student-t (1 degree of freedom: Cauchy) noise times
    `outlier_scale` (a sensor's corrupt readings)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, waves, generator=g) / math.sqrt(inputs)
    b = 2 * math.pi * torch.rand(waves, generator=g)
    y = torch.sin(x @ w + b).sum(dim=1) / math.sqrt(waves) + noise * torch.randn(n, generator=g)
    cauchy = torch.tan(math.pi * (torch.rand(n, generator=g) - 0.5))
    y = y + torch.where(torch.rand(n, generator=g) < outliers, outlier_scale * cauchy, 0.0)
    return Dataset(x, y.unsqueeze(1))


def majority_tokens(n: int = 2048, seq_len: int = 16, vocab: int = 6, flip: float = 0.0, seed: int = 0) -> Dataset:
    """Random token sequences (each with its own skewed token frequencies); the label is the most frequent token
    (the smallest on a tie); `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.rand(n, vocab, generator=g) ** 2 + 0.05
    ids = torch.multinomial(weights, seq_len, replacement=True, generator=g)
    counts = torch.nn.functional.one_hot(ids, vocab).sum(dim=1)
    return Dataset(ids, _flip_labels(counts.argmax(dim=1), vocab, flip, g))


def manifold_points(n: int = 2048, inputs: int = 24, latent: int = 3, noise: float = 0.05,
                    seed: int = 0) -> Dataset:
    """Points on a `latent`-dimensional curved manifold in `inputs` dimensions (a random tanh map of uniform latent
    coordinates), plus Gaussian noise; the target is the input itself (an autoencoder's)."""
    g = torch.Generator().manual_seed(seed)
    z = 2 * torch.rand(n, latent, generator=g) - 1
    w1 = 1.5 * torch.randn(latent, 16, generator=g)
    w2 = torch.randn(16, inputs, generator=g) / 4
    x = torch.tanh(z @ w1) @ w2
    x = (x - x.mean(0)) / x.std(0) + noise * torch.randn(n, inputs, generator=g)
    return Dataset(x, x.clone())


def shell_classes(n: int = 2048, inputs: int = 16, classes: int = 4, flip: float = 0.0, seed: int = 0) -> Dataset:
    """Gaussian inputs classed by which of `classes` equal-mass shells their distance from the origin, after a
    random linear warp, falls in; `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    warp = torch.eye(inputs) + 0.5 * torch.randn(inputs, inputs, generator=g) / math.sqrt(inputs)
    r = (x @ warp).norm(dim=1)
    edges = torch.quantile(r, torch.linspace(0, 1, classes + 1)[1:-1])
    return Dataset(x, _flip_labels(torch.bucketize(r, edges), classes, flip, g))


def stroke_images(n: int = 1536, size: int = 16, noise: float = 0.6, flip: float = 0.0, seed: int = 0) -> Dataset:
    """size x size images of one bright stroke (the class: horizontal, vertical, diagonal or anti-diagonal) of
    random position, length and brightness, in Gaussian noise; `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    cy, cx = (4 + (size - 8) * torch.rand(2, n, 1, 1, generator=g))
    half = 2 + 3 * torch.rand(n, 1, 1, generator=g)
    dy, dx = ys[None] - cy, xs[None] - cx
    across = torch.stack([dy, dx, (dy - dx) / math.sqrt(2), (dy + dx) / math.sqrt(2)], dim=1)[torch.arange(n), labels]
    along = torch.stack([dx, dy, (dy + dx) / math.sqrt(2), (dy - dx) / math.sqrt(2)], dim=1)[torch.arange(n), labels]
    stroke = torch.exp(-across ** 2 / 0.8) * (along.abs() <= half)
    bright = 0.8 + 0.8 * torch.rand(n, 1, 1, generator=g)
    images = bright * stroke + noise * torch.randn(n, size, size, generator=g)
    return Dataset(images.unsqueeze(1), _flip_labels(labels, 4, flip, g))


def overlap_clusters(n: int = 4096, inputs: int = 32, classes: int = 10, spread: float = 1.0,
                     seed: int = 0) -> Dataset:
    """`classes` Gaussian clusters in `inputs` dimensions (unit-variance means, standard deviation `spread`):
    partly overlapping, so the best linear classifier keeps a loss floor."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, inputs, generator=g) / math.sqrt(inputs) * 3.0
    labels = torch.randint(0, classes, (n,), generator=g)
    return Dataset(means[labels] + spread * torch.randn(n, inputs, generator=g) / math.sqrt(inputs) * 3.0, labels)


def first_reading(n: int = 2048, seq_len: int = 30, noise: float = 1.0, seed: int = 0) -> Dataset:
    """(n, seq_len, 1) readings: a value in [-1, 1] first, then Gaussian noise; the target is that first value
    (a memory task: its gradient flows back through every step)."""
    g = torch.Generator().manual_seed(seed)
    first = 2 * torch.rand(n, generator=g) - 1
    x = noise * torch.randn(n, seq_len, generator=g)
    x[:, 0] = first
    return Dataset(x.unsqueeze(2), first.unsqueeze(1))


# The factories the TOMLs below name (none clashing with guard_cases, regret_cases or the other case modules):
# guard_cases.py puts these into its globals.
FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "build_conv1d_net", "build_gru_language_model", "build_dense_stack", "build_pooled_encoder",
    "build_tanh_autoencoder", "build_layernorm_res_mlp", "build_stroke_cnn", "build_softmax_linear",
    "build_tanh_rnn_reader", "periodic_signals", "progression_tokens", "ripple_regression", "majority_tokens",
    "manifold_points", "shell_classes", "stroke_images", "overlap_clusters", "first_reading")}


# -- cases ----------------------------------------------------------------------------------------------------

_CONV1D_BN = _m("build_conv1d_net", "channels = 16, classes = 4, batch_norm = true")
_CONV1D = _m("build_conv1d_net", "channels = 16, classes = 4, batch_norm = false")
_SIGNALS = _m("periodic_signals", "n = 2048, length = 64, noise = 0.4, flip = 0.05")
_GRU_LM = _m("build_gru_language_model", "vocab = 12, embed = 16, hidden = 48")
_PROGRESSIONS = _m("progression_tokens", "n = 2048, seq_len = 24, vocab = 12, typo = 0.1")
_WIDE = _m("build_dense_stack", "inputs = 8, width = 512, depth = 2, outputs = 1")
_DEEP = _m("build_dense_stack", "inputs = 16, width = 64, depth = 12, outputs = 4, he_init = true")
_RIPPLE = _m("ripple_regression", "n = 2048, inputs = 8, waves = 6, noise = 0.1")
_RIPPLE_OUTLIERS = _m("ripple_regression", "n = 2048, inputs = 8, waves = 6, noise = 0.1, outliers = 0.02, "
                      "outlier_scale = 30.0")
_ENCODER = _m("build_pooled_encoder", "vocab = 6, classes = 6, d_model = 32, heads = 4, layers = 2, seq_len = 16")
_MAJORITY = _m("majority_tokens", "n = 2048, seq_len = 16, vocab = 6, flip = 0.1")
_AE = _m("build_tanh_autoencoder", "inputs = 24, hidden = 32, code = 4")
_MANIFOLD = _m("manifold_points", "n = 2048, inputs = 24, latent = 3")
_RES_MLP = _m("build_layernorm_res_mlp", "inputs = 8, width = 64, blocks = 4, outputs = 4")
_SHELLS = _m("shell_classes", "n = 2048, inputs = 8, classes = 4, flip = 0.05")
_SHELLS_CLEAN = _m("shell_classes", "n = 2048, inputs = 16, classes = 4")
_STROKE_CNN = _m("build_stroke_cnn", "channels = 12, classes = 4")
_STROKES = _m("stroke_images", "n = 1536, size = 16, noise = 0.3, flip = 0.05")
_SOFTMAX = _m("build_softmax_linear", "inputs = 32, classes = 10")
_CLUSTERS = _m("overlap_clusters", "n = 4096, inputs = 32, classes = 10")
_RNN = _m("build_tanh_rnn_reader", "hidden = 48, gain = 1.5")
_FIRST = _m("first_reading", "n = 2048, seq_len = 30")
_CE, _MSE = "CrossEntropyLoss", "MSELoss"

# (case, kind): the split of every one is "held-out-8"
SPECS: list[tuple[Case, str]] = [
    # -- healthy
    (_case("b8_conv1d_bn_sgd_mom", "cnn", "1D CNN with BatchNorm classifying waveform shapes (5% of labels "
           "flipped), SGD lr 0.05 momentum 0.9", _CONV1D_BN, _SIGNALS, 32, _CE,
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200, 801), "healthy"),
    (_case("b8_gru_lm_adam", "recurrent", "GRU language model on modular counting sequences with 10% typos, Adam "
           "lr 3e-3", _GRU_LM, _PROGRESSIONS, 32, _CE, 'name = "Adam"\nlr = 3e-3', 200, 802), "healthy"),
    (_case("b8_wide_mlp_sgd_edge", "feed-forward", "wide shallow ReLU MLP (512 units) regressing a sum of plane "
           "waves, plain SGD lr 0.02 (near its edge: lr 0.04 spikes)", _WIDE, _RIPPLE, 64, _MSE,
           'name = "SGD"\nlr = 0.02', 250, 803), "healthy"),
    (_case("b8_encoder_adamw_b8", "transformer", "post-norm transformer encoder naming a sequence's majority token "
           "(10% of labels flipped), AdamW lr 1e-3, batch 8", _ENCODER, _MAJORITY, 8, _CE,
           'name = "AdamW"\nlr = 1e-3\nweight_decay = 0.01', 250, 804), "healthy"),
    (_case("b8_tanh_ae_rmsprop", "autoencoder", "tanh autoencoder (code 4) on points of a 3-d manifold in 24-d, "
           "RMSprop lr 2e-3", _AE, _MANIFOLD, 64, _MSE, 'name = "RMSprop"\nlr = 2e-3', 250, 805), "healthy"),
    (_case("b8_ln_resmlp_nesterov", "feed-forward", "residual MLP with LayerNorm classifying warped shells (5% "
           "flipped), SGD lr 0.01 Nesterov momentum 0.9", _RES_MLP, _SHELLS, 64, _CE,
           'name = "SGD"\nlr = 0.01\nmomentum = 0.9\nnesterov = true', 200, 806), "healthy"),
    (_case("b8_stroke_cnn_adagrad", "cnn", "CNN without BatchNorm classifying stroke directions (5% flipped), "
           "Adagrad lr 0.01", _STROKE_CNN, _STROKES, 32, _CE, 'name = "Adagrad"\nlr = 0.01', 200, 807), "healthy"),
    (_case("b8_softmax_sgd_large_lr", "linear", "linear softmax classifier on overlapping clusters, plain SGD lr 2 "
           "(large, still converges)", _SOFTMAX, _CLUSTERS, 64, _CE, 'name = "SGD"\nlr = 2.0', 200, 808), "healthy"),
    # -- unstable
    (_case("b8_wide_mlp_sgd_high_lr", "feed-forward", "wide shallow ReLU MLP (512 units) regressing plane waves, "
           "plain SGD lr 1 (past its edge)", _WIDE, _RIPPLE, 64, _MSE, 'name = "SGD"\nlr = 1.0', 200, 811),
     "unstable"),
    (_case("b8_rnn_recall_exploding", "recurrent", "tanh RNN (recurrent gain 1.5) recalling a sequence's "
           "first reading, SGD lr 0.05 momentum 0.9: exploding gradients", _RNN, _FIRST, 32, _MSE,
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200, 812), "unstable"),
    (_case("b8_wide_mlp_cauchy_sgd", "feed-forward", "wide shallow ReLU MLP regressing plane waves with 2% "
           "Cauchy outliers (x30), plain SGD lr 0.05", _WIDE, _RIPPLE_OUTLIERS, 32, _MSE,
           'name = "SGD"\nlr = 0.05', 250, 813), "unstable"),
    (_case("b8_deep_mlp_sgd_high_lr", "feed-forward", "12-layer plain He-init ReLU MLP (no norm) classifying "
           "shells, "
           "SGD lr 0.1 momentum 0.9", _DEEP, _SHELLS_CLEAN, 64, _CE, 'name = "SGD"\nlr = 0.1\nmomentum = 0.9', 200,
           814), "unstable"),
    (_case("b8_encoder_sgd_high_lr", "transformer", "post-norm transformer encoder naming the majority token, "
           "SGD lr 0.5 momentum 0.9 (too high)", _ENCODER, _MAJORITY, 32, _CE,
           'name = "SGD"\nlr = 0.5\nmomentum = 0.9', 200, 815), "unstable"),
    (_case("b8_conv1d_sgd_mom_high_lr", "cnn", "1D CNN without BatchNorm classifying waveform shapes, SGD lr 0.8 "
           "momentum 0.9 (too high)", _CONV1D, _SIGNALS, 32, _CE, 'name = "SGD"\nlr = 0.8\nmomentum = 0.9', 200,
           816), "unstable"),
]

SPLIT = "held-out-8"
__getattr__ = lazy_cases("BLIND8", SPECS, SPLIT)  # PEP 562: BLIND8 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(check_labels(SPECS, sys.modules[__name__], SPLIT))
