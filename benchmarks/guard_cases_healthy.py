"""Healthy runs for `benchmarks/guard_regret.py` ("healthy-2"): the families where the guard's first start ramp
moved held-out healthy runs' late loss by 3.5% to 39.7% (issue 22) while the benchmark's own healthy runs said
at most 4.8%: deep He-initialised ReLU MLPs, small CNNs on digits, residual batch-norm CNNs, LSTM language
models; and the rest of every family (transformers, GRUs), under SGD with and without momentum, Adam and AdamW.

A guard users can leave on must not move these: harm = late loss under the guard / unguarded late loss - 1,
goal within 1%. The split was written to tune the guard on (its harm side); the blind split written by
another helper scores it.

Same form as guard_cases_fresh3.py: `FACTORIES` join guard_cases.py's namespace (the cases also name factories of
the other case modules, which resolve there), `HEALTHY2` is built on first access.

    .venv/bin/python benchmarks/guard_cases_healthy.py [--cases a,b] [-v]   # verify every label
"""

from __future__ import annotations

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

def build_kaiming_relu_mlp(inputs: int = 16, width: int = 64, depth: int = 10, outputs: int = 4) -> nn.Module:
    """A deep ReLU MLP with He (Kaiming-normal, fan-in) weights and zero biases: the textbook init for ReLU."""
    layers: list[nn.Module] = []
    n_in = inputs
    for i in range(depth):
        linear = nn.Linear(n_in, outputs if i == depth - 1 else width)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < depth - 1:
            layers.append(nn.ReLU())
        n_in = width
    return nn.Sequential(*layers)


def build_lenet8(channels: int = 8, classes: int = 10) -> nn.Module:
    """A LeNet-style CNN for 8x8 digits: conv-ReLU-maxpool twice, a linear head on the flattened 2x2 maps."""
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * channels * 4, classes))


class _ResBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (a 1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out else
                     nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def build_res_cnn(channels: int = 8, classes: int = 10, blocks: int = 2) -> nn.Module:
    """A small residual batch-norm CNN: a conv-BN-ReLU stem, `blocks` residual blocks (each after the first halves
    the map and doubles the width), global average pooling, a linear head."""
    layers: list[nn.Module] = [nn.Conv2d(1, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
    c = channels
    for i in range(blocks):
        out = c if i == 0 else 2 * c
        layers.append(_ResBlock(c, out, 1 if i == 0 else 2))
        c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))


# -- data -----------------------------------------------------------------------------------------------------

_FONT = ["111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
         "111100111001111", "111100111101111", "111001010010010", "111101111101111", "111101111001111"]  # 3x5 digits


def font_digits(n: int = 1536, noise: float = 0.3, flip: float = 0.05, seed: int = 0) -> Dataset:
    """8x8 images of the digits 0-9 (a 3x5 pixel font, shifted by up to a pixel from the centre), at a random
    contrast, in Gaussian noise; `flip` of the labels replaced by random ones."""
    g = torch.Generator().manual_seed(seed)
    glyphs = torch.tensor([[float(ch) for ch in row] for row in _FONT]).reshape(10, 5, 3)
    labels = torch.randint(0, 10, (n,), generator=g)
    top = torch.randint(0, 3, (n,), generator=g) + 1
    left = torch.randint(0, 3, (n,), generator=g) + 1
    contrast = 0.7 + 0.6 * torch.rand(n, generator=g)
    images = noise * torch.randn(n, 1, 8, 8, generator=g)
    for k in range(n):
        t, s = int(top[k]), int(left[k])
        images[k, 0, t:t + 5, s:s + 3] += contrast[k] * glyphs[labels[k]]
    random_labels = torch.randint(0, 10, (n,), generator=g)
    flips = torch.rand(n, generator=g) < flip
    return Dataset(images, torch.where(flips, random_labels, labels))


FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "build_kaiming_relu_mlp", "build_lenet8", "build_res_cnn", "font_digits")}


# -- cases ----------------------------------------------------------------------------------------------------

_BLOBS = _m("gaussian_blobs", "n = 2048, inputs = 16, classes = 4, spread = 0.5")
_DIGITS = _m("font_digits", "n = 1536")
_TEXT = _m("markov_text", "n = 1024, seq_len = 32, vocab = 24")
_REV = _m("token_reversal", "n = 2048, seq_len = 12, vocab = 16")
_MOTIFS = _m("motif_tokens", "n = 1536, seq_len = 16, vocab = 12")
_HE12 = _m("build_kaiming_relu_mlp", "inputs = 16, width = 64, depth = 12, outputs = 4")
_HE8 = _m("build_kaiming_relu_mlp", "inputs = 16, width = 96, depth = 8, outputs = 4")
_LENET = _m("build_lenet8", "channels = 16, classes = 10")
_RESNET = _m("build_res_cnn", "channels = 8, classes = 10, blocks = 2")
_LSTM = _m("build_char_rnn", 'vocab = 24, hidden = 64, cell = "lstm"')
_GRU = _m("build_char_rnn", 'vocab = 24, hidden = 64, cell = "gru"')
_PRE_LN = _m("build_transformer", "vocab = 16, d_model = 32, heads = 2, layers = 2, seq_len = 12, norm_first = true")
_POST_LN = _m("build_transformer", "vocab = 16, d_model = 32, heads = 2, layers = 2, seq_len = 12")
_GPT = _m("build_causal_lm", "vocab = 12, d_model = 24, heads = 2, layers = 2, seq_len = 16, norm_first = true")
_CE = "CrossEntropyLoss"

SPECS: list[tuple[Case, str]] = [
    (_case("h2_he_mlp12_sgd", "feed-forward", "12-layer He-init ReLU MLP on blobs, SGD lr 0.02", _HE12, _BLOBS,
           32, _CE, 'name = "SGD"\nlr = 0.02', 200, 201), "healthy"),
    (_case("h2_he_mlp12_momentum", "feed-forward", "12-layer He-init ReLU MLP on blobs, SGD lr 0.005 momentum "
           "0.9", _HE12, _BLOBS, 32, _CE, 'name = "SGD"\nlr = 0.005\nmomentum = 0.9', 200, 202), "healthy"),
    (_case("h2_he_mlp8_adam", "feed-forward", "8-layer He-init ReLU MLP (width 96) on blobs, Adam lr 1e-3",
           _HE8, _BLOBS, 64, _CE, 'name = "Adam"\nlr = 1e-3', 200, 203), "healthy"),
    (_case("h2_lenet_digits_momentum", "cnn", "LeNet-style CNN on 8x8 digits, SGD lr 0.05 momentum 0.9", _LENET,
           _DIGITS, 32, _CE, 'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200, 204), "healthy"),
    (_case("h2_lenet_digits_sgd", "cnn", "LeNet-style CNN on 8x8 digits, SGD lr 0.2", _LENET, _DIGITS, 32, _CE,
           'name = "SGD"\nlr = 0.2', 250, 205), "healthy"),
    (_case("h2_lenet_digits_adam", "cnn", "LeNet-style CNN on 8x8 digits, Adam lr 3e-3", _LENET, _DIGITS, 32,
           _CE, 'name = "Adam"\nlr = 3e-3', 200, 206), "healthy"),
    (_case("h2_resnet_digits_momentum", "cnn", "residual batch-norm CNN on 8x8 digits, SGD lr 0.05 momentum 0.9",
           _RESNET, _DIGITS, 32, _CE, 'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 150, 207), "healthy"),
    (_case("h2_resnet_digits_adamw", "cnn", "residual batch-norm CNN on 8x8 digits, AdamW lr 2e-3", _RESNET,
           _DIGITS, 32, _CE, 'name = "AdamW"\nlr = 2e-3\nweight_decay = 0.01', 150, 208), "healthy"),
    (_case("h2_lstm_lm_adam", "recurrent", "LSTM language model on Markov text, Adam lr 3e-3", _LSTM, _TEXT,
           32, _CE, 'name = "Adam"\nlr = 3e-3', 200, 209), "healthy"),
    (_case("h2_lstm_lm_momentum", "recurrent", "LSTM language model on Markov text, SGD lr 1 momentum 0.9",
           _LSTM, _TEXT, 32, _CE, 'name = "SGD"\nlr = 1.0\nmomentum = 0.9', 200, 210), "healthy"),
    (_case("h2_gru_lm_sgd", "recurrent", "GRU language model on Markov text, SGD lr 2", _GRU, _TEXT, 32, _CE,
           'name = "SGD"\nlr = 2.0', 200, 211), "healthy"),
    (_case("h2_prenorm_adamw", "transformer", "pre-norm transformer reversing tokens, AdamW lr 2e-3", _PRE_LN,
           _REV, 32, _CE, 'name = "AdamW"\nlr = 2e-3\nweight_decay = 0.01', 200, 212), "healthy"),
    (_case("h2_postnorm_momentum", "transformer", "post-norm transformer reversing tokens, SGD lr 0.1 momentum "
           "0.9", _POST_LN, _REV, 32, _CE, 'name = "SGD"\nlr = 0.2\nmomentum = 0.9', 200, 213), "healthy"),
    (_case("h2_gpt_motif_adam", "transformer", "pre-norm causal LM copying motifs, Adam lr 3e-3", _GPT, _MOTIFS,
           32, _CE, 'name = "Adam"\nlr = 3e-3', 200, 214), "healthy"),
]

SPLIT = "healthy-2"
__getattr__ = lazy_cases("HEALTHY2", SPECS, SPLIT)  # PEP 562: HEALTHY2 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import guard_cases  # the TOMLs name factories of every case module: they resolve in guard_cases' namespace

    raise SystemExit(check_labels(SPECS, guard_cases, SPLIT))
