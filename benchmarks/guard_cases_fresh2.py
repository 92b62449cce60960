"""A fourth held-out split for `benchmarks/guard_regret.py` ("held-out-4"): unstable and healthy cases written
blind to the guard (its code, its README section, its tests and its earlier scores were not read), labelled from
the plain torch loop of benchmarks/recommend_regret.py alone (unclipped run and the 13-point threshold grid).

Same form as guard_cases.py: a `GuardCase` per case, a gradscope TOML with `{cases}` standing for the cases
module's path. Every factory the TOML names is in `FACTORIES`, which guard_cases.py adds to its own namespace
at its end, beside this split, so a case resolves whether `{cases}` is this file or guard_cases.py. `FRESH4`
is built on first access (fresh_labels.lazy_cases), so either module may be imported first.

    .venv/bin/python benchmarks/guard_cases_fresh2.py [--cases a,b] [-v]   # verify every label, print the table
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import regret_cases
import torch
from fresh_labels import check_labels, lazy_cases
from fresh_labels import factory_section as _m
from fresh_labels import make_case as _case
from regret_cases import Case
from torch import nn

Dataset = torch.utils.data.TensorDataset

# regret_cases' factory used below (the same object guard_cases re-exports), so the cases also resolve here
build_transformer = regret_cases.build_transformer

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
_CELL = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


# -- models ---------------------------------------------------------------------------------------------------

class TokenSeqClassifier(nn.Module):
    """Embedding, one recurrent layer (RNN/LSTM/GRU), a linear head on the last state (sequence classification).
    `init_scale` multiplies every recurrent weight of the default init."""

    def __init__(self, cell: str, vocab: int, embed: int, hidden: int, classes: int, init_scale: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = _CELL[cell](embed, hidden, batch_first=True)
        if init_scale != 1.0:
            with torch.no_grad():
                for p in self.rnn.parameters():
                    p.mul_(init_scale)
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.head(out[:, -1])


def build_token_classifier(cell: str = "gru", vocab: int = 10, embed: int = 8, hidden: int = 32, classes: int = 2,
                           init_scale: float = 1.0) -> nn.Module:
    return TokenSeqClassifier(cell, vocab, embed, hidden, classes, init_scale)


class Forecaster(nn.Module):
    """A (possibly stacked) recurrent net reading a univariate series (B, T, 1); predicts the next value."""

    def __init__(self, cell: str, hidden: int, layers: int) -> None:
        super().__init__()
        self.rnn = _CELL[cell](1, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_forecaster(cell: str = "lstm", hidden: int = 32, layers: int = 1) -> nn.Module:
    return Forecaster(cell, hidden, layers)


def build_plain_net(inputs: int = 2, width: int = 64, depth: int = 6, outputs: int = 3, activation: str = "relu",
                    norm: str = "none", init_std: float = 0.0) -> nn.Module:
    """An MLP of `depth` linear layers; norm "none", "batch" (BatchNorm1d after each hidden linear) or "layer";
    init_std > 0 replaces the default init of every weight by N(0, init_std^2) (a too-large init, e.g. 0.5)."""
    layers: list[nn.Module] = []
    n_in = inputs
    for _ in range(depth - 1):
        linear = nn.Linear(n_in, width)
        layers.append(linear)
        if norm == "batch":
            layers.append(nn.BatchNorm1d(width))
        elif norm == "layer":
            layers.append(nn.LayerNorm(width))
        layers.append(_ACT[activation]())
        n_in = width
    layers.append(nn.Linear(n_in, outputs))
    net = nn.Sequential(*layers)
    if init_std > 0:
        with torch.no_grad():
            for m in net:
                if isinstance(m, nn.Linear):
                    m.weight.normal_(0.0, init_std)
    return net


class SignalCNN(nn.Module):
    """A 1-D CNN over a signal (B, 1, L): three conv(k=5) [BN] ReLU blocks with stride-2 pooling, global average
    pooling, a linear head."""

    def __init__(self, channels: int, classes: int, batch_norm: bool) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = 1
        for c_out in (channels, 2 * channels, 2 * channels):
            blocks += [nn.Conv1d(c_in, c_out, 5, padding=2)]
            if batch_norm:
                blocks.append(nn.BatchNorm1d(c_out))
            blocks += [nn.ReLU(), nn.MaxPool1d(2)]
            c_in = c_out
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_signal_cnn(channels: int = 8, classes: int = 4, batch_norm: bool = False) -> nn.Module:
    return SignalCNN(channels, classes, batch_norm)


# -- data -----------------------------------------------------------------------------------------------------

def polarity_tokens(n: int = 1536, seq_len: int = 18, vocab: int = 10, seed: int = 0) -> Dataset:
    """Token sequences over a vocabulary whose tokens carry a hidden polarity -1, 0 or +1 (a toy sentiment
    task); the class is 1 when the summed polarity is positive (ties broken by the last polar token)."""
    g = torch.Generator().manual_seed(seed)
    polarity = torch.randint(-1, 2, (vocab,), generator=g)
    polarity[0], polarity[1] = 1, -1  # at least one of each
    ids = torch.randint(0, vocab, (n, seq_len), generator=g)
    pol = polarity[ids]
    total = pol.sum(1)
    last = torch.zeros(n, dtype=torch.long)
    for t in range(seq_len):  # the last non-zero polarity of every row
        last = torch.where(pol[:, t] != 0, pol[:, t], last)
    labels = ((total > 0) | ((total == 0) & (last > 0))).long()
    return Dataset(ids, labels)


def ar2_series(n: int = 1024, seq_len: int = 30, noise: float = 0.3, scale: float = 1.0, seed: int = 0) -> Dataset:
    """Windows of AR(2) processes x_t = a1 x_{t-1} + a2 x_{t-2} + noise, with (a1, a2) drawn per series inside
    the stationary region (damped oscillations); input the first seq_len values, target the next one."""
    g = torch.Generator().manual_seed(seed)
    r = 0.7 + 0.25 * torch.rand(n, generator=g)
    theta = 0.2 + 1.0 * torch.rand(n, generator=g)
    a1, a2 = 2 * r * torch.cos(theta), -r * r
    x = torch.zeros(n, seq_len + 1 + 20)
    x[:, :2] = torch.randn(n, 2, generator=g)
    eps = noise * torch.randn(n, seq_len + 21, generator=g)
    for t in range(2, seq_len + 21):
        x[:, t] = a1 * x[:, t - 1] + a2 * x[:, t - 2] + eps[:, t]
    x = scale * x[:, 20:]  # drop the burn-in
    return Dataset(x[:, :-1].unsqueeze(-1).clone(), x[:, -1:].clone())


def rings(n: int = 2048, classes: int = 3, noise: float = 0.08, seed: int = 0) -> Dataset:
    """2-D points on `classes` concentric noisy rings with a random angular wobble; the class is the ring."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    angle = 2 * math.pi * torch.rand(n, generator=g)
    radius = (labels.float() + 1) / classes * (1 + 0.15 * torch.sin(3 * angle)) + noise * torch.randn(n, generator=g)
    return Dataset(torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], 1), labels)


def house_prices(n: int = 2048, inputs: int = 10, target_mean: float = 0.0, target_std: float = 1.0,
                 seed: int = 0) -> Dataset:
    """Standardised features; the target is a nonlinear function of them (plus noise), expressed as
    target_mean + target_std * z: with the defaults a standardised target, with e.g. (250, 80) a raw price in
    $k that nobody rescaled."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    v = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    z = (x @ w) + 0.5 * torch.tanh(x @ v) * x[:, 0] + 0.2 * torch.randn(n, generator=g)
    z = (z - z.mean()) / z.std()
    return Dataset(x, (target_mean + target_std * z).unsqueeze(1))


def claim_amounts(n: int = 2048, inputs: int = 8, signal: float = 0.5, sigma: float = 1.2,
                  seed: int = 0) -> Dataset:
    """Insurance-claim-like regression: y = exp(signal * x @ w + sigma * e) (log-normal, heavy right tail), raw,
    not log-transformed: a few rows are tens of times the median."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    y = torch.exp(signal * (x @ w) + sigma * torch.randn(n, generator=g))
    return Dataset(x, y.unsqueeze(1))


def corrupted_regression(n: int = 2048, inputs: int = 8, outliers: int = 3, outlier_value: float = 300.0,
                         seed: int = 0) -> Dataset:
    """A smooth regression target of scale ~1, with `outliers` rows whose label is a data-entry error
    (+-outlier_value): an outlier batch now and then."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    y = torch.sin(x @ w) + 0.3 * x[:, 1] + 0.05 * torch.randn(n, generator=g)
    rows = torch.randperm(n, generator=g)[:outliers]
    y[rows] = outlier_value * torch.sign(torch.randn(outliers, generator=g))
    return Dataset(x, y.unsqueeze(1))


def waveforms(n: int = 1024, length: int = 64, noise: float = 0.5, seed: int = 0) -> Dataset:
    """1-D signals of one of four shapes (sine, square, sawtooth, triangle) at a random frequency, phase and
    amplitude, in Gaussian noise; the class is the shape."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    freq = (1.5 + 3.0 * torch.rand(n, 1, generator=g)) / length
    phase = torch.rand(n, 1, generator=g)
    amp = 0.5 + torch.rand(n, 1, generator=g)
    u = (freq * torch.arange(length).float() + phase) % 1.0  # cycle position in [0, 1)
    shapes = torch.stack([torch.sin(2 * math.pi * u), torch.sign(torch.sin(2 * math.pi * u)), 2 * u - 1,
                          1 - 4 * (u - 0.5).abs()], 0)  # (4, n, length)
    x = amp * shapes[labels, torch.arange(n)] + noise * torch.randn(n, length, generator=g)
    return Dataset(x.unsqueeze(1), labels)


def running_max(n: int = 2048, seq_len: int = 8, vocab: int = 10, seed: int = 0) -> Dataset:
    """Token sequences; the target at each position is the maximum of the tokens up to and including it."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (n, seq_len), generator=g)
    return Dataset(ids, ids.cummax(1).values.clone())


# The factories the TOMLs below name (new ones; regret_cases' build_transformer is already re-exported by
# guard_cases): guard_cases.py puts these into its globals.
FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "build_token_classifier", "build_forecaster", "build_plain_net", "build_signal_cnn", "polarity_tokens",
    "ar2_series", "rings", "house_prices", "claim_amounts", "corrupted_regression", "waveforms", "running_max")}


# -- cases ----------------------------------------------------------------------------------------------------

_GRU_CLS = _m("build_token_classifier", 'cell = "gru", vocab = 10, embed = 8, hidden = 32, classes = 2')
_LSTM_CLS = _m("build_token_classifier", 'cell = "lstm", vocab = 10, embed = 8, hidden = 32, classes = 2')
_POLARITY = _m("polarity_tokens", "n = 1536, seq_len = 18, vocab = 10")
_LSTM_FC = _m("build_forecaster", 'cell = "lstm", hidden = 32, layers = 1')
_RNN_FC = _m("build_forecaster", 'cell = "rnn", hidden = 48, layers = 1')
_AR2 = _m("ar2_series", "n = 1024, seq_len = 30")
_AR2_BIG = _m("ar2_series", "n = 1024, seq_len = 30, scale = 3.0")
_DEEP = _m("build_plain_net", 'inputs = 2, width = 48, depth = 8, outputs = 3, activation = "relu"')
_DEEP_BN = _m("build_plain_net", 'inputs = 2, width = 48, depth = 8, outputs = 3, activation = "relu", '
              'norm = "batch"')
_BIG_INIT = _m("build_plain_net", 'inputs = 2, width = 64, depth = 4, outputs = 3, activation = "tanh", '
               'init_std = 0.6')
_RINGS = _m("rings", "n = 2048, classes = 3")
_REG = _m("build_plain_net", 'inputs = 10, width = 64, depth = 3, outputs = 1, activation = "relu"')
_REG8 = _m("build_plain_net", 'inputs = 8, width = 64, depth = 3, outputs = 1, activation = "gelu"')
_HOUSE = _m("house_prices", "n = 2048, inputs = 10")
_HOUSE_RAW = _m("house_prices", "n = 2048, inputs = 10, target_mean = 250.0, target_std = 80.0")
_CLAIMS = _m("claim_amounts", "n = 2048, inputs = 8, signal = 1.0, sigma = 0.5")
_CORRUPT = _m("corrupted_regression", "n = 2048, inputs = 8, outliers = 3, outlier_value = 300.0")
_CNN1D = _m("build_signal_cnn", "channels = 8, classes = 4")
_CNN1D_BN = _m("build_signal_cnn", "channels = 8, classes = 4, batch_norm = true")
_WAVES = _m("waveforms", "n = 1024, length = 64")
_POST_LN = _m("build_transformer", "vocab = 10, d_model = 24, heads = 2, layers = 2, seq_len = 8")
_PRE_LN = _m("build_transformer", "vocab = 10, d_model = 24, heads = 2, layers = 2, seq_len = 8, norm_first = true")
_MAX = _m("running_max", "n = 2048, seq_len = 8, vocab = 10")

# (case, kind): the split of every one is "held-out-4"
SPECS: list[tuple[Case, str]] = [
    # -- unstable
    (_case("gru_polarity_sgd_mom", "recurrent", "GRU classifying token-polarity sequences, SGD lr 5 momentum 0.9",
           _GRU_CLS, _POLARITY, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 5.0\nmomentum = 0.9', 200, 81),
     "unstable"),
    (_case("lstm_ar2_sgd_mom", "recurrent", "LSTM forecasting AR(2) series of scale 3, SGD lr 0.3 momentum 0.9",
           _LSTM_FC, _AR2_BIG, 32, "MSELoss", 'name = "SGD"\nlr = 0.3\nmomentum = 0.9', 250, 84), "unstable"),
    (_case("rnn_ar2_sgd", "recurrent", "tanh RNN forecasting AR(2) series of scale 3, SGD lr 0.1, no momentum "
           "(healthy for ~170 steps, then explodes)", _RNN_FC, _AR2_BIG, 32, "MSELoss", 'name = "SGD"\nlr = 0.1', 250,
           87), "unstable"),
    (_case("deep_relu_rings_sgd", "feed-forward", "8-layer ReLU MLP, no normalisation, on rings; SGD lr 0.3 "
           "momentum 0.9", _DEEP, _RINGS, 64, "CrossEntropyLoss", 'name = "SGD"\nlr = 0.3\nmomentum = 0.9',
           250, 90), "unstable"),
    (_case("big_init_tanh_sgd", "feed-forward", "4-layer tanh MLP with N(0, 0.6^2) weights (too large, saturated) "
           "on rings, SGD lr 0.5 momentum 0.9", _BIG_INIT, _RINGS, 64, "CrossEntropyLoss",
           'name = "SGD"\nlr = 0.5\nmomentum = 0.9', 200, 93), "unstable"),
    (_case("house_raw_target_sgd", "regression", "ReLU MLP regressing a raw price target (mean 250, std 80), "
           "SGD lr 1e-3 momentum 0.9", _REG, _HOUSE_RAW, 32, "MSELoss", 'name = "SGD"\nlr = 1e-3\nmomentum = 0.9',
           250, 96), "unstable"),
    (_case("claims_lognormal_sgd", "regression", "GELU MLP on raw log-normal (heavy-tailed) claim amounts, SGD "
           "lr 0.03 momentum 0.9", _REG8, _CLAIMS, 32, "MSELoss", 'name = "SGD"\nlr = 0.03\nmomentum = 0.9', 250,
           99), "unstable"),
    (_case("corrupt_labels_sgd", "regression", "GELU MLP regression with three +-300 data-entry-error labels "
           "(outlier batches), SGD lr 0.01 momentum 0.9", _REG8, _CORRUPT, 32, "MSELoss",
           'name = "SGD"\nlr = 0.01\nmomentum = 0.9', 250, 102), "unstable"),
    (_case("cnn1d_waves_sgd", "cnn", "1-D CNN without batch norm classifying waveforms, SGD lr 1.0, no momentum",
           _CNN1D, _WAVES, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 1.0', 200, 105), "unstable"),
    (_case("postnorm_max_adamw", "transformer", "post-norm transformer computing running maxima, AdamW lr 0.02, "
           "no warmup", _POST_LN, _MAX, 32, "CrossEntropyLoss", 'name = "AdamW"\nlr = 0.02', 250, 108), "unstable"),
    (_case("prenorm_max_sgd_mom", "transformer", "pre-norm transformer computing running maxima, SGD lr 0.3 "
           "momentum 0.9 (trains for ~180 steps, then non-finite)", _PRE_LN, _MAX, 32, "CrossEntropyLoss",
           'name = "SGD"\nlr = 0.3\nmomentum = 0.9', 200, 111), "unstable"),
    # -- healthy
    (_case("healthy_lstm_ar2_adam", "recurrent", "LSTM forecasting AR(2) series, Adam lr 2e-3", _LSTM_FC, _AR2, 64,
           "MSELoss", 'name = "Adam"\nlr = 2e-3', 250, 85), "healthy"),
    (_case("healthy_deep_bn_rings_sgd", "feed-forward", "8-layer ReLU MLP with batch norm on rings, SGD lr 0.02 "
           "momentum 0.9", _DEEP_BN, _RINGS, 64, "CrossEntropyLoss", 'name = "SGD"\nlr = 0.02\nmomentum = 0.9',
           250, 91), "healthy"),
    (_case("healthy_house_sgd", "regression", "ReLU MLP on a standardised price target, SGD lr 0.01 momentum 0.9",
           _REG, _HOUSE, 32, "MSELoss", 'name = "SGD"\nlr = 0.01\nmomentum = 0.9', 250, 97), "healthy"),
    (_case("healthy_cnn1d_bn_sgd", "cnn", "1-D CNN with batch norm classifying waveforms, SGD lr 0.05 momentum "
           "0.9", _CNN1D_BN, _WAVES, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200, 106),
     "healthy"),
    (_case("healthy_house_adamw", "regression", "ReLU MLP on a standardised price target, AdamW lr 1e-3 "
           "weight decay 0.01", _REG, _HOUSE, 32, "MSELoss", 'name = "AdamW"\nlr = 1e-3\nweight_decay = 0.01', 250,
           115), "healthy"),
]

SPLIT = "held-out-4"
__getattr__ = lazy_cases("FRESH4", SPECS, SPLIT)  # PEP 562: FRESH4 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(check_labels(SPECS, sys.modules[__name__], SPLIT))
