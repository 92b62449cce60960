"""A seventh held-out split for `benchmarks/guard_regret.py` ("held-out-7"): 10 healthy runs a guard left on must
not move (a deep He-initialised ReLU MLP, a CNN with and one without BatchNorm, GRU and LSTM regressors, a post-norm
and a pre-norm transformer encoder; plain SGD, SGD with momentum, Adam, AdamW; small batches and learning rates
near the edge of stability among them) and 6 unstable runs a clip saves (too-high learning rates on SGD, a deep
tanh RNN whose gradients explode, a transformer at a high learning rate with no warm-up, a CNN thrown by rare
over-exposed frames).

Written blind to the guard (its code, its tests, its README sections and its earlier scores were not read),
labelled from the plain torch loop of benchmarks/recommend_regret.py alone (unclipped run and the 13-point
threshold grid, fresh_labels.verify's rules).

No case has a [schedule]: guard_regret.py's method loop steps no scheduler, so a scheduled case would score the
methods on a different run than its unclipped one.

Same form as guard_cases_blind.py: every factory the TOMLs name is in `FACTORIES`, which guard_cases.py adds to
its own namespace; `BLIND7` is built on first access (fresh_labels.lazy_cases).

    .venv/bin/python benchmarks/guard_cases_blind2.py [--cases a,b] [-v]   # verify every label, print the table

Labels as verified (plain loop, one torch thread, 2026-12-06): the 10 healthy runs end at 0.0004-0.72x their first
loss and the grid's best clip beats them by at most 3.7% (b7_tower_adam_b16; 0-3% for the others); the 6 unstable
ones lose to the grid's best by 75-100% of their reference (three turn non-finite unclipped, at steps 15, 17 and
168; the deep RNN ends at 6.6x its first loss; two CNNs die at chance, one after a loss spike to 66x around step 61).
Dropped while writing: a post-norm transformer at Adam lr 1e-2 without warm-up (it stalls, and no clip on the grid
saves it: Adam's step does not scale with the gradient); a GRU on plain SGD as a healthy run (lr 0.3-0.5 does not
learn in 250 steps, lr 1 diverges: it became b7_gru_chirp_sgd_diverges); Adam runs of the pre-norm encoder at batch
8-16 (every clip <= 1 beat them by 4-7%: not clearly healthy).
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

def build_he_relu_tower(inputs: int = 12, width: int = 48, depth: int = 10, outputs: int = 5) -> nn.Module:
    """`depth` Linear+ReLU layers, He (Kaiming-normal, fan-in) weights and zero biases, then a linear head."""
    layers: list[nn.Module] = []
    n_in = inputs
    for _ in range(depth):
        layers += [nn.Linear(n_in, width), nn.ReLU()]
        n_in = width
    layers.append(nn.Linear(n_in, outputs))
    for m in layers:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)


def build_grating_convnet(channels: int = 8, classes: int = 4, batch_norm: bool = True) -> nn.Module:
    """A small VGG-like CNN for 12x12 images: conv-(BN)-ReLU twice, max-pool, conv-(BN)-ReLU, max-pool; with
    BatchNorm a global-average-pooled head, without it a linear head on the flattened 3x3 maps."""
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)
        return [conv, nn.BatchNorm2d(c_out), nn.ReLU()] if batch_norm else [conv, nn.ReLU()]

    c = channels
    body = [*block(1, c), *block(c, c), nn.MaxPool2d(2), *block(c, 2 * c), nn.MaxPool2d(2)]
    head = ([nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * c, classes)] if batch_norm else
            [nn.Flatten(), nn.Linear(2 * c * 9, classes)])
    return nn.Sequential(*body, *head)


class SeqRegressor(nn.Module):
    """A recurrent regressor: `layers` stacked RNN/GRU/LSTM layers over (batch, seq, 1) readings, a linear head on
    the last step's output. `recurrent_gain` > 0 sets every hidden-to-hidden matrix to that times an orthogonal one
    (large gains make a tanh RNN's gradients explode)."""

    def __init__(self, cell: str, hidden: int, layers: int, recurrent_gain: float) -> None:
        super().__init__()
        self.rnn = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell](1, hidden, num_layers=layers,
                                                                         batch_first=True)
        if recurrent_gain > 0:
            for name, p in self.rnn.named_parameters():
                if name.startswith("weight_hh"):
                    nn.init.orthogonal_(p, gain=recurrent_gain)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_seq_regressor(cell: str = "gru", hidden: int = 32, layers: int = 1,
                        recurrent_gain: float = 0.0) -> nn.Module:
    return SeqRegressor(cell, hidden, layers, recurrent_gain)


class CountingEncoder(nn.Module):
    """Token and position embeddings, a `torch.nn.TransformerEncoder` (post-norm, or pre-norm with a final
    LayerNorm), no dropout; logits per position shaped (batch, classes, seq) for CrossEntropyLoss."""

    def __init__(self, vocab: int, classes: int, d_model: int, heads: int, layers: int, seq_len: int,
                 norm_first: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(seq_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model) if norm_first else None,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(ids) + self.pos)).transpose(1, 2)


def build_counting_encoder(vocab: int = 8, classes: int = 10, d_model: int = 32, heads: int = 2, layers: int = 2,
                           seq_len: int = 10, norm_first: bool = False) -> nn.Module:
    return CountingEncoder(vocab, classes, d_model, heads, layers, seq_len, norm_first)


# -- data -----------------------------------------------------------------------------------------------------

def _flip(labels: torch.Tensor, classes: int, fraction: float, g: torch.Generator) -> torch.Tensor:
    """`labels` with `fraction` of them replaced by random classes: label noise, a floor under the loss."""
    random = torch.randint(0, classes, labels.shape, generator=g)
    return torch.where(torch.rand(labels.shape, generator=g) < fraction, random, labels)


def teacher_labels(n: int = 2048, inputs: int = 12, classes: int = 5, hidden: int = 16, flip: float = 0.0,
                   seed: int = 0) -> Dataset:
    """Gaussian inputs labelled by a random two-layer tanh teacher network (argmax of its outputs plus a little
    noise): a smooth nonlinear classification a deep MLP can fit; `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w1 = torch.randn(inputs, hidden, generator=g) / math.sqrt(inputs) * 2.0
    w2 = torch.randn(hidden, classes, generator=g) / math.sqrt(hidden)
    logits = torch.tanh(x @ w1) @ w2 + 0.05 * torch.randn(n, classes, generator=g)
    return Dataset(x, _flip(logits.argmax(dim=1), classes, flip, g))


def grating_images(n: int = 1536, size: int = 12, noise: float = 0.5, flip: float = 0.0, glitch: float = 0.0,
                   glitch_gain: float = 1.0, seed: int = 0) -> Dataset:
    """size x size sinusoidal gratings at one of 4 orientations (0, 45, 90, 135 degrees; the class), random spatial
    frequency, phase and contrast, in Gaussian noise; `flip` of the labels replaced by random ones. A fraction
    `glitch` of the frames is over-exposed: multiplied by `glitch_gain` (a camera's saturated frames)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    theta = labels.float() * math.pi / 4
    freq = 0.6 + 0.6 * torch.rand(n, generator=g)
    phase = 2 * math.pi * torch.rand(n, generator=g)
    contrast = 0.6 + 0.8 * torch.rand(n, generator=g)
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    along = xs[None] * torch.cos(theta)[:, None, None] + ys[None] * torch.sin(theta)[:, None, None]
    images = contrast[:, None, None] * torch.cos(freq[:, None, None] * along + phase[:, None, None])
    images = images + noise * torch.randn(n, size, size, generator=g)
    gain = torch.where(torch.rand(n, generator=g) < glitch, glitch_gain, 1.0)
    return Dataset((gain[:, None, None] * images).unsqueeze(1), _flip(labels, 4, flip, g))


def chirp_frequency(n: int = 2048, seq_len: int = 24, noise: float = 0.2, target_noise: float = 0.0,
                    seed: int = 0) -> Dataset:
    """Noisy sine readings (batch, seq, 1) of a random angular frequency in [0.2, 1.0] and phase; the target is
    the frequency, standardised to mean 0 and unit variance, plus Gaussian noise of std `target_noise`."""
    g = torch.Generator().manual_seed(seed)
    omega = 0.2 + 0.8 * torch.rand(n, generator=g)
    phase = 2 * math.pi * torch.rand(n, generator=g)
    t = torch.arange(seq_len).float()
    x = torch.sin(omega[:, None] * t[None] + phase[:, None]) + noise * torch.randn(n, seq_len, generator=g)
    target = (omega - 0.6) / (0.8 / math.sqrt(12)) + target_noise * torch.randn(n, generator=g)
    return Dataset(x.unsqueeze(2), target.unsqueeze(1))


def token_histogram(n: int = 2048, seq_len: int = 10, vocab: int = 8, flip: float = 0.0, seed: int = 0) -> Dataset:
    """Random token sequences; the target at each position is how many times that position's token occurs in the
    whole sequence, minus one (0 .. seq_len-1): a task attention solves by comparing every pair of tokens; `flip`
    of the targets replaced by random counts."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (n, seq_len), generator=g)
    counts = (ids[:, :, None] == ids[:, None, :]).sum(dim=2) - 1
    return Dataset(ids, _flip(counts, seq_len, flip, g))


# The factories the TOMLs below name (none clashing with guard_cases, regret_cases or the other case modules):
# guard_cases.py puts these into its globals.
FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "build_he_relu_tower", "build_grating_convnet", "build_seq_regressor", "build_counting_encoder",
    "teacher_labels", "grating_images", "chirp_frequency", "token_histogram")}


# -- cases ----------------------------------------------------------------------------------------------------

_TOWER = _m("build_he_relu_tower", "inputs = 12, width = 48, depth = 10, outputs = 5")
_TEACHER = _m("teacher_labels", "n = 2048, inputs = 12, classes = 5")
_TEACHER_NOISY = _m("teacher_labels", "n = 2048, inputs = 12, classes = 5, flip = 0.1")
_BN_CNN = _m("build_grating_convnet", "channels = 8, classes = 4, batch_norm = true")
_PLAIN_CNN = _m("build_grating_convnet", "channels = 8, classes = 4, batch_norm = false")
_GRATINGS = _m("grating_images", "n = 1536, noise = 0.5")
_GRATINGS_NOISY = _m("grating_images", "n = 1536, noise = 0.5, flip = 0.1")
_GLITCHY = _m("grating_images", "n = 1536, noise = 0.5, glitch = 0.01, glitch_gain = 40.0")
_GRU = _m("build_seq_regressor", 'cell = "gru", hidden = 32')
_LSTM = _m("build_seq_regressor", 'cell = "lstm", hidden = 32')
_DEEP_RNN = _m("build_seq_regressor", 'cell = "rnn", hidden = 32, layers = 3, recurrent_gain = 1.6')
_CHIRP = _m("chirp_frequency", "n = 2048, seq_len = 24")
_CHIRP_NOISY = _m("chirp_frequency", "n = 2048, seq_len = 24, target_noise = 0.3")
_POST = _m("build_counting_encoder", "vocab = 8, classes = 10, d_model = 32, heads = 2, layers = 2, seq_len = 10")
_PRE = _m("build_counting_encoder", "vocab = 8, classes = 10, d_model = 32, heads = 2, layers = 2, seq_len = 10, "
          "norm_first = true")
_HIST = _m("token_histogram", "n = 2048, seq_len = 10, vocab = 8")
_HIST_NOISY = _m("token_histogram", "n = 2048, seq_len = 10, vocab = 8, flip = 0.1")
_CE, _MSE = "CrossEntropyLoss", "MSELoss"

# (case, kind): the split of every one is "held-out-7"
SPECS: list[tuple[Case, str]] = [
    # -- healthy
    (_case("b7_tower_sgd", "feed-forward", "10-layer He-init ReLU MLP on teacher labels (10% flipped), plain SGD "
           "lr 0.03", _TOWER, _TEACHER_NOISY, 64, _CE, 'name = "SGD"\nlr = 0.03', 250, 701), "healthy"),
    (_case("b7_tower_adam_b16", "feed-forward", "10-layer He-init ReLU MLP on teacher labels (10% flipped), Adam "
           "lr 1e-3, batch 16", _TOWER, _TEACHER_NOISY, 16, _CE, 'name = "Adam"\nlr = 1e-3', 300, 702), "healthy"),
    (_case("b7_bn_cnn_sgd_mom", "cnn", "BatchNorm CNN on oriented gratings, SGD lr 0.1 momentum 0.9", _BN_CNN,
           _GRATINGS, 32, _CE, 'name = "SGD"\nlr = 0.1\nmomentum = 0.9', 200, 703), "healthy"),
    (_case("b7_plain_cnn_sgd_edge", "cnn", "CNN without BatchNorm on gratings (10% of labels flipped), plain SGD "
           "lr 0.1 (near its edge: lr 0.5 dies)", _PLAIN_CNN, _GRATINGS_NOISY, 32, _CE, 'name = "SGD"\nlr = 0.1',
           250, 704), "healthy"),
    (_case("b7_plain_cnn_adamw", "cnn", "CNN without BatchNorm on gratings (10% of labels flipped), AdamW lr 2e-3",
           _PLAIN_CNN, _GRATINGS_NOISY, 32, _CE, 'name = "AdamW"\nlr = 2e-3\nweight_decay = 0.01', 200, 705),
     "healthy"),
    (_case("b7_gru_chirp_adam", "recurrent", "GRU regressing a noisy sine's frequency (noisy targets), Adam lr 3e-3",
           _GRU, _CHIRP_NOISY, 32, _MSE, 'name = "Adam"\nlr = 3e-3', 200, 706), "healthy"),
    (_case("b7_bn_cnn_sgd_b8", "cnn", "BatchNorm CNN on oriented gratings, plain SGD lr 0.05, batch 8 (noisy)",
           _BN_CNN, _GRATINGS, 8, _CE, 'name = "SGD"\nlr = 0.05', 250, 707), "healthy"),
    (_case("b7_lstm_chirp_sgd_mom_b16", "recurrent", "LSTM regressing a noisy sine's frequency, SGD lr 0.1 momentum "
           "0.9, batch 16 (noisy)", _LSTM, _CHIRP, 16, _MSE, 'name = "SGD"\nlr = 0.1\nmomentum = 0.9', 250, 708),
     "healthy"),
    (_case("b7_postnorm_hist_adamw", "transformer", "post-norm transformer encoder counting tokens (10% of targets "
           "flipped), AdamW lr 2e-3", _POST, _HIST_NOISY, 32, _CE, 'name = "AdamW"\nlr = 2e-3\nweight_decay = 0.01',
           300, 709), "healthy"),
    (_case("b7_prenorm_hist_adam", "transformer", "pre-norm transformer encoder counting tokens (10% of targets "
           "flipped), Adam lr 2e-3", _PRE, _HIST_NOISY, 32, _CE, 'name = "Adam"\nlr = 2e-3', 300, 710), "healthy"),
    # -- unstable
    (_case("b7_tower_sgd_high_lr", "feed-forward", "10-layer He-init ReLU MLP on teacher labels, plain SGD lr 1 (a "
           "plateau, then non-finite)", _TOWER, _TEACHER, 64, _CE, 'name = "SGD"\nlr = 1.0', 250, 711), "unstable"),
    (_case("b7_plain_cnn_sgd_high_lr", "cnn", "CNN without BatchNorm on oriented gratings, plain SGD lr 0.5 (dies "
           "at chance)", _PLAIN_CNN, _GRATINGS, 32, _CE, 'name = "SGD"\nlr = 0.5', 250, 712), "unstable"),
    (_case("b7_gru_chirp_sgd_diverges", "recurrent", "GRU regressing a noisy sine's frequency, plain SGD lr 1: the "
           "output grows until non-finite", _GRU, _CHIRP, 32, _MSE, 'name = "SGD"\nlr = 1.0', 250, 717), "unstable"),
    (_case("b7_deep_rnn_exploding", "recurrent", "3-layer tanh RNN (recurrent gain 1.6) regressing a sine's "
           "frequency, SGD lr 0.05 momentum 0.9: exploding gradients", _DEEP_RNN, _CHIRP, 32, _MSE,
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 250, 713), "unstable"),
    (_case("b7_prenorm_hist_sgd_mom_high_lr", "transformer", "pre-norm transformer encoder counting tokens, SGD lr "
           "1 momentum 0.9 from the first step (no warm-up)", _PRE, _HIST, 32, _CE,
           'name = "SGD"\nlr = 1.0\nmomentum = 0.9', 250, 715), "unstable"),
    (_case("b7_glitch_cnn_sgd_mom_spikes", "cnn", "CNN without BatchNorm on gratings with 1% over-exposed frames "
           "(x40), SGD lr 0.05 momentum 0.9: a loss spike throws it", _PLAIN_CNN, _GLITCHY, 32, _CE,
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 250, 716), "unstable"),
]

SPLIT = "held-out-7"
__getattr__ = lazy_cases("BLIND7", SPECS, SPLIT)  # PEP 562: BLIND7 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(check_labels(SPECS, sys.modules[__name__], SPLIT))
