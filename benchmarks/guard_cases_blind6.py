"""An eleventh held-out split for `benchmarks/guard_regret.py` ("held-out-11"): 8 healthy runs a guard left on
must not move (a BatchNorm CNN on SGD momentum with 10% label noise, a GELU MLP on AdamW with a noisy start, a GRU
language model on Adam, a pre-norm transformer language model on AdamW at batch 16, an autoencoder on RMSprop, a
pre-activation ResNet on SGD Nesterov, a raw-unit house-price regression on Adam with gradient norms in the
thousands, a LayerNorm MLP on plain SGD at batch 8 with noisy losses), and 4 unstable runs a fixed clip rescues (a
tanh RNN language model on SGD momentum whose gradients blow up, the house-price regression on plain SGD that turns
non-finite at step 8, a ReLU MLP on SGD momentum thrown by batches holding x100 records, and the house-price
regression on RMSprop thrown by data-entry errors).

Written blind to the guard (its code, its tests, its README sections and its earlier scores were not read),
labelled from the plain torch loop of benchmarks/recommend_regret.py alone (unclipped run and the 13-point
threshold grid, fresh_labels.verify's rules). No case has a [schedule].

Same form as guard_cases_blind5.py, with its own models and data (every factory is prefixed `b11_`): every factory
the TOMLs name is in `FACTORIES`, which guard_cases.py adds to its own namespace; `BLIND11` is built on first
access (fresh_labels.lazy_cases). Seeds 1101-1108 (healthy) and 1121-1124 (unstable).

    .venv/bin/python benchmarks/guard_cases_blind6.py [--cases a,b] [-v]   # verify every label, print the table

Labels as verified (plain loop, one torch thread on a busy 2-core machine), unclipped / first loss -> the grid's
best (at clip):
  healthy (end at 0.01-0.68x their first loss; the grid's best beats them by at most 1.4%)
    h11_bn_cnn_sgd_mom_label_noise     0.7007 / 1.383 -> 0.7007 (3.16; clip 1 is 6% worse)
    h11_mlp_adamw_noisy_start          0.6324 / 1.617 -> 0.6324 (3.16; every active clip is worse)
    h11_gru_lm_adam                    1.611 / 2.491 -> 1.611 (0.316)
    h11_gpt_adamw_batch16              1.764 / 2.586 -> 1.764 (3.16)
    h11_ae_rmsprop                     0.08918 / 0.4184 -> 0.08856 (0.1), 0.7%
    h11_preact_resnet_nesterov         0.500 / 1.409 -> 0.500 (3.16; the loss rises to 1.62 in its first steps)
    h11_house_prices_adam              3606 / 277300 -> 3557 (100), 1.4%
    h11_silu_mlp_sgd_batch8            0.7583 / 1.843 -> 0.7583 (10)
  unstable (the grid's best beats min(unclipped, first loss) by 35-99% of it)
    h11_rnn_lm_sgd_mom_explodes        3.732 / 2.502 -> 1.624 (0.0316), 35%
    h11_house_prices_sgd_diverges      non-finite at step 8 / 261500 -> 3412 (100), 99%
    h11_mlp_sgd_mom_bad_batches        1.582 / 1.744 -> 0.512 (0.316), 68%
    h11_house_prices_rmsprop_typos     56850 / 260100 -> 3966 (0.001; every clip 1e-3..1e3 gives 3966-4161), 93%
Unclipped runs take 0.01-1.9 s on one busy thread.

Changed while writing (first drafts that failed their label): the BatchNorm CNN from SGD lr 0.05 momentum 0.9
(clip 1 beat it by 5.4%) to lr 0.02, and from 8 to 6 channels and 200 to 180 steps (2.7 s); the batch-8 MLP from
SGD lr 0.03 momentum 0.9 (clip 0.316 beat it by 16%; lr 0.01 momentum 0.9 by 7.6%, at batch 16 by 12%) to plain
SGD lr 0.1; the transformer's Markov source from temperature 0.5 (it ended at 0.84x its first loss) to 0.3; the
AdamW MLP from lr 3e-3 (healthy, but with no rough start to speak of) to 2e-2. Unstable: the RNN language model
from recurrent gain 1.5 at SGD lr 0.5 (it learned: no explosion, tanh saturates; at lr 2 a clip gained 17%; an LSTM
at lr 5 and a longer sequence gained nothing) to gain 1 at lr 3; the diverging regression from SGD lr 1e-3 (every
grid clip crawled: the best, clip 1e3, stayed far from 25% below the first loss in 200 steps) to 3e-3; the
bad-record MLP from tanh with 0.5% bad rows (clip 0.1 gained 15%) to ReLU with 1%; the adaptive-optimizer case from
an autoencoder on RMSprop with 1% glitched traces (in the target, the glitches set the loss floor; in the input
only, no clip gained more than 8%; on Adam none either) and a tanh/ReLU MLP on RMSprop or Adam with x100 records
(no clip gained over 2%) to the house-price regression on RMSprop with 0.5% x50 targets.

Could not make: an exploding RNN in the sense of a non-finite loss (the tanh language model's loss is bounded by
its saturation; it climbs above its start instead); an unstable run on Adam (rare huge gradients in the inputs or
targets of a classifier or an autoencoder left Adam's and RMSprop's runs within 2-8% of the grid's best: they
normalise per coordinate); three of the 12 cases share the house-price data.
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

def b11_mlp(inputs: int = 8, width: int = 64, depth: int = 3, outputs: int = 1, activation: str = "relu",
            layer_norm: bool = False) -> nn.Module:
    """`depth - 1` Linear(+LayerNorm)+activation layers of `width`, then a linear head."""
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU}
    layers: list[nn.Module] = []
    n_in = inputs
    for _ in range(depth - 1):
        layers += [nn.Linear(n_in, width)] + ([nn.LayerNorm(width)] if layer_norm else []) + [acts[activation]()]
        n_in = width
    layers.append(nn.Linear(n_in, outputs))
    return nn.Sequential(*layers)


def b11_convnet(channels: int = 8, classes: int = 4, batch_norm: bool = True) -> nn.Module:
    """conv(-BN)-ReLU x2 with a maxpool after each, a 1x1 conv, global average pool, linear head."""
    c = channels

    def bn(k: int) -> nn.Module:
        return nn.BatchNorm2d(k) if batch_norm else nn.Identity()
    return nn.Sequential(nn.Conv2d(1, c, 3, padding=1), bn(c), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c, 2 * c, 3, padding=1), bn(2 * c), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(2 * c, 2 * c, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(2 * c, classes))


class _PreActBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1,
                                                                                  bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1,
                                                                                  bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def b11_preact_resnet(channels: int = 8, classes: int = 4, blocks: int = 2) -> nn.Module:
    """A pre-activation ResNet: a 3x3 stem conv, `blocks` pre-activation residual blocks, BN-ReLU, global
    average pool, linear head."""
    c = channels
    return nn.Sequential(nn.Conv2d(1, c, 3, padding=1, bias=False), *[_PreActBlock(c) for _ in range(blocks)],
                         nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))


class _RecurrentLM(nn.Module):
    def __init__(self, cell: str, vocab: int, embed: int, hidden: int, recurrent_gain: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](embed, hidden, batch_first=True)
        if recurrent_gain != 1.0:
            with torch.no_grad():
                for block in self.rnn.weight_hh_l0.split(hidden, 0):
                    nn.init.orthogonal_(block)
                    block.mul_(recurrent_gain)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.head(out).transpose(1, 2)  # (batch, vocab, seq) for CrossEntropyLoss


def b11_recurrent_lm(cell: str = "gru", vocab: int = 12, embed: int = 16, hidden: int = 48,
                     recurrent_gain: float = 1.0) -> nn.Module:
    """A next-token language model: embedding, one recurrent layer (tanh RNN, LSTM or GRU), per-token logits;
    `recurrent_gain` != 1 sets the hidden-to-hidden weights orthogonal times the gain (per gate)."""
    return _RecurrentLM(cell, vocab, embed, hidden, recurrent_gain)


class _TinyGPT(nn.Module):
    def __init__(self, vocab: int, d_model: int, heads: int, layers: int, seq_len: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(seq_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq_len), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.blocks(self.embed(ids) + self.pos[:t], mask=self.mask[:t, :t], is_causal=True)
        return self.head(h).transpose(1, 2)


def b11_tiny_gpt(vocab: int = 12, d_model: int = 32, heads: int = 4, layers: int = 2, seq_len: int = 24) -> nn.Module:
    """A pre-norm causal transformer LM with learned positions (no dropout)."""
    return _TinyGPT(vocab, d_model, heads, layers, seq_len)


def b11_autoencoder(inputs: int = 32, hidden: int = 64, code: int = 6) -> nn.Module:
    """inputs -> hidden -> code -> hidden -> inputs, ELU after both hidden layers."""
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ELU(), nn.Linear(hidden, code),
                         nn.Linear(code, hidden), nn.ELU(), nn.Linear(hidden, inputs))


# -- data -----------------------------------------------------------------------------------------------------

def _noisy_labels(labels: torch.Tensor, classes: int, fraction: float, g: torch.Generator) -> torch.Tensor:
    if fraction <= 0:
        return labels
    random = torch.randint(0, classes, labels.shape, generator=g)
    return torch.where(torch.rand(labels.shape, generator=g) < fraction, random, labels)


def b11_gratings(n: int = 2048, size: int = 12, noise: float = 0.5, flip: float = 0.0, seed: int = 0) -> Dataset:
    """size x size images of a sinusoidal grating in a soft circular window; the class is its spatial frequency
    band (4 bands), orientation, phase and contrast random; Gaussian pixel noise; `flip` of labels random."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    freq = (0.08 + 0.07 * labels.float()) * (1 + 0.1 * torch.randn(n, generator=g))
    theta = math.pi * torch.rand(n, generator=g)
    phase = 2 * math.pi * torch.rand(n, generator=g)
    contrast = 0.6 + 0.8 * torch.rand(n, generator=g)
    ys, xs = torch.meshgrid(torch.arange(size).float() - size / 2, torch.arange(size).float() - size / 2,
                            indexing="ij")
    u = xs[None] * torch.cos(theta)[:, None, None] + ys[None] * torch.sin(theta)[:, None, None]
    window = torch.exp(-(xs ** 2 + ys ** 2) / (2 * (size / 3) ** 2))
    img = contrast[:, None, None] * window * torch.sin(2 * math.pi * freq[:, None, None] * u
                                                       + phase[:, None, None])
    img = img + noise * torch.randn(n, size, size, generator=g)
    return Dataset(img.unsqueeze(1), _noisy_labels(labels, 4, flip, g))


def b11_teacher_classes(n: int = 4096, inputs: int = 12, classes: int = 5, flip: float = 0.0,
                        corrupt: float = 0.0, corrupt_scale: float = 100.0, seed: int = 0) -> Dataset:
    """Gaussian inputs labelled by the argmax of a random 2-layer tanh teacher; `flip` of labels random;
    `corrupt` of the rows multiplied by `corrupt_scale` (broken records: rare huge inputs)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w1 = torch.randn(inputs, 32, generator=g) / math.sqrt(inputs)
    w2 = torch.randn(32, classes, generator=g) / math.sqrt(32)
    labels = (torch.tanh(2 * x @ w1) @ w2).argmax(1)
    if corrupt > 0:
        bad = torch.rand(n, generator=g) < corrupt
        x = torch.where(bad[:, None], x * corrupt_scale, x)
    return Dataset(x, _noisy_labels(labels, classes, flip, g))


def b11_markov_text(n: int = 1024, seq_len: int = 24, vocab: int = 12, temperature: float = 0.5,
                    seed: int = 0) -> Dataset:
    """Token sequences from a random order-2 Markov chain (its logits Gaussian / `temperature`); inputs are the
    first seq_len tokens, targets the next ones (a language model's data)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(vocab, vocab, vocab, generator=g) / temperature
    probs = torch.softmax(logits, dim=-1)
    ids = torch.zeros(n, seq_len + 1, dtype=torch.long)
    ids[:, :2] = torch.randint(0, vocab, (n, 2), generator=g)
    for t in range(2, seq_len + 1):
        ids[:, t] = torch.multinomial(probs[ids[:, t - 2], ids[:, t - 1]], 1, generator=g).squeeze(1)
    return Dataset(ids[:, :-1].clone(), ids[:, 1:].clone())


def b11_house_prices(n: int = 2048, noise: float = 0.1, outliers: float = 0.0, outlier_scale: float = 50.0,
                     standardise_inputs: bool = True, seed: int = 0) -> Dataset:
    """A synthetic tabular regression in raw units: 6 features (area ~ 50-250, rooms 1-6, age 0-80, distance
    0.5-30, a 0/1 flag, a rating 1-10), target a price in thousands (~100-900) from a nonlinear rule plus
    multiplicative noise. Inputs standardised unless `standardise_inputs` is false; targets never are.
    `outliers` of the targets are multiplied by `outlier_scale` (data-entry errors)."""
    g = torch.Generator().manual_seed(seed)
    area = 50 + 200 * torch.rand(n, generator=g)
    rooms = torch.randint(1, 7, (n,), generator=g).float()
    age = 80 * torch.rand(n, generator=g)
    dist = 0.5 + 29.5 * torch.rand(n, generator=g) ** 2
    flag = (torch.rand(n, generator=g) < 0.3).float()
    rating = torch.randint(1, 11, (n,), generator=g).float()
    price = (2.2 * area + 25 * rooms - 1.5 * age + 120 * torch.exp(-dist / 6) + 60 * flag
             + 8 * rating + 0.004 * area * rating * 4)
    price = price * (1 + noise * torch.randn(n, generator=g))
    if outliers > 0:
        bad = torch.rand(n, generator=g) < outliers
        price = torch.where(bad, price * outlier_scale, price)
    x = torch.stack([area, rooms, age, dist, flag, rating], dim=1)
    if standardise_inputs:
        x = (x - x.mean(0)) / x.std(0)
    return Dataset(x, price.unsqueeze(1))


def b11_sensor_traces(n: int = 2048, length: int = 32, noise: float = 0.05, seed: int = 0) -> Dataset:
    """Smooth traces (a damped oscillation of random frequency, decay and amplitude plus a random offset and
    slope) plus noise; the target is the trace itself (an autoencoder's)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, length)
    freq = 1 + 5 * torch.rand(n, 1, generator=g)
    decay = 3 * torch.rand(n, 1, generator=g)
    amp = 0.5 + torch.rand(n, 1, generator=g)
    x = (amp * torch.exp(-decay * t) * torch.sin(2 * math.pi * freq * t + 6.28 * torch.rand(n, 1, generator=g))
         + 0.3 * torch.randn(n, 1, generator=g) + 0.5 * torch.randn(n, 1, generator=g) * t)
    x = x + noise * torch.randn(n, length, generator=g)
    return Dataset(x, x.clone())


# The factories the TOMLs below name (none clashing with guard_cases, regret_cases or the other case modules):
# guard_cases.py puts these into its globals.
FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "b11_mlp", "b11_convnet", "b11_preact_resnet", "b11_recurrent_lm", "b11_tiny_gpt", "b11_autoencoder",
    "b11_gratings", "b11_teacher_classes", "b11_markov_text", "b11_house_prices", "b11_sensor_traces")}


# -- cases ----------------------------------------------------------------------------------------------------

_CE, _MSE = "CrossEntropyLoss", "MSELoss"

# (case, kind): the split of every one is "held-out-11"
SPECS: list[tuple[Case, str]] = [
    # -- healthy
    (_case("h11_bn_cnn_sgd_mom_label_noise", "cnn", "CNN with BatchNorm on grating frequency bands (10% of labels "
           "flipped), SGD lr 0.02 momentum 0.9",
           _m("b11_convnet", "channels = 6, classes = 4, batch_norm = true"),
           _m("b11_gratings", "n = 2048, size = 12, noise = 0.5, flip = 0.1"), 32, _CE,
           'name = "SGD"\nlr = 0.02\nmomentum = 0.9', 180, 1101), "healthy"),
    (_case("h11_mlp_adamw_noisy_start", "feed-forward", "4-layer GELU MLP on a teacher's classes (5% flipped), "
           "AdamW lr 2e-2: a noisy start (the loss falls to 0.8, jumps back to 1.2 as the gradient norm grows 5x, "
           "then settles)",
           _m("b11_mlp", 'inputs = 12, width = 64, depth = 4, outputs = 5, activation = "gelu"'),
           _m("b11_teacher_classes", "n = 4096, inputs = 12, classes = 5, flip = 0.05"), 64, _CE,
           'name = "AdamW"\nlr = 2e-2\nweight_decay = 0.01', 200, 1102), "healthy"),
    (_case("h11_gru_lm_adam", "recurrent", "GRU language model on an order-2 Markov source, Adam lr 5e-3",
           _m("b11_recurrent_lm", 'cell = "gru", vocab = 12, embed = 16, hidden = 48'),
           _m("b11_markov_text", "n = 1024, seq_len = 24, vocab = 12"), 32, _CE, 'name = "Adam"\nlr = 5e-3', 200,
           1103), "healthy"),
    (_case("h11_gpt_adamw_batch16", "transformer", "pre-norm causal transformer LM on a sharper order-2 Markov source, "
           "AdamW lr 3e-3, batch 16",
           _m("b11_tiny_gpt", "vocab = 12, d_model = 32, heads = 4, layers = 2, seq_len = 24"),
           _m("b11_markov_text", "n = 1024, seq_len = 24, vocab = 12, temperature = 0.3"), 16, _CE,
           'name = "AdamW"\nlr = 3e-3\nweight_decay = 0.01', 180, 1104), "healthy"),
    (_case("h11_ae_rmsprop", "autoencoder", "ELU autoencoder (code 6) on noisy damped-oscillation traces, "
           "RMSprop lr 1e-3",
           _m("b11_autoencoder", "inputs = 32, hidden = 64, code = 6"),
           _m("b11_sensor_traces", "n = 2048, length = 32, noise = 0.05"), 32, _MSE,
           'name = "RMSprop"\nlr = 1e-3', 200, 1105), "healthy"),
    (_case("h11_preact_resnet_nesterov", "cnn", "pre-activation ResNet (2 blocks) on grating bands (5% flipped), "
           "SGD lr 0.05 Nesterov momentum 0.9, weight decay 5e-4",
           _m("b11_preact_resnet", "channels = 8, classes = 4, blocks = 2"),
           _m("b11_gratings", "n = 2048, size = 12, noise = 0.5, flip = 0.05"), 32, _CE,
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9\nnesterov = true\nweight_decay = 5e-4', 180, 1106), "healthy"),
    (_case("h11_house_prices_adam", "feed-forward", "ReLU MLP regressing raw house prices (thousands: loss ~3e5 "
           "at the start), Adam lr 3e-2",
           _m("b11_mlp", 'inputs = 6, width = 64, depth = 3, outputs = 1, activation = "relu"'),
           _m("b11_house_prices", "n = 2048, noise = 0.1"), 32, _MSE, 'name = "Adam"\nlr = 3e-2', 200, 1107),
     "healthy"),
    (_case("h11_silu_mlp_sgd_batch8", "feed-forward", "SiLU MLP with LayerNorm on a teacher's classes (10% "
           "flipped), plain SGD lr 0.1, batch 8: noisy losses",
           _m("b11_mlp", 'inputs = 12, width = 48, depth = 3, outputs = 5, activation = "silu", layer_norm = true'),
           _m("b11_teacher_classes", "n = 4096, inputs = 12, classes = 5, flip = 0.1"), 8, _CE,
           'name = "SGD"\nlr = 0.1', 200, 1108), "healthy"),
    # -- unstable
    (_case("h11_rnn_lm_sgd_mom_explodes", "recurrent", "tanh RNN language model on an order-2 Markov source, "
           "SGD lr 3 momentum 0.9: its gradients blow up and the loss climbs above its start",
           _m("b11_recurrent_lm", 'cell = "rnn", vocab = 12, embed = 16, hidden = 48'),
           _m("b11_markov_text", "n = 1024, seq_len = 24, vocab = 12"), 32, _CE,
           'name = "SGD"\nlr = 3.0\nmomentum = 0.9', 200, 1121), "unstable"),
    (_case("h11_house_prices_sgd_diverges", "feed-forward", "MLP regressing raw house prices, SGD lr 3e-3: the "
           "first gradients are in the thousands and it diverges",
           _m("b11_mlp", 'inputs = 6, width = 64, depth = 3, outputs = 1, activation = "relu"'),
           _m("b11_house_prices", "n = 2048, noise = 0.1"), 32, _MSE, 'name = "SGD"\nlr = 3e-3', 200, 1122),
     "unstable"),
    (_case("h11_mlp_sgd_mom_bad_batches", "feed-forward", "ReLU MLP on a teacher's classes with 1% of rows x100 "
           "(broken records), SGD lr 0.1 momentum 0.9: the bad batches throw the weights and kill units",
           _m("b11_mlp", 'inputs = 12, width = 64, depth = 3, outputs = 5, activation = "relu"'),
           _m("b11_teacher_classes", "n = 4096, inputs = 12, classes = 5, corrupt = 0.01, corrupt_scale = 100.0"),
           32, _CE, 'name = "SGD"\nlr = 0.1\nmomentum = 0.9', 200, 1123), "unstable"),
    (_case("h11_house_prices_rmsprop_typos", "feed-forward", "ReLU MLP regressing raw house prices with 0.5% "
           "data-entry errors (x50), RMSprop lr 1e-2: the erroneous batches' gradients throw it far off",
           _m("b11_mlp", 'inputs = 6, width = 64, depth = 3, outputs = 1, activation = "relu"'),
           _m("b11_house_prices", "n = 2048, noise = 0.1, outliers = 0.005, outlier_scale = 50.0"), 32, _MSE,
           'name = "RMSprop"\nlr = 1e-2', 200, 1124), "unstable"),
]

SPLIT = "held-out-11"
__getattr__ = lazy_cases("BLIND11", SPECS, SPLIT)  # PEP 562: BLIND11 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(check_labels(SPECS, sys.modules[__name__], SPLIT))
