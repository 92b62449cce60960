"""A third held-out split for `benchmarks/guard_regret.py` ("held-out-3"): unstable and healthy cases written
blind to the guard (its code, its README section and its tests were not read), labelled from the plain torch
loop of benchmarks/recommend_regret.py alone (unclipped run and the 13-point threshold grid).

Same form as guard_cases.py: a `GuardCase` per case, a gradscope TOML with `{cases}` standing for the cases
module's path. Every factory the TOML names is in `FACTORIES`, which guard_cases.py adds to its own namespace
at its end, beside this split, so a case resolves whether `{cases}` is this file or guard_cases.py. `FRESH3`
is built on first access (fresh_labels.lazy_cases), so either module may be imported first.

    .venv/bin/python benchmarks/guard_cases_fresh.py [--cases a,b]   # verify every label, print the table
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import regret_cases
import torch
from fresh_labels import check_labels, lazy_cases
from fresh_labels import make_case as _case
from regret_cases import Case
from torch import nn

Dataset = torch.utils.data.TensorDataset

# regret_cases' factories used below (the same objects guard_cases re-exports), so the cases also resolve here
build_recurrent = regret_cases.build_recurrent
build_transformer = regret_cases.build_transformer


# -- models ---------------------------------------------------------------------------------------------------

class ResMLP(nn.Module):
    """An input projection, `blocks` residual blocks h + W2 act(W1 norm(h)), a linear head. norm: "none",
    "layer" (pre-norm LayerNorm in every block, and before the head)."""

    def __init__(self, inputs: int, width: int, blocks: int, outputs: int, norm: str, activation: str,
                 branch_gain: float) -> None:
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[activation]
        self.inp = nn.Linear(inputs, width)
        self.norms = nn.ModuleList(nn.LayerNorm(width) if norm == "layer" else nn.Identity() for _ in range(blocks))
        self.branches = nn.ModuleList(nn.Sequential(nn.Linear(width, width), act(), nn.Linear(width, width))
                                      for _ in range(blocks))
        if branch_gain != 1.0:
            with torch.no_grad():
                for b in self.branches:
                    b[2].weight.mul_(branch_gain)
        self.out_norm = nn.LayerNorm(width) if norm == "layer" else nn.Identity()
        self.head = nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for norm, branch in zip(self.norms, self.branches):
            h = h + branch(norm(h))
        return self.head(self.out_norm(h))


def build_res_mlp(inputs: int = 2, width: int = 32, blocks: int = 3, outputs: int = 3, norm: str = "none",
                  activation: str = "relu", branch_gain: float = 1.0) -> nn.Module:
    return ResMLP(inputs, width, blocks, outputs, norm, activation, branch_gain)


class BNConvNet(nn.Module):
    """conv-BN-ReLU, max-pool, conv-BN-ReLU, global average pool, linear head (batch norm: train mode)."""

    def __init__(self, channels: int, classes: int, batch_norm: bool) -> None:
        super().__init__()
        bn = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.features = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), bn(channels), nn.ReLU(),
                                      nn.MaxPool2d(2),
                                      nn.Conv2d(channels, 2 * channels, 3, padding=1), bn(2 * channels), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(2 * channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_bn_cnn(channels: int = 6, classes: int = 3, batch_norm: bool = True) -> nn.Module:
    return BNConvNet(channels, classes, batch_norm)


def build_wide_linear(inputs: int = 256, outputs: int = 5) -> nn.Module:
    """Multinomial logistic (or linear) regression on many features."""
    return nn.Linear(inputs, outputs)


class AutoEncoder(nn.Module):
    def __init__(self, inputs: int, hidden: int, code: int, activation: str) -> None:
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[activation]
        self.net = nn.Sequential(nn.Linear(inputs, hidden), act(), nn.Linear(hidden, code),
                                 nn.Linear(code, hidden), act(), nn.Linear(hidden, inputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_autoencoder(inputs: int = 32, hidden: int = 48, code: int = 6, activation: str = "tanh") -> nn.Module:
    return AutoEncoder(inputs, hidden, code, activation)


class StackedLM(nn.Module):
    """A character language model: embedding, `layers` LSTM/GRU/RNN layers, logits per position (B, vocab, T)."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, cell: str) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = kind(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.head(out).transpose(1, 2)


def build_stacked_lm(vocab: int = 16, embed: int = 12, hidden: int = 40, layers: int = 2,
                     cell: str = "lstm") -> nn.Module:
    return StackedLM(vocab, embed, hidden, layers, cell)


class ReluRNN(nn.Module):
    """A ReLU Elman RNN (identity-scaled recurrent init, as IRNN) with a linear head on the last state."""

    def __init__(self, inputs: int, hidden: int, outputs: int, recurrent_scale: float) -> None:
        super().__init__()
        self.rnn = nn.RNN(inputs, hidden, nonlinearity="relu", batch_first=True)
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(recurrent_scale * torch.eye(hidden))
            self.rnn.bias_hh_l0.zero_()
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_relu_rnn(inputs: int = 2, hidden: int = 32, outputs: int = 1, recurrent_scale: float = 1.0) -> nn.Module:
    return ReluRNN(inputs, hidden, outputs, recurrent_scale)


# -- data -----------------------------------------------------------------------------------------------------

def word_text(n: int = 512, seq_len: int = 24, vocab: int = 16, words: int = 24, seed: int = 0) -> Dataset:
    """Character streams of words drawn (Zipf-like) from a random lexicon of 2-5 letter words over tokens
    1..vocab-1, separated by token 0; inputs are tokens 0..T-1 of a window, targets tokens 1..T."""
    g = torch.Generator().manual_seed(seed)
    lexicon = [torch.randint(1, vocab, (int(torch.randint(2, 6, (1,), generator=g)),), generator=g).tolist()
               for _ in range(words)]
    weights = 1.0 / torch.arange(1, words + 1, dtype=torch.float32)
    stream: list[int] = []
    need = n * (seq_len + 1)
    while len(stream) < need:
        for w in torch.multinomial(weights, 256, replacement=True, generator=g).tolist():
            stream += lexicon[w] + [0]
    seqs = torch.tensor(stream[:need]).view(n, seq_len + 1)
    return Dataset(seqs[:, :-1].clone(), seqs[:, 1:].clone())


def temporal_order(n: int = 1024, seq_len: int = 20, seed: int = 0) -> Dataset:
    """Hochreiter's temporal-order problem: one-hot distractors (4 symbols) with two markers X/Y at random
    places in the first and second half; the class (4) is the order of the markers (XX, XY, YX, YY)."""
    g = torch.Generator().manual_seed(seed)
    symbols = torch.randint(0, 4, (n, seq_len), generator=g)
    first = torch.randint(1, seq_len // 2, (n,), generator=g)
    second = torch.randint(seq_len // 2, seq_len - 1, (n,), generator=g)
    a = torch.randint(0, 2, (n,), generator=g)
    b = torch.randint(0, 2, (n,), generator=g)
    rows = torch.arange(n)
    symbols[rows, first] = 4 + a
    symbols[rows, second] = 4 + b
    x = nn.functional.one_hot(symbols, 6).float()
    return Dataset(x, 2 * a + b)


def shape_images(n: int = 1024, size: int = 10, noise: float = 0.4, seed: int = 0) -> Dataset:
    """size x size images of one of three shapes (filled 3x3 square, hollow 4x4 square, plus sign) at a
    random place and random contrast, in Gaussian noise; the class is the shape."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=g)
    rows = torch.randint(0, size - 4, (n,), generator=g).tolist()
    cols = torch.randint(0, size - 4, (n,), generator=g).tolist()
    contrast = (0.6 + 0.8 * torch.rand(n, generator=g)).tolist()
    images = noise * torch.randn(n, 1, size, size, generator=g)
    for i, c in enumerate(labels.tolist()):
        r, q, k = rows[i], cols[i], contrast[i]
        if c == 0:
            images[i, 0, r:r + 3, q:q + 3] += k
        elif c == 1:
            images[i, 0, r:r + 4, q:q + 4] += k
            images[i, 0, r + 1:r + 3, q + 1:q + 3] -= k
        else:
            images[i, 0, r + 1, q:q + 3] += k
            images[i, 0, r:r + 3, q + 1] += k
            images[i, 0, r + 1, q + 1] -= k
    return Dataset(images, labels)


def spirals(n: int = 1536, classes: int = 3, turns: float = 1.5, noise: float = 0.15, scale: float = 1.0,
            seed: int = 0) -> Dataset:
    """Interleaved 2-D spirals, one per class, radius up to `scale`."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    r = torch.rand(n, generator=g)
    angle = 2 * math.pi * (turns * r + labels.float() / classes)
    x = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1) + noise * r.unsqueeze(1) * torch.randn(
        n, 2, generator=g)
    return Dataset(scale * x, labels)


def wide_classification(n: int = 2048, inputs: int = 256, classes: int = 5, min_scale: float = 0.1,
                        max_scale: float = 10.0, label_noise: float = 0.1, seed: int = 0) -> Dataset:
    """Many raw features of log-uniform scales in [min_scale, max_scale]; labels from a random linear teacher
    on the standardised features, `label_noise` of them replaced at random."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.exp(torch.empty(inputs).uniform_(math.log(min_scale), math.log(max_scale), generator=g))
    z = torch.randn(n, inputs, generator=g)
    teacher = torch.randn(inputs, classes, generator=g) / math.sqrt(inputs)
    labels = (z @ teacher).argmax(1)
    flip = torch.rand(n, generator=g) < label_noise
    labels[flip] = torch.randint(0, classes, (int(flip.sum()),), generator=g)
    return Dataset(z * scales, labels)


def low_rank_vectors(n: int = 2048, dim: int = 32, rank: int = 4, noise: float = 0.05, scale: float = 1.0,
                     seed: int = 0) -> Dataset:
    """Points near a curved rank-`rank` manifold in `dim` dimensions (x = scale * tanh(z A) + noise); the
    target is the input (reconstruction)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, rank, generator=g)
    a = torch.randn(rank, dim, generator=g)
    x = scale * (torch.tanh(z @ a) + noise * torch.randn(n, dim, generator=g))
    return Dataset(x, x.clone())


def token_sort(n: int = 2048, seq_len: int = 10, vocab: int = 12, seed: int = 0) -> Dataset:
    """Token sequences; the target at each position is the sorted sequence's token there."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (n, seq_len), generator=g)
    return Dataset(ids, ids.sort(1).values.clone())


def polynomial_features(n: int = 2048, degree: int = 4, span: float = 2.0, noise: float = 0.1,
                        seed: int = 0) -> Dataset:
    """Raw (unstandardised) features x, x^2, .., x^degree of x ~ U(-span, span); y = sin(2x) + x/2 + noise."""
    g = torch.Generator().manual_seed(seed)
    x = span * (2 * torch.rand(n, generator=g) - 1)
    feats = torch.stack([x ** k for k in range(1, degree + 1)], 1)
    y = torch.sin(2 * x) + 0.5 * x + noise * torch.randn(n, generator=g)
    return Dataset(feats, y.unsqueeze(1))


def long_sum(n: int = 1024, seq_len: int = 40, seed: int = 0) -> Dataset:
    """Positive inputs u ~ U(0, 1) on channel 0, a constant 1 on channel 1; the target is the mean of
    channel 0 over the second half of the sequence."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, seq_len, generator=g)
    x = torch.stack([u, torch.ones(n, seq_len)], -1)
    return Dataset(x, u[:, seq_len // 2:].mean(1, keepdim=True))


# The factories the TOMLs below name (new ones; regret_cases' build_recurrent and build_transformer are already
# re-exported by guard_cases): guard_cases.py puts these into its globals.
FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "build_res_mlp", "build_bn_cnn", "build_wide_linear", "build_autoencoder", "build_stacked_lm",
    "build_relu_rnn", "word_text", "temporal_order", "shape_images", "spirals", "wide_classification",
    "low_rank_vectors", "token_sort", "polynomial_features", "long_sum")}


# -- cases ----------------------------------------------------------------------------------------------------

# (case, kind): the split of every one is "held-out-3"
_LSTM_LM = ('factory = "{cases}:build_stacked_lm"\n'
            'kwargs = { vocab = 16, embed = 12, hidden = 48, layers = 1, cell = "lstm" }')
_WORDS = 'factory = "{cases}:word_text"\nkwargs = { n = 512, seq_len = 16, vocab = 16 }'
_IRNN = 'factory = "{cases}:build_relu_rnn"\nkwargs = { inputs = 2, hidden = 32, outputs = 1 }'
_SUM = 'factory = "{cases}:long_sum"\nkwargs = { n = 1024, seq_len = 40 }'
_WIDE = 'factory = "{cases}:build_wide_linear"\nkwargs = { inputs = 256, outputs = 5 }'
_WIDE_DATA = 'factory = "{cases}:wide_classification"\nkwargs = { n = 2048, inputs = 256 }'
_RES = ('factory = "{cases}:build_res_mlp"\n'
        'kwargs = { inputs = 2, width = 32, blocks = 3, outputs = 3, norm = "none", branch_gain = 2.0 }')
_RES_LN = ('factory = "{cases}:build_res_mlp"\n'
           'kwargs = { inputs = 2, width = 32, blocks = 3, outputs = 3, norm = "layer" }')
_SPIRALS = 'factory = "{cases}:spirals"\nkwargs = { n = 1536, turns = 1.0 }'
_SPIRALS_WIDE = 'factory = "{cases}:spirals"\nkwargs = { n = 1536, scale = 3.0 }'
_PRE_LN = ('factory = "{cases}:build_transformer"\n'
           'kwargs = { vocab = 12, d_model = 32, heads = 4, layers = 2, seq_len = 10, norm_first = true }')
_SORT = 'factory = "{cases}:token_sort"\nkwargs = { n = 2048, seq_len = 10, vocab = 12 }'
_CNN = 'factory = "{cases}:build_bn_cnn"\nkwargs = { channels = 6, classes = 3, batch_norm = false }'
_BN_CNN = 'factory = "{cases}:build_bn_cnn"\nkwargs = { channels = 6, classes = 3 }'
_SHAPES = 'factory = "{cases}:shape_images"\nkwargs = { n = 1024 }'
_TANH_RNN = ('factory = "{cases}:build_recurrent"\n'
             'kwargs = { cell = "rnn", inputs = 6, hidden = 32, outputs = 4 }')
_ORDER = 'factory = "{cases}:temporal_order"\nkwargs = { n = 1024, seq_len = 20 }'
_RELU_AE = ('factory = "{cases}:build_autoencoder"\n'
            'kwargs = { inputs = 32, hidden = 48, code = 6, activation = "relu" }')
_TANH_AE = 'factory = "{cases}:build_autoencoder"\nkwargs = { inputs = 32, hidden = 48, code = 6 }'
_MANIFOLD = 'factory = "{cases}:low_rank_vectors"\nkwargs = { n = 2048, dim = 32 }'
_MANIFOLD3 = 'factory = "{cases}:low_rank_vectors"\nkwargs = { n = 2048, dim = 32, scale = 3.0 }'
_POLY_LIN = 'factory = "{cases}:build_wide_linear"\nkwargs = { inputs = 4, outputs = 1 }'
_POLY = 'factory = "{cases}:polynomial_features"\nkwargs = { n = 2048, degree = 4 }'

SPECS: list[tuple[Case, str]] = [
    # -- unstable
    (_case("lstm_words_sgd", "recurrent", "1-layer LSTM character LM on a word stream, SGD lr 20 (diverges, finite)",
           _LSTM_LM, _WORDS, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 20.0', 200, 40), "unstable"),
    (_case("irnn_long_sum", "recurrent", "ReLU RNN (identity recurrent init) averaging 20 of 40 steps, SGD lr 2e-3 "
           "(explodes in the first steps)", _IRNN, _SUM, 32, "MSELoss", 'name = "SGD"\nlr = 2e-3', 250, 45),
     "unstable"),
    (_case("tanh_rnn_order_sgd", "recurrent", "tanh RNN on the temporal-order problem, SGD lr 1.0, no momentum "
           "(blows up late)", _TANH_RNN, _ORDER, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 1.0', 300, 69),
     "unstable"),
    (_case("wide_logreg_sgd", "linear", "logistic regression on 256 raw features of scales 0.1..10, SGD lr 0.25",
           _WIDE, _WIDE_DATA, 64, "CrossEntropyLoss", 'name = "SGD"\nlr = 0.25', 250, 47), "unstable"),
    (_case("resmlp_spirals_sgd", "feed-forward", "residual ReLU MLP, no normalisation, branch gain 2, on spirals; "
           "SGD lr 0.2 momentum 0.9 (non-finite mid-run)", _RES, _SPIRALS, 32, "CrossEntropyLoss",
           'name = "SGD"\nlr = 0.2\nmomentum = 0.9', 250, 50), "unstable"),
    (_case("prenorm_sort_sgd", "transformer", "pre-norm transformer sorting tokens, SGD lr 2.0, no momentum "
           "(non-finite in the first steps)", _PRE_LN, _SORT, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 2.0',
           200, 58), "unstable"),
    (_case("cnn_shapes_rmsprop", "cnn", "CNN without batch norm classifying shapes, RMSprop lr 0.01", _CNN,
           _SHAPES, 32, "CrossEntropyLoss", 'name = "RMSprop"\nlr = 0.01', 200, 53), "unstable"),
    (_case("relu_ae_adam", "autoencoder", "ReLU autoencoder on a scale-3 curved manifold, Adam lr 0.1", _RELU_AE,
           _MANIFOLD3, 64, "MSELoss", 'name = "Adam"\nlr = 0.1', 250, 61), "unstable"),
    (_case("tanh_ae_adagrad", "autoencoder", "tanh autoencoder on a curved manifold, Adagrad lr 1.0", _TANH_AE,
           _MANIFOLD, 64, "MSELoss",
           'name = "Adagrad"\nlr = 1.0', 250, 59), "unstable"),
    # -- healthy
    (_case("healthy_lstm_words_adam", "recurrent", "1-layer LSTM character LM on a word stream, Adam lr 3e-3 "
           "(still improving at the end)", _LSTM_LM, _WORDS, 32, "CrossEntropyLoss", 'name = "Adam"\nlr = 3e-3',
           250, 41), "healthy"),
    (_case("healthy_lstm_words_sgd", "recurrent", "1-layer LSTM character LM on a word stream, SGD lr 8",
           _LSTM_LM, _WORDS, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 8.0', 250, 68), "healthy"),
    (_case("healthy_resmlp_ln_adamw", "feed-forward", "pre-LayerNorm residual MLP on spirals, AdamW lr 2e-3 "
           "weight decay 0.01", _RES_LN, _SPIRALS_WIDE, 32, "CrossEntropyLoss",
           'name = "AdamW"\nlr = 2e-3\nweight_decay = 0.01', 250, 43), "healthy"),
    (_case("healthy_bn_cnn_sgd", "cnn", "CNN with batch norm classifying shapes, SGD lr 0.05 momentum 0.9",
           _BN_CNN, _SHAPES, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200, 44),
     "healthy"),
    (_case("healthy_prenorm_sort_adamw", "transformer", "pre-norm transformer sorting tokens, AdamW lr 0.02 "
           "(still improving at the end)", _PRE_LN, _SORT, 32, "CrossEntropyLoss", 'name = "AdamW"\nlr = 0.02',
           200, 49), "healthy"),
    (_case("healthy_poly_sgd", "linear", "linear regression on raw polynomial features x..x^4, SGD lr 0.025",
           _POLY_LIN, _POLY, 32, "MSELoss", 'name = "SGD"\nlr = 0.025', 250, 70), "healthy"),
]

SPLIT = "held-out-3"
__getattr__ = lazy_cases("FRESH3", SPECS, SPLIT)  # PEP 562: FRESH3 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(check_labels(SPECS, sys.modules[__name__], SPLIT, unstable_min_gain=0.2, healthy_max_gain=0.1))
