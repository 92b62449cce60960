"""A sixth held-out split for `benchmarks/guard_regret.py` ("held-out-6"): healthy runs of every family the guard
must leave alone (a deep He-initialised ReLU MLP, a small CNN on synthetic digits, a residual BatchNorm CNN, an
LSTM language model, a small causal transformer; SGD with and without momentum, Adam, AdamW) and unstable runs a
clip saves (too-high learning rates, a run thrown by its first updates, slow growth, a non-finite blow-up).

Written blind to the guard (its code, its README section, its tests and its scores were not read), labelled from
the plain torch loop of benchmarks/recommend_regret.py alone (unclipped run and the 13-point threshold grid).

Same form as guard_cases_fresh3.py: a `GuardCase` per case, a gradscope TOML with `{cases}` standing for the cases
module's path; every factory the TOMLs name is in `FACTORIES`, which guard_cases.py adds to its own namespace.
`BLIND6` is built on first access (fresh_labels.lazy_cases), so either module may be imported first.

    .venv/bin/python benchmarks/guard_cases_blind.py [--cases a,b] [-v]   # verify every label, print the table

Labels as verified (plain loop, one torch thread; fresh_labels.verify's rules): the 8 healthy runs end below
0.45x their first loss and the grid's best clip beats them by at most 4.7% (healthy_digit_cnn_sgd and
healthy_lstm_lm_adam; 0-1% for the others); the 6 unstable ones lose to the grid's best by 48-100% of their
reference (four turn non-finite unclipped: at steps 6, 19, 44 and 143).
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

class HeMLP(nn.Module):
    """`depth` Linear+ReLU layers of `width`, He (Kaiming normal, fan-in) weights and zero biases, a linear head."""

    def __init__(self, inputs: int, width: int, depth: int, outputs: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        n_in = inputs
        for _ in range(depth):
            layers += [nn.Linear(n_in, width), nn.ReLU()]
            n_in = width
        layers.append(nn.Linear(n_in, outputs))
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_he_mlp(inputs: int = 20, width: int = 64, depth: int = 8, outputs: int = 6) -> nn.Module:
    return HeMLP(inputs, width, depth, outputs)


def build_digit_cnn(channels: int = 8, classes: int = 10) -> nn.Module:
    """conv-ReLU-maxpool twice, a linear head on the flattened 2x2 map (LeNet-like, for 8x8 images)."""
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * channels * 4, classes))


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                                  nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


def build_res_bn_cnn(channels: int = 12, blocks: int = 2, classes: int = 10) -> nn.Module:
    """A ResNet-like stem (conv-BN-ReLU), `blocks` residual BatchNorm blocks, global average pooling, a head."""
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
                         *[ResBlock(channels) for _ in range(blocks)], nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(channels, classes))


class LSTMLM(nn.Module):
    """Embedding, one LSTM layer, logits per position (batch, vocab, seq) for CrossEntropyLoss."""

    def __init__(self, vocab: int, embed: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(ids))
        return self.head(out).transpose(1, 2)


def build_lstm_lm(vocab: int = 16, embed: int = 16, hidden: int = 48) -> nn.Module:
    return LSTMLM(vocab, embed, hidden)


class GPTBlock(nn.Module):
    """Pre-LayerNorm causal self-attention and a GELU MLP, each residual."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab: int, d_model: int, heads: int, layers: int, seq_len: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(seq_len, d_model)
        self.blocks = nn.Sequential(*[GPTBlock(d_model, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids) + self.pos(torch.arange(ids.shape[1]))
        return self.head(self.ln(self.blocks(h))).transpose(1, 2)


def build_tiny_gpt(vocab: int = 16, d_model: int = 32, heads: int = 2, layers: int = 2, seq_len: int = 16) -> nn.Module:
    return TinyGPT(vocab, d_model, heads, layers, seq_len)


# -- data -----------------------------------------------------------------------------------------------------

def cluster_classes(n: int = 2048, inputs: int = 20, classes: int = 6, centres: int = 3, spread: float = 0.6,
                    scale: float = 1.0, seed: int = 0) -> Dataset:
    """`classes` classes, each a mixture of `centres` Gaussian clusters at random unit-norm-ish centres (times 2),
    then the whole input multiplied by `scale`."""
    g = torch.Generator().manual_seed(seed)
    means = 2.0 * torch.randn(classes * centres, inputs, generator=g) / math.sqrt(inputs) * 2.0
    which = torch.randint(0, classes * centres, (n,), generator=g)
    x = means[which] + spread * torch.randn(n, inputs, generator=g) / math.sqrt(inputs) * 2.0
    return Dataset(scale * x, which % classes)


_SEGMENTS = {  # seven-segment digits: a top, b top-right, c bottom-right, d bottom, e bottom-left, f top-left, g mid
    0: "abcdef", 1: "bc", 2: "abged", 3: "abgcd", 4: "fgbc", 5: "afgcd", 6: "afgedc", 7: "abc", 8: "abcdefg",
    9: "abcdfg"}


def digit_images(n: int = 1536, noise: float = 0.3, seed: int = 0) -> Dataset:
    """8x8 seven-segment digits 0-9 (a 4x6 glyph), placed at a random offset, random stroke intensity, in Gaussian
    noise; the class is the digit."""
    g = torch.Generator().manual_seed(seed)
    glyphs = torch.zeros(10, 6, 4)
    strokes = {"a": (0, slice(0, 4)), "d": (5, slice(0, 4)), "g": (slice(2, 4), slice(0, 4)),
               "f": (slice(0, 3), 0), "b": (slice(0, 3), 3), "e": (slice(3, 6), 0), "c": (slice(3, 6), 3)}
    for digit, segments in _SEGMENTS.items():
        for s in segments:
            r, c = strokes[s]
            if s == "g":
                glyphs[digit, 2, 0:4] = 1.0
            else:
                glyphs[digit, r, c] = 1.0
    labels = torch.randint(0, 10, (n,), generator=g)
    rows = torch.randint(0, 3, (n,), generator=g)
    cols = torch.randint(0, 5, (n,), generator=g)
    ink = 0.7 + 0.6 * torch.rand(n, generator=g)
    images = noise * torch.randn(n, 1, 8, 8, generator=g)
    for k in range(n):
        r, c = int(rows[k]), int(cols[k])
        images[k, 0, r:r + 6, c:c + 4] += ink[k] * glyphs[labels[k]]
    return Dataset(images, labels)


def stride_tokens(n: int = 1024, seq_len: int = 16, vocab: int = 16, flip: float = 0.05, seed: int = 0) -> Dataset:
    """Arithmetic token sequences: a random start and a random stride in 1..3 per row, token t+1 = token t + stride
    (mod vocab), a fraction `flip` replaced by random tokens; next-token prediction (inputs 0..T-1, targets 1..T)."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, vocab, (n, 1), generator=g)
    stride = torch.randint(1, 4, (n, 1), generator=g)
    seqs = (start + stride * torch.arange(seq_len + 1)) % vocab
    noisy = torch.rand(n, seq_len + 1, generator=g) < flip
    seqs = torch.where(noisy, torch.randint(0, vocab, (n, seq_len + 1), generator=g), seqs)
    return Dataset(seqs[:, :-1].clone(), seqs[:, 1:].clone())


def sensor_regression(n: int = 2048, inputs: int = 10, scale: float = 1.0, seed: int = 0) -> Dataset:
    """A smooth nonlinear regression of `inputs` readings of magnitude `scale` (x ~ scale * N(0, 1)); the target is
    a linear part, a sine and a product of the unscaled readings, plus noise."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    y = z @ w + 0.5 * torch.sin(2 * z[:, 0]) + 0.3 * z[:, 1] * z[:, 2] + 0.1 * torch.randn(n, generator=g)
    return Dataset(scale * z, y.unsqueeze(1))


# The factories the TOMLs below name (none clashing with guard_cases, regret_cases or the guard_cases_fresh*
# splits): guard_cases.py puts these into its globals.
FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "build_he_mlp", "build_digit_cnn", "build_res_bn_cnn", "build_lstm_lm", "build_tiny_gpt", "cluster_classes",
    "digit_images", "stride_tokens", "sensor_regression")}


# -- cases ----------------------------------------------------------------------------------------------------

_HE_MLP = _m("build_he_mlp", "inputs = 20, width = 64, depth = 8, outputs = 6")
_HE_MLP_REG = _m("build_he_mlp", "inputs = 10, width = 64, depth = 4, outputs = 1")
_CLUSTERS = _m("cluster_classes", "n = 2048, inputs = 20, classes = 6")
_DIGIT_CNN = _m("build_digit_cnn", "channels = 8, classes = 10")
_RES_CNN = _m("build_res_bn_cnn", "channels = 12, blocks = 2, classes = 10")
_DIGITS = _m("digit_images", "n = 1536, noise = 0.3")
_LSTM = _m("build_lstm_lm", "vocab = 16, embed = 16, hidden = 48")
_GPT = _m("build_tiny_gpt", "vocab = 16, d_model = 32, heads = 2, layers = 2, seq_len = 16")
_TOKENS = _m("stride_tokens", "n = 1024, seq_len = 16, vocab = 16")
_SENSORS_BIG = _m("sensor_regression", "n = 2048, inputs = 10, scale = 8.0")

_CE = "CrossEntropyLoss"

# (case, kind): the split of every one is "held-out-6"
SPECS: list[tuple[Case, str]] = [
    # -- healthy
    (_case("healthy_he_mlp_sgd_mom", "feed-forward", "8-layer He-initialised ReLU MLP on clustered classes, SGD "
           "lr 0.02 momentum 0.9", _HE_MLP, _CLUSTERS, 64, _CE, 'name = "SGD"\nlr = 0.02\nmomentum = 0.9', 200, 201),
     "healthy"),
    (_case("healthy_he_mlp_sgd", "feed-forward", "8-layer He-initialised ReLU MLP on clustered classes, plain SGD "
           "lr 0.05", _HE_MLP, _CLUSTERS, 64, _CE, 'name = "SGD"\nlr = 0.05', 200, 202), "healthy"),
    (_case("healthy_digit_cnn_adam", "cnn", "LeNet-like CNN on 8x8 seven-segment digits, Adam lr 3e-3",
           _DIGIT_CNN, _DIGITS, 32, _CE, 'name = "Adam"\nlr = 3e-3', 200, 203), "healthy"),
    (_case("healthy_res_bn_cnn_sgd_mom", "cnn", "residual BatchNorm CNN on 8x8 digits, SGD lr 0.05 momentum 0.9",
           _RES_CNN, _DIGITS, 32, _CE, 'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 150, 204), "healthy"),
    (_case("healthy_lstm_lm_adam", "recurrent", "LSTM language model on stride token sequences, Adam lr 5e-3",
           _LSTM, _TOKENS, 32, _CE, 'name = "Adam"\nlr = 5e-3', 200, 205), "healthy"),
    (_case("healthy_lstm_lm_sgd_mom", "recurrent", "LSTM language model on stride token sequences, SGD lr 1 "
           "momentum 0.9", _LSTM, _TOKENS, 32, _CE, 'name = "SGD"\nlr = 1.0\nmomentum = 0.9', 200, 206), "healthy"),
    (_case("healthy_gpt_adamw", "transformer", "pre-LN causal transformer on stride token sequences, AdamW lr 2e-3",
           _GPT, _TOKENS, 32, _CE, 'name = "AdamW"\nlr = 2e-3\nweight_decay = 0.01', 200, 207), "healthy"),
    (_case("healthy_digit_cnn_sgd", "cnn", "LeNet-like CNN on 8x8 seven-segment digits, plain SGD lr 0.3",
           _DIGIT_CNN, _DIGITS, 32, _CE, 'name = "SGD"\nlr = 0.3', 200, 208), "healthy"),
    # -- unstable
    (_case("he_mlp_sgd_mom_high_lr", "feed-forward", "8-layer He-initialised ReLU MLP on clustered classes, SGD "
           "lr 0.3 momentum 0.9", _HE_MLP, _CLUSTERS, 64, _CE, 'name = "SGD"\nlr = 0.3\nmomentum = 0.9', 200, 211),
     "unstable"),
    (_case("digit_cnn_sgd_thrown", "cnn", "LeNet-like CNN on 8x8 digits, plain SGD lr 2 (its first updates throw "
           "it)", _DIGIT_CNN, _DIGITS, 32, _CE, 'name = "SGD"\nlr = 2.0', 200, 212), "unstable"),
    (_case("lstm_lm_sgd_explodes", "recurrent", "LSTM language model on stride token sequences, SGD lr 30",
           _LSTM, _TOKENS, 32, _CE, 'name = "SGD"\nlr = 30.0', 200, 213), "unstable"),
    (_case("gpt_sgd_mom_high_lr", "transformer", "pre-LN causal transformer on stride tokens, SGD lr 2 momentum "
           "0.9", _GPT, _TOKENS, 32, _CE, 'name = "SGD"\nlr = 2.0\nmomentum = 0.9', 200, 214), "unstable"),
    (_case("he_mlp_sgd_mom_growth", "feed-forward", "8-layer He-initialised ReLU MLP on clustered classes, SGD "
           "lr 0.05 momentum 0.9 (trains to ~1e-3, then grows and turns non-finite)", _HE_MLP, _CLUSTERS, 64, _CE,
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200, 220), "unstable"),
    (_case("sensor_scale8_nonfinite", "regression", "4-layer He ReLU MLP on sensor readings of scale 8, MSE, SGD lr "
           "8e-4 momentum 0.9 (non-finite within 10 steps)", _HE_MLP_REG, _SENSORS_BIG, 32, "MSELoss",
           'name = "SGD"\nlr = 8e-4\nmomentum = 0.9', 200, 215), "unstable"),
]

SPLIT = "held-out-6"
__getattr__ = lazy_cases("BLIND6", SPECS, SPLIT)  # PEP 562: BLIND6 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(check_labels(SPECS, sys.modules[__name__], SPLIT))
