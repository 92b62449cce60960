"""A tenth held-out split for `benchmarks/guard_regret.py` ("held-out-10"): 12 healthy runs a guard left on must
not move, one or more of every family and common optimizer (MLPs with SiLU, tanh, GELU and ReLU; CNNs with
BatchNorm, with GroupNorm and a small BatchNorm ResNet; an LSTM and a GRU; pre-norm and post-norm causal
transformers; an autoencoder; plain SGD, SGD momentum, Nesterov, Adam, AdamW, RMSprop, Adagrad, NAdam, RAdam), with
starts that look rough but are normal (an LSTM on Adam whose gradient norm jumps 7x and loss rises 1.24x in its
first steps; an autoencoder and a heavy-tailed regression on RAdam whose losses rise 1.4x and 2x before they fall;
a small-init tanh MLP on plain SGD flat for ~100 steps), small batches (8) with noisy losses, label noise (5-15%),
Student-t target noise, and raw-unit regression targets with gradient norms in the thousands; and 7 unstable runs
a fixed clip rescues (a tanh RNN and a pre-norm transformer on SGD momentum that turn non-finite, an LSTM on SGD
momentum that spikes again and again, a GELU MLP on Adam thrown by batches holding a corrupted target, a CNN on
Adagrad whose step sizes one batch of x50 sensor-fault images freezes, an oversized ReLU init killed in its first
steps, a ResNet at a too-high SGD learning rate that never settles).

Written blind to the guard (its code, its tests, its README sections and its earlier scores were not read),
labelled from the plain torch loop of benchmarks/recommend_regret.py alone (unclipped run and the 13-point
threshold grid, fresh_labels.verify's rules). No case has a [schedule]: guard_regret.py's method loop steps no
scheduler, so a scheduled case would score the methods on a different run than its unclipped one.

Same form as guard_cases_blind4.py, with its own models and data: every factory the TOMLs name is in `FACTORIES`,
which guard_cases.py adds to its own namespace; `BLIND10` is built on first access (fresh_labels.lazy_cases).
Seeds 1001-1012 (healthy) and 1021-1027 (unstable).

    .venv/bin/python benchmarks/guard_cases_blind5.py [--cases a,b] [-v]   # verify every label, print the table

Labels as verified (plain loop, one torch thread on a busy 2-core machine), unclipped / first loss -> the grid's
best (at clip):
  healthy (end at 0.07-0.52x their first loss; the grid's best beats them by at most 2.3%)
    h10_silu_mlp_nadam_label_noise     0.632 / 1.375 -> 0.632 (3.16; no clip beats it)
    h10_bn_cnn_nesterov_small_batch    0.480 / 1.361 -> 0.480 (10; every active clip is worse, by 8% or more)
    h10_gn_cnn_adamw                   0.502 / 1.394 -> 0.490 (0.316), 2.3%
    h10_tanh_mlp_sgd_slow_start        0.719 / 1.386 -> 0.719 (1)
    h10_lstm_counts_adam_transient     0.327 / 1.451 -> 0.322 (0.0316), 1.5%
    h10_gru_majority_rmsprop           0.224 / 1.091 -> 0.224 (10)
    h10_prenorm_tx_adamw               0.273 / 2.213 -> 0.269 (0.316), 1.4%
    h10_postnorm_tx_adagrad            0.291 / 2.211 -> 0.286 (0.316), 1.7%
    h10_tanh_ae_radam                  0.239 / 1.111 -> 0.239 (0.316), 0.0%
    h10_resnet_sgd_mom                 0.467 / 1.469 -> 0.458 (0.316), 2.0%
    h10_gelu_mlp_radam_heavy_tail      0.499 / 1.246 -> 0.496 (0.316), 0.5%
    h10_relu_mlp_big_targets_adam      6054 / 89870 -> 6074 (0.00316; every clip is worse)
  unstable (the grid's best beats min(unclipped, first loss) by 57-100% of it)
    h10_rnn_copy_sgd_mom               non-finite at step 48 / 1.015 -> 0.133 (0.1)
    h10_lstm_counts_sgd_mom_spiky      0.546 / 1.036 -> 0.095 (0.1)
    h10_gelu_mlp_adam_bad_records      9.53 / 1.492 -> 0.057 (0.316)
    h10_cnn_adagrad_sensor_faults      1.385 / 1.437 -> 0.589 (0.0316)
    h10_relu_mlp_big_init_sgd_mom      1.387 / 7.786 -> 0.568 (3.16)
    h10_prenorm_tx_sgd_mom_high_lr     non-finite at step 9 / 2.314 -> 0.011 (0.01)
    h10_resnet_sgd_mom_too_high        0.720 / 1.430 -> 0.189 (0.01)
Unclipped runs take 0.1-2.7 s on one busy thread.

Changed while writing (healthy runs that a clip beat by more than 2-5%, mostly runs still learning fast at their
end, where any nearby trajectory ends 5-15% apart): the bar images' noise 0.6 -> 0.3 (at 0.6 the GroupNorm CNN did
not leave chance in 200 steps); the slow-start tanh MLP from half the default init at depth 6 (never left chance)
to 0.7 of it, on classes nearer a linear rule (`linear` 2); the batch-8 BatchNorm CNN's Nesterov lr 0.05 -> 0.02
(clip 0.316 beat it by 18%); the GroupNorm CNN from AdamW lr 3e-3 at noise 0.3 and 5% flips (flat ~90 steps, still
falling at its end: clip 0.316 beat it by 13%) to lr 1e-2 at noise 0.15, 15% flips and 250 steps; the LSTM from
Adam on 24-step noiseless counts (clip 0.1 beat it by 25%; NAdam by 20-23%) to 12 steps with target noise 0.5; the
autoencoder from Adagrad (lr 0.01-0.2: the big first gradients fill its accumulator, and every clip below 1 beat
it by 2-28%) to RAdam lr 1e-2; Adagrad to the post-norm transformer at lr 0.02 (on it lr 0.05 lost 2.7%; on the
GRU and the heavy-tailed regression 2-18%), whose NAdam went to the SiLU MLP (replacing Adam lr 1e-2, which a clip
beat by 2.4%; NAdam lr 5e-3 by 3%); the ResNet from SGD lr 0.2 momentum 0.9 (meant as a large learning rate near
the edge: clip 0.1 beat it by 7%; at lr 0.1 or 0.05, with 5-15% flips or batch 64, by 3-10%) to lr 0.1 with
weight decay 5e-3, which ends its dependence on the early weight growth; the heavy-tailed regression from
Student-t 3 dof, noise 0.3 (clip <= 1 beat it by 2%; Adam lr 1e-3-2e-3 by 3-12%) to 4 dof, noise 0.2; the
raw-unit targets from offset 500 (the biases could not reach it in 250 Adam steps: still falling, and clip 1e-3
beat it by 21%) to offset 50 with noise 0.3. Unstable: the oversized init from 2.5-3x (it learned; a clip gained
15%) to 4x.

Could not make: a healthy run at a learning rate near the edge (the ResNet at lr 0.2, the batch-8 CNN at lr 0.05,
the pre-norm transformer on AdamW at 1e-2 to 2e-2: a clip beat each by 3-18%); a healthy run with tiny gradient
norms (the autoencoder on inputs x0.01 under Adagrad learnt only the mean, and clip 0.01 beat it by 44%).
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
_ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}


# -- models ---------------------------------------------------------------------------------------------------

def build_plain_mlp(inputs: int = 8, width: int = 64, depth: int = 3, outputs: int = 1, activation: str = "relu",
                    gain: float = 1.0) -> nn.Module:
    """`depth - 1` Linear+activation layers of `width`, then a linear head; PyTorch's default init with every
    hidden weight times `gain` (above 1: an oversized init, below 1: a small one whose signal fades)."""
    layers: list[nn.Module] = []
    n_in = inputs
    for _ in range(depth - 1):
        linear = nn.Linear(n_in, width)
        with torch.no_grad():
            linear.weight.mul_(gain)
        layers += [linear, _ACTS[activation]()]
        n_in = width
    layers.append(nn.Linear(n_in, outputs))
    return nn.Sequential(*layers)


def _norm2d(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "group":
        return nn.GroupNorm(4, channels)
    return nn.Identity()


def build_bar_cnn(channels: int = 8, classes: int = 4, norm: str = "none", size: int = 12,
                  activation: str = "relu") -> nn.Module:
    """A CNN for (batch, 1, size, size) images: conv-norm-act, maxpool, conv-norm-act, maxpool, then a global
    average pool and a linear head. `norm`: "none", "batch" or "group" (4 groups)."""
    c = channels
    bias = norm == "none"
    act = _ACTS[activation]
    return nn.Sequential(nn.Conv2d(1, c, 3, padding=1, bias=bias), _norm2d(norm, c), act(), nn.MaxPool2d(2),
                         nn.Conv2d(c, 2 * c, 3, padding=1, bias=bias), _norm2d(norm, 2 * c), act(), nn.MaxPool2d(2),
                         nn.Conv2d(2 * c, 2 * c, 3, padding=1, bias=bias), _norm2d(norm, 2 * c), act(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * c, classes))


class _ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


class TinyResNet(nn.Module):
    """A small ResNet: a conv-BN-ReLU stem, `blocks` basic residual blocks (two 3x3 conv-BN each, identity
    shortcut) with a stride-2 conv between the halves, global average pool, linear head."""

    def __init__(self, channels: int, classes: int, blocks: int) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        half = max(1, blocks // 2)
        self.stage1 = nn.Sequential(*[_ResBlock(c) for _ in range(half)])
        self.down = nn.Sequential(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * c),
                                  nn.ReLU())
        self.stage2 = nn.Sequential(*[_ResBlock(2 * c) for _ in range(blocks - half)])
        self.head = nn.Linear(2 * c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.head(h.mean(dim=(2, 3)))


def build_tiny_resnet(channels: int = 8, classes: int = 4, blocks: int = 2) -> nn.Module:
    return TinyResNet(channels, classes, blocks)


class RecurrentHead(nn.Module):
    """A one-layer recurrent net (tanh RNN, LSTM or GRU) over (batch, seq, inputs) and a linear head on its last
    state; `recurrent_gain` != 1 sets the hidden-to-hidden weights orthogonal times the gain (per gate)."""

    def __init__(self, cell: str, inputs: int, hidden: int, outputs: int, recurrent_gain: float) -> None:
        super().__init__()
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](inputs, hidden, batch_first=True)
        if recurrent_gain != 1.0:
            with torch.no_grad():
                for block in self.rnn.weight_hh_l0.split(hidden, 0):
                    nn.init.orthogonal_(block)
                    block.mul_(recurrent_gain)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_recurrent_head(cell: str = "lstm", inputs: int = 1, hidden: int = 32, outputs: int = 1,
                         recurrent_gain: float = 1.0) -> nn.Module:
    return RecurrentHead(cell, inputs, hidden, outputs, recurrent_gain)


class CausalTokenNet(nn.Module):
    """Token embeddings plus sinusoidal positions, a causal `torch.nn.TransformerEncoder` (no dropout, GELU
    feed-forward of 4x width), per-token logits shaped (batch, vocab, seq); pre-norm (with a final LayerNorm) or
    post-norm."""

    def __init__(self, vocab: int, d_model: int, heads: int, layers: int, seq_len: int, norm_first: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        pos = torch.arange(seq_len).float()[:, None]
        freq = torch.exp(-math.log(100.0) * torch.arange(0, d_model, 2).float() / d_model)
        table = torch.zeros(seq_len, d_model)
        table[:, 0::2], table[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
        self.register_buffer("positions", table, persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model) if norm_first else None,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(seq_len), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.encoder(self.embed(ids) + self.positions[:t], mask=self.causal[:t, :t], is_causal=True)
        return self.head(h).transpose(1, 2)


def build_causal_token_net(vocab: int = 8, d_model: int = 32, heads: int = 4, layers: int = 2, seq_len: int = 16,
                           norm_first: bool = True) -> nn.Module:
    return CausalTokenNet(vocab, d_model, heads, layers, seq_len, norm_first)


def build_autoencoder(inputs: int = 24, hidden: int = 48, code: int = 4, activation: str = "tanh") -> nn.Module:
    """inputs -> hidden -> code -> hidden -> inputs with `activation` after both hidden layers."""
    act = _ACTS[activation]
    return nn.Sequential(nn.Linear(inputs, hidden), act(), nn.Linear(hidden, code),
                         nn.Linear(code, hidden), act(), nn.Linear(hidden, inputs))


# -- data -----------------------------------------------------------------------------------------------------

def _flip(labels: torch.Tensor, classes: int, fraction: float, g: torch.Generator) -> torch.Tensor:
    """`labels` with `fraction` of them replaced by random classes (label noise)."""
    if fraction <= 0:
        return labels
    random = torch.randint(0, classes, labels.shape, generator=g)
    return torch.where(torch.rand(labels.shape, generator=g) < fraction, random, labels)


def oriented_bars(n: int = 2048, size: int = 12, noise: float = 0.6, flip: float = 0.0, corrupt: float = 0.0,
                  corrupt_scale: float = 50.0, seed: int = 0) -> Dataset:
    """size x size images of one bright bar (random position, length and brightness) whose orientation is the
    class (horizontal, vertical, diagonal, anti-diagonal), in Gaussian noise; `flip` of the labels replaced by
    random ones; `corrupt` of the images multiplied by `corrupt_scale` (a sensor fault: rare huge inputs)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    cy = size / 2 + (size / 4) * (2 * torch.rand(n, generator=g) - 1)
    cx = size / 2 + (size / 4) * (2 * torch.rand(n, generator=g) - 1)
    angle = labels.float() * (math.pi / 4) + 0.15 * torch.randn(n, generator=g)
    angle = torch.where(labels == 1, torch.full_like(angle, math.pi / 2), angle)
    angle = torch.where(labels == 2, math.pi / 4 + 0.15 * torch.randn(n, generator=g), angle)
    angle = torch.where(labels == 3, 3 * math.pi / 4 + 0.15 * torch.randn(n, generator=g), angle)
    dy, dx = ys[None] - cy[:, None, None], xs[None] - cx[:, None, None]
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    along, across = dx * c + dy * s, -dx * s + dy * c
    length = 2.0 + 2.0 * torch.rand(n, generator=g)
    bright = 0.7 + 0.8 * torch.rand(n, generator=g)
    bar = bright[:, None, None] * torch.exp(-across ** 2 / 0.8) * torch.sigmoid(3 * (length[:, None, None]
                                                                                     - along.abs()))
    images = bar + noise * torch.randn(n, size, size, generator=g)
    if corrupt > 0:
        bad = torch.rand(n, generator=g) < corrupt
        images[bad] *= corrupt_scale
    return Dataset(images.unsqueeze(1), _flip(labels, 4, flip, g))


def ring_sectors(n: int = 4096, inputs: int = 10, classes: int = 4, linear: float = 0.5, flip: float = 0.0,
                 seed: int = 0) -> Dataset:
    """Gaussian inputs; the class is a quadrant of two features, each a random quadratic form plus `linear` times
    a coordinate (above or below their medians): a nonlinear rule, nearer a linear one as `linear` grows; `flip`
    of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    a = torch.randn(inputs, inputs, generator=g) / inputs
    b = torch.randn(inputs, inputs, generator=g) / inputs
    qa = ((x @ a) * x).sum(1) + linear * x[:, 0]
    qb = ((x @ b) * x).sum(1) + linear * x[:, 1]
    labels = 2 * (qa > qa.median()).long() + (qb > qb.median()).long()
    return Dataset(x, _flip(labels % classes, classes, flip, g))


def raw_units_regression(n: int = 2048, inputs: int = 8, scale: float = 1.0, offset: float = 0.0,
                         noise: float = 0.1, tail_df: float = 0.0, outliers: float = 0.0,
                         outlier_scale: float = 100.0, seed: int = 0) -> Dataset:
    """Gaussian inputs; target = (a linear map plus a sine ridge plus a product term plus noise) times `scale`
    plus `offset`. The noise is Gaussian, or Student-t with `tail_df` degrees of freedom when it is > 0
    (heavy-tailed); `outliers` of the targets are multiplied by `outlier_scale` (corrupted records: the batches
    holding one carry a huge gradient)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    v = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    eps = torch.randn(n, generator=g)
    if tail_df > 0:
        chi2 = (torch.randn(n, int(tail_df), generator=g) ** 2).sum(1)
        eps = eps / torch.sqrt(chi2 / tail_df)
    y = x @ w + torch.sin(2 * (x @ v)) + 0.3 * x[:, 0] * x[:, 1] + noise * eps
    if outliers > 0:
        bad = torch.rand(n, generator=g) < outliers
        y = torch.where(bad, y * outlier_scale, y)
    return Dataset(x, (scale * y + offset).unsqueeze(1))


def bit_counts(n: int = 2048, seq_len: int = 24, noise: float = 0.0, seed: int = 0) -> Dataset:
    """(n, seq_len, 2) sequences: channel 0 random bits, channel 1 a random +-1 weight; the target is the
    weighted count of set bits, scaled to unit variance (an integrator), plus Gaussian `noise` (a loss floor)."""
    g = torch.Generator().manual_seed(seed)
    bits = (torch.rand(n, seq_len, generator=g) < 0.5).float()
    sign = torch.where(torch.rand(n, seq_len, generator=g) < 0.7, 1.0, -1.0)
    y = (bits * sign).sum(1)
    y = (y - y.mean()) / y.std() + noise * torch.randn(n, generator=g)
    return Dataset(torch.stack([bits, sign], dim=2), y.unsqueeze(1))


def majority_symbol(n: int = 2048, seq_len: int = 16, symbols: int = 3, flip: float = 0.0, seed: int = 0) -> Dataset:
    """(n, seq_len, symbols) one-hot sequences drawn with a random per-sequence bias; the class is the symbol
    seen most often; `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    bias = torch.softmax(1.5 * torch.randn(n, symbols, generator=g), dim=1)
    ids = torch.multinomial(bias, seq_len, replacement=True, generator=g)
    x = nn.functional.one_hot(ids, symbols).float()
    counts = x.sum(1) + 1e-3 * torch.rand(n, symbols, generator=g)
    return Dataset(x, _flip(counts.argmax(1), symbols, flip, g))


def delayed_copy(n: int = 1024, seq_len: int = 40, delay: int = 15, seed: int = 0) -> Dataset:
    """Gaussian inputs (one channel) and a constant second channel; the target is the input `delay` steps before
    the end, plus a tenth of the last one."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, seq_len, generator=g)
    y = x[:, -1 - delay] + 0.1 * x[:, -1]
    return Dataset(torch.stack([x, torch.ones_like(x)], dim=2), y.unsqueeze(1))


def running_max_tokens(n: int = 2048, seq_len: int = 16, vocab: int = 8, typo: float = 0.0,
                       seed: int = 0) -> Dataset:
    """Random token sequences; the target at each position is the larger of the token there and the one before
    it (the first: itself); `typo` of the targets replaced by random tokens."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (n, seq_len), generator=g)
    prev = torch.cat([ids[:, :1], ids[:, :-1]], dim=1)
    return Dataset(ids, _flip(torch.maximum(ids, prev), vocab, typo, g))


def sparse_mixtures(n: int = 2048, inputs: int = 24, atoms: int = 8, active: int = 2, scale: float = 1.0,
                    noise: float = 0.05, seed: int = 0) -> Dataset:
    """Inputs that are sums of `active` of `atoms` random smooth patterns with random signed weights, plus noise,
    times `scale`; the target is the input (an autoencoder's)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, inputs)
    freq = 1 + 4 * torch.rand(atoms, 1, generator=g)
    phase = 2 * math.pi * torch.rand(atoms, 1, generator=g)
    patterns = torch.sin(2 * math.pi * freq * t + phase)
    pick = torch.rand(n, atoms, generator=g).argsort(1)[:, :active]
    weights = torch.zeros(n, atoms)
    weights.scatter_(1, pick, torch.randn(n, active, generator=g))
    x = scale * (weights @ patterns + noise * torch.randn(n, inputs, generator=g))
    return Dataset(x, x.clone())


# The factories the TOMLs below name (none clashing with guard_cases, regret_cases or the other case modules):
# guard_cases.py puts these into its globals.
FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "build_plain_mlp", "build_bar_cnn", "build_tiny_resnet", "build_recurrent_head", "build_causal_token_net",
    "build_autoencoder", "oriented_bars", "ring_sectors", "raw_units_regression", "bit_counts", "majority_symbol",
    "delayed_copy", "running_max_tokens", "sparse_mixtures")}


# -- cases ----------------------------------------------------------------------------------------------------

_CE, _MSE = "CrossEntropyLoss", "MSELoss"

# (case, kind): the split of every one is "held-out-10"
SPECS: list[tuple[Case, str]] = [
    # -- healthy
    (_case("h10_silu_mlp_nadam_label_noise", "feed-forward", "5-layer SiLU MLP classifying by two quadratic "
           "features (10% of labels flipped), NAdam lr 3e-3",
           _m("build_plain_mlp", 'inputs = 10, width = 64, depth = 5, outputs = 4, activation = "silu"'),
           _m("ring_sectors", "n = 4096, inputs = 10, classes = 4, flip = 0.1"), 64, _CE,
           'name = "NAdam"\nlr = 3e-3', 250, 1001), "healthy"),
    (_case("h10_bn_cnn_nesterov_small_batch", "cnn", "CNN with BatchNorm on bar orientations (10% flipped), SGD "
           "lr 0.02 Nesterov momentum 0.9, batch 8: noisy losses",
           _m("build_bar_cnn", 'channels = 8, classes = 4, norm = "batch"'),
           _m("oriented_bars", "n = 2048, size = 12, noise = 0.3, flip = 0.1"), 8, _CE,
           'name = "SGD"\nlr = 0.02\nmomentum = 0.9\nnesterov = true', 250, 1002), "healthy"),
    (_case("h10_gn_cnn_adamw", "cnn", "CNN with GroupNorm on bar orientations (15% flipped), AdamW "
           "lr 1e-2",
           _m("build_bar_cnn", 'channels = 8, classes = 4, norm = "group"'),
           _m("oriented_bars", "n = 2048, size = 12, noise = 0.15, flip = 0.15"), 32, _CE,
           'name = "AdamW"\nlr = 1e-2\nweight_decay = 0.05', 250, 1003), "healthy"),
    (_case("h10_tanh_mlp_sgd_slow_start", "feed-forward", "6-layer tanh MLP at 0.7x the default init (signal "
           "fades) classifying by quadratic features, plain SGD lr 0.1: flat for many steps",
           _m("build_plain_mlp", 'inputs = 10, width = 64, depth = 6, outputs = 4, activation = "tanh", '
              'gain = 0.7'),
           _m("ring_sectors", "n = 4096, inputs = 10, classes = 4, linear = 2.0, flip = 0.05"), 64, _CE,
           'name = "SGD"\nlr = 0.1', 250, 1004), "healthy"),
    (_case("h10_lstm_counts_adam_transient", "recurrent", "LSTM integrating a noisy weighted bit count, Adam "
           "lr 3e-3: early gradient-norm jump (7x) and loss rise (1.24x) before it learns",
           _m("build_recurrent_head", 'cell = "lstm", inputs = 2, hidden = 32, outputs = 1'),
           _m("bit_counts", "n = 2048, seq_len = 12, noise = 0.5"), 32, _MSE, 'name = "Adam"\nlr = 3e-3', 250,
           1005),
     "healthy"),
    (_case("h10_gru_majority_rmsprop", "recurrent", "GRU naming a sequence's most frequent symbol (5% flipped), "
           "RMSprop lr 2e-3",
           _m("build_recurrent_head", 'cell = "gru", inputs = 3, hidden = 32, outputs = 3'),
           _m("majority_symbol", "n = 2048, seq_len = 16, symbols = 3, flip = 0.05"), 32, _CE,
           'name = "RMSprop"\nlr = 2e-3', 250, 1006), "healthy"),
    (_case("h10_prenorm_tx_adamw", "transformer", "pre-norm causal transformer emitting max(token, previous "
           "token) (5% typos), AdamW lr 3e-3",
           _m("build_causal_token_net", "vocab = 8, d_model = 32, heads = 4, layers = 2, seq_len = 16, "
              "norm_first = true"),
           _m("running_max_tokens", "n = 2048, seq_len = 16, vocab = 8, typo = 0.05"), 32, _CE,
           'name = "AdamW"\nlr = 3e-3\nweight_decay = 0.01', 200, 1007), "healthy"),
    (_case("h10_postnorm_tx_adagrad", "transformer", "post-norm causal transformer emitting max(token, "
           "previous token) (5% typos), Adagrad lr 0.02",
           _m("build_causal_token_net", "vocab = 8, d_model = 32, heads = 4, layers = 2, seq_len = 16, "
              "norm_first = false"),
           _m("running_max_tokens", "n = 2048, seq_len = 16, vocab = 8, typo = 0.05"), 32, _CE,
           'name = "Adagrad"\nlr = 0.02', 200, 1008), "healthy"),
    (_case("h10_tanh_ae_radam", "autoencoder", "tanh autoencoder (code 4) on sparse mixtures of smooth "
           "patterns, RAdam lr 1e-2: the loss rises for the first steps, then falls",
           _m("build_autoencoder", 'inputs = 24, hidden = 48, code = 4, activation = "tanh"'),
           _m("sparse_mixtures", "n = 2048, inputs = 24, atoms = 8, active = 2"), 32, _MSE,
           'name = "RAdam"\nlr = 1e-2', 250, 1009), "healthy"),
    (_case("h10_resnet_sgd_mom", "cnn", "small ResNet (BatchNorm, 2 blocks) on bar orientations (5% flipped), "
           "SGD lr 0.1 momentum 0.9 weight decay 5e-3",
           _m("build_tiny_resnet", "channels = 8, classes = 4, blocks = 2"),
           _m("oriented_bars", "n = 2048, size = 12, noise = 0.3, flip = 0.05"), 32, _CE,
           'name = "SGD"\nlr = 0.1\nmomentum = 0.9\nweight_decay = 5e-3', 200, 1010), "healthy"),
    (_case("h10_gelu_mlp_radam_heavy_tail", "feed-forward", "GELU MLP regressing a target with Student-t (4 dof) "
           "noise, RAdam lr 3e-3: heavy-tailed but harmless; the loss doubles over the first steps, then falls",
           _m("build_plain_mlp", 'inputs = 8, width = 64, depth = 3, outputs = 1, activation = "gelu"'),
           _m("raw_units_regression", "n = 2048, inputs = 8, noise = 0.2, tail_df = 4.0"), 32, _MSE,
           'name = "RAdam"\nlr = 3e-3', 250, 1011), "healthy"),
    (_case("h10_relu_mlp_big_targets_adam", "feed-forward", "ReLU MLP regressing raw-unit targets (x200, offset "
           "50: gradient norms in the thousands), Adam lr 3e-2",
           _m("build_plain_mlp", 'inputs = 8, width = 64, depth = 3, outputs = 1, activation = "relu"'),
           _m("raw_units_regression", "n = 2048, inputs = 8, scale = 200.0, offset = 50.0, noise = 0.3"), 64,
           _MSE, 'name = "Adam"\nlr = 3e-2', 250, 1012), "healthy"),
    # -- unstable
    (_case("h10_rnn_copy_sgd_mom", "recurrent", "tanh RNN (recurrent gain 1.4) recalling an input 15 steps back, "
           "SGD lr 0.1 momentum 0.9: explodes",
           _m("build_recurrent_head", 'cell = "rnn", inputs = 2, hidden = 32, outputs = 1, recurrent_gain = 1.4'),
           _m("delayed_copy", "n = 1024, seq_len = 40, delay = 15"), 32, _MSE,
           'name = "SGD"\nlr = 0.1\nmomentum = 0.9', 200, 1021), "unstable"),
    (_case("h10_lstm_counts_sgd_mom_spiky", "recurrent", "LSTM integrating a weighted bit count, SGD lr "
           "0.5 momentum 0.9: its loss spikes again and again and never settles",
           _m("build_recurrent_head", 'cell = "lstm", inputs = 2, hidden = 32, outputs = 1'),
           _m("bit_counts", "n = 2048, seq_len = 24"), 32, _MSE, 'name = "SGD"\nlr = 0.5\nmomentum = 0.9', 200,
           1022), "unstable"),
    (_case("h10_gelu_mlp_adam_bad_records", "feed-forward", "GELU MLP regression with 0.5% of targets corrupted "
           "(x300), Adam lr 1e-2: each bad batch throws the weights",
           _m("build_plain_mlp", 'inputs = 8, width = 64, depth = 3, outputs = 1, activation = "gelu"'),
           _m("raw_units_regression", "n = 2048, inputs = 8, noise = 0.1, outliers = 0.005, outlier_scale = 300.0"),
           32, _MSE, 'name = "Adam"\nlr = 1e-2', 250, 1023), "unstable"),
    (_case("h10_cnn_adagrad_sensor_faults", "cnn", "CNN without norm on bar orientations with 1% of images x50 "
           "(sensor faults), Adagrad lr 0.05: a faulty batch's gradient freezes the step sizes",
           _m("build_bar_cnn", 'channels = 8, classes = 4, norm = "none"'),
           _m("oriented_bars", "n = 2048, size = 12, noise = 0.3, corrupt = 0.01, corrupt_scale = 50.0"), 32, _CE,
           'name = "Adagrad"\nlr = 0.05', 200, 1024), "unstable"),
    (_case("h10_relu_mlp_big_init_sgd_mom", "feed-forward", "6-layer ReLU MLP at 4x the default init (first loss "
           "~8), SGD lr 0.05 momentum 0.9: the first steps kill it, at chance from then on",
           _m("build_plain_mlp", 'inputs = 10, width = 64, depth = 6, outputs = 4, activation = "relu", '
              'gain = 4.0'),
           _m("ring_sectors", "n = 4096, inputs = 10, classes = 4"), 64, _CE,
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200, 1025), "unstable"),
    (_case("h10_prenorm_tx_sgd_mom_high_lr", "transformer", "pre-norm causal transformer emitting max(token, "
           "previous token), SGD lr 3 momentum 0.9: too high",
           _m("build_causal_token_net", "vocab = 8, d_model = 32, heads = 4, layers = 2, seq_len = 16, "
              "norm_first = true"),
           _m("running_max_tokens", "n = 2048, seq_len = 16, vocab = 8"), 32, _CE,
           'name = "SGD"\nlr = 3.0\nmomentum = 0.9', 200, 1026), "unstable"),
    (_case("h10_resnet_sgd_mom_too_high", "cnn", "small ResNet on bar orientations, SGD lr 2 momentum 0.9: too "
           "high, stalls",
           _m("build_tiny_resnet", "channels = 8, classes = 4, blocks = 2"),
           _m("oriented_bars", "n = 2048, size = 12, noise = 0.3"), 32, _CE,
           'name = "SGD"\nlr = 2.0\nmomentum = 0.9', 200, 1027), "unstable"),
]

SPLIT = "held-out-10"
__getattr__ = lazy_cases("BLIND10", SPECS, SPLIT)  # PEP 562: BLIND10 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(check_labels(SPECS, sys.modules[__name__], SPLIT))
