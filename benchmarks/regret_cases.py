"""Unstable training cases for `benchmarks/recommend_regret.py`.

Each case is a gradscope TOML config (a string; `{cases}` stands for this file's absolute path) plus the model
and data factories below. Every case trains a small model on data generated in code from a seeded
`torch.Generator`, on the CPU, for 150-300 steps, with an optimizer and learning rate that make the unclipped
run unstable (non-finite, divergent or spiking), while some clip threshold trains it well.

The cases were chosen from the unclipped run and the threshold grid alone (the plain loop of the benchmark),
never by looking at what `gradscope recommend` picks: they are not tuned to the recommender, and they are not
the bundled samples in sample_models/.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

# ------------------------------------------------------------------------------------------------------------
# Models


class SeqRegressor(nn.Module):
    """A recurrent net (vanilla tanh RNN, LSTM or GRU) reading a sequence; a linear head on the last state."""

    def __init__(self, cell: str = "rnn", inputs: int = 2, hidden: int = 32, outputs: int = 1,
                 recurrent_gain: float = 1.0) -> None:
        super().__init__()
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = kind(input_size=inputs, hidden_size=hidden, batch_first=True)
        if recurrent_gain != 1.0:
            with torch.no_grad():
                w = self.rnn.weight_hh_l0
                for block in w.split(hidden, 0):  # one square block per gate
                    nn.init.orthogonal_(block)
                    block.mul_(recurrent_gain)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_recurrent(cell: str = "rnn", inputs: int = 2, hidden: int = 32, outputs: int = 1,
                    recurrent_gain: float = 1.0) -> nn.Module:
    return SeqRegressor(cell, inputs, hidden, outputs, recurrent_gain)


def build_mlp(inputs: int = 16, width: int = 64, depth: int = 8, outputs: int = 1, activation: str = "relu",
              gain: float = 1.0) -> nn.Module:
    """A plain MLP (no normalisation, no residuals); `gain` scales the default init of every hidden layer."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[activation]
    layers: list[nn.Module] = []
    n_in = inputs
    for _ in range(depth - 1):
        linear = nn.Linear(n_in, width)
        with torch.no_grad():
            linear.weight.mul_(gain)
        layers += [linear, act()]
        n_in = width
    layers.append(nn.Linear(n_in, outputs))
    return nn.Sequential(*layers)


class TinyTransformer(nn.Module):
    """A post-norm transformer encoder; per-token logits shaped (batch, vocab, seq) for CrossEntropyLoss."""

    def __init__(self, vocab: int = 16, d_model: int = 32, heads: int = 2, layers: int = 2, seq_len: int = 12,
                 norm_first: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(seq_len, d_model) * 0.1)
        block = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids) + self.pos[: ids.shape[1]]
        return self.head(self.encoder(h)).transpose(1, 2)


def build_transformer(vocab: int = 16, d_model: int = 32, heads: int = 2, layers: int = 2, seq_len: int = 12,
                      norm_first: bool = False) -> nn.Module:
    return TinyTransformer(vocab, d_model, heads, layers, seq_len, norm_first)


class TinyGPT(nn.Module):
    """A nanoGPT-shaped decoder: token and position embeddings, pre-norm blocks of causal self-attention and a
    GELU MLP, a final LayerNorm and a head tied to the token embedding; logits shaped (batch, vocab, seq)."""

    def __init__(self, vocab: int = 64, d_model: int = 64, heads: int = 4, layers: int = 2, seq_len: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(seq_len, d_model)
        block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        self.head.weight = self.embed.weight  # weight tying, as nanoGPT
        for name, p in self.named_parameters():  # nanoGPT's init: N(0, 0.02), residual projections scaled down
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("out_proj.weight", "linear2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(seq_len), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.embed(ids) + self.pos(torch.arange(t, device=ids.device))
        h = self.blocks(h, mask=self.causal[:t, :t], is_causal=True)
        return self.head(self.norm(h)).transpose(1, 2)


def build_gpt(vocab: int = 64, d_model: int = 64, heads: int = 4, layers: int = 2, seq_len: int = 32) -> nn.Module:
    return TinyGPT(vocab, d_model, heads, layers, seq_len)


# ------------------------------------------------------------------------------------------------------------
# Data (each factory returns a TensorDataset; gradscope and the plain loop batch it with a seeded DataLoader)

Dataset = torch.utils.data.TensorDataset


def adding_problem(n: int = 1024, seq_len: int = 40, seed: int = 0) -> Dataset:
    """Hochreiter's adding problem: channel 0 is noise in [0, 1], channel 1 marks two positions; sum them."""
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, seq_len, generator=g)
    marks = torch.zeros(n, seq_len)
    first = torch.randint(0, seq_len // 2, (n,), generator=g)
    second = torch.randint(seq_len // 2, seq_len, (n,), generator=g)
    marks[torch.arange(n), first] = 1.0
    marks[torch.arange(n), second] = 1.0
    x = torch.stack([values, marks], dim=-1)
    y = (values * marks).sum(1, keepdim=True)
    return Dataset(x, y)


def delayed_echo(n: int = 1024, seq_len: int = 30, delay: int = 10, seed: int = 0) -> Dataset:
    """Gaussian inputs (2 channels); the target is channel 0 `delay` steps before the end plus half of
    channel 1 at the end."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, seq_len, 2, generator=g)
    y = (x[:, -1 - delay, 0] + 0.5 * x[:, -1, 1]).unsqueeze(1)
    return Dataset(x, y)


def noisy_sine_sequences(n: int = 1024, seq_len: int = 25, seed: int = 0) -> Dataset:
    """Noisy sine waves of random frequency, phase and amplitude; predict the next value (forecasting)."""
    g = torch.Generator().manual_seed(seed)
    freq = 0.1 + 0.4 * torch.rand(n, 1, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    amp = 0.5 + 2.5 * torch.rand(n, 1, generator=g)
    t = torch.arange(seq_len + 1).float().unsqueeze(0)
    wave = amp * torch.sin(freq * t + phase) + 0.1 * torch.randn(n, seq_len + 1, generator=g)
    x = torch.stack([wave[:, :-1], torch.ones(n, seq_len)], dim=-1)
    return Dataset(x, wave[:, -1:].clone())


def gaussian_blobs(n: int = 2048, inputs: int = 16, classes: int = 4, spread: float = 2.0,
                   seed: int = 0) -> Dataset:
    """Gaussian class clusters around random centres (a multi-class classification task)."""
    g = torch.Generator().manual_seed(seed)
    centres = spread * torch.randn(classes, inputs, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    x = centres[labels] + torch.randn(n, inputs, generator=g)
    return Dataset(x, labels)


def heavy_tailed_regression(n: int = 2048, inputs: int = 8, df: float = 1.5, outlier_scale: float = 5.0,
                            seed: int = 0) -> Dataset:
    """y = nonlinear(x) + heavy-tailed noise (tail index `df` < 2: infinite variance): some batches have huge
    residuals."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, generator=g)
    clean = torch.sin(x @ w / math.sqrt(inputs)) * 2 + 0.5 * x[:, 0] * x[:, 1]
    # a Pareto-scaled Gaussian: tail index ~df (infinite variance for df < 2), all from the seeded generator
    z = torch.randn(n, generator=g)
    u = torch.rand(n, generator=g).clamp_min(1e-6)
    noise = z * u.pow(-1.0 / df) * outlier_scale / 10
    return Dataset(x, (clean + noise).unsqueeze(1))


def unscaled_features(n: int = 2048, scales: tuple = (1.0, 1.0, 10.0, 10.0, 100.0, 300.0),
                      seed: int = 0) -> Dataset:
    """Regression on raw features whose scales (and means) span 300x, e.g. age, income in $k, area in m^2:
    not standardised."""
    g = torch.Generator().manual_seed(seed)
    d = len(scales)
    z = torch.randn(n, d, generator=g)
    x = z * torch.tensor(scales, dtype=torch.float32) + torch.tensor(scales, dtype=torch.float32)
    w = torch.randn(d, generator=g)
    y = torch.tanh(z @ w / math.sqrt(d)) * 3 + z[:, 0] * 0.5 + 0.1 * torch.randn(n, generator=g)
    return Dataset(x, y.unsqueeze(1))


def token_reversal(n: int = 2048, seq_len: int = 12, vocab: int = 16, seed: int = 0) -> Dataset:
    """Token sequences; the target at each position is the token at the mirrored position (reverse them)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (n, seq_len), generator=g)
    return Dataset(ids, ids.flip(1).clone())


def markov_tokens(n: int = 2048, seq_len: int = 32, vocab: int = 64, branching: int = 4, seed: int = 0) -> Dataset:
    """Next-token prediction on a random Markov chain: each token is followed by one of `branching` tokens
    (so the loss can fall from log(vocab) toward log(branching)); inputs are ids, targets the ids shifted by one."""
    g = torch.Generator().manual_seed(seed)
    successors = torch.stack([torch.randperm(vocab, generator=g)[:branching] for _ in range(vocab)])
    ids = torch.empty(n, seq_len + 1, dtype=torch.long)
    ids[:, 0] = torch.randint(0, vocab, (n,), generator=g)
    for t in range(seq_len):
        pick = torch.randint(0, branching, (n,), generator=g)
        ids[:, t + 1] = successors[ids[:, t], pick]
    return Dataset(ids[:, :-1].clone(), ids[:, 1:].clone())


# ------------------------------------------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class Case:
    name: str
    family: str  # recurrent / feed-forward / transformer
    description: str
    toml: str  # `{cases}` is replaced by this file's absolute path

    def config_text(self, cases_path: str, threads: int | None = None, reseed: int = 0) -> str:
        text = self.toml.replace("{cases}", cases_path)
        if reseed:
            seed = int(re.search(r"^seed = (\d+)$", text, re.MULTILINE).group(1))
            text = re.sub(r"^seed = \d+$", f"seed = {seed + reseed}", text, flags=re.MULTILINE)
        if threads:
            text += f"threads = {threads}\n"  # the [run] table is the last one of every case
        return text


CASES: list[Case] = [
    Case("rnn_tanh_echo", "recurrent",
         "vanilla tanh RNN (recurrent gain 1.3) recalling an input 10 steps back; SGD lr 0.3, momentum 0.9",
         """
[model]
factory = "{cases}:build_recurrent"
kwargs = { cell = "rnn", inputs = 2, hidden = 48, recurrent_gain = 1.3 }

[data]
factory = "{cases}:delayed_echo"
kwargs = { n = 1024, seq_len = 30, delay = 10 }
batch_size = 32

[loss]
name = "MSELoss"

[optimizer]
name = "SGD"
lr = 0.3
momentum = 0.9

[run]
steps = 200
seed = 0
device = "cpu"
"""),
    Case("lstm_adding", "recurrent",
         "LSTM on the adding problem (length 50); SGD lr 1.0, momentum 0.9",
         """
[model]
factory = "{cases}:build_recurrent"
kwargs = { cell = "lstm", inputs = 2, hidden = 32 }

[data]
factory = "{cases}:adding_problem"
kwargs = { n = 1024, seq_len = 50 }
batch_size = 32

[loss]
name = "MSELoss"

[optimizer]
name = "SGD"
lr = 1.0
momentum = 0.9

[run]
steps = 200
seed = 1
device = "cpu"
"""),
    Case("gru_forecast", "recurrent",
         "GRU forecasting noisy sines of amplitude up to 3; SGD lr 0.5, momentum 0.9",
         """
[model]
factory = "{cases}:build_recurrent"
kwargs = { cell = "gru", inputs = 2, hidden = 32 }

[data]
factory = "{cases}:noisy_sine_sequences"
kwargs = { n = 1024, seq_len = 25 }
batch_size = 32

[loss]
name = "MSELoss"

[optimizer]
name = "SGD"
lr = 0.5
momentum = 0.9

[run]
steps = 200
seed = 2
device = "cpu"
"""),
    Case("deep_mlp", "feed-forward",
         "10-layer ReLU MLP (init gain 1.3, no normalisation) classifying Gaussian blobs; "
         "SGD lr 0.1, momentum 0.9",
         """
[model]
factory = "{cases}:build_mlp"
kwargs = { inputs = 16, width = 64, depth = 10, outputs = 4, activation = "relu", gain = 1.3 }

[data]
factory = "{cases}:gaussian_blobs"
kwargs = { n = 2048, inputs = 16, classes = 4 }
batch_size = 64

[loss]
name = "CrossEntropyLoss"

[optimizer]
name = "SGD"
lr = 0.1
momentum = 0.9

[run]
steps = 200
seed = 3
device = "cpu"
"""),
    Case("outlier_regression", "feed-forward",
         "3-layer tanh MLP regression with heavy-tailed (Pareto-scaled) target noise; "
         "SGD lr 0.05, momentum 0.9",
         """
[model]
factory = "{cases}:build_mlp"
kwargs = { inputs = 8, width = 64, depth = 3, outputs = 1, activation = "tanh" }

[data]
factory = "{cases}:heavy_tailed_regression"
kwargs = { n = 2048, inputs = 8, df = 1.5 }
batch_size = 32

[loss]
name = "MSELoss"

[optimizer]
name = "SGD"
lr = 0.05
momentum = 0.9

[run]
steps = 250
seed = 4
device = "cpu"
"""),
    Case("unscaled_inputs", "feed-forward",
         "2-layer ReLU MLP on raw features spanning 300x in scale (not standardised); SGD lr 1e-4",
         """
[model]
factory = "{cases}:build_mlp"
kwargs = { inputs = 6, width = 32, depth = 2, outputs = 1, activation = "relu" }

[data]
factory = "{cases}:unscaled_features"
kwargs = { n = 2048 }
batch_size = 32

[loss]
name = "MSELoss"

[optimizer]
name = "SGD"
lr = 1e-4

[run]
steps = 250
seed = 5
device = "cpu"
"""),
    Case("tiny_transformer", "transformer",
         "2-layer post-norm transformer (d=32) reversing token sequences; SGD lr 1.5, momentum 0.9",
         """
[model]
factory = "{cases}:build_transformer"
kwargs = { vocab = 16, d_model = 32, heads = 2, layers = 2, seq_len = 12 }

[data]
factory = "{cases}:token_reversal"
kwargs = { n = 2048, seq_len = 12, vocab = 16 }
batch_size = 32

[loss]
name = "CrossEntropyLoss"

[optimizer]
name = "SGD"
lr = 1.5
momentum = 0.9

[run]
steps = 200
seed = 6
device = "cpu"
"""),
    Case("transformer_adam", "transformer",
         "2-layer post-norm transformer (d=32) reversing token sequences; Adam lr 0.03, no warmup",
         """
[model]
factory = "{cases}:build_transformer"
kwargs = { vocab = 16, d_model = 32, heads = 2, layers = 2, seq_len = 12 }

[data]
factory = "{cases}:token_reversal"
kwargs = { n = 2048, seq_len = 12, vocab = 16 }
batch_size = 32

[loss]
name = "CrossEntropyLoss"

[optimizer]
name = "Adam"
lr = 0.03

[run]
steps = 200
seed = 7
device = "cpu"
"""),
    Case("nanogpt_adamw_high_lr", "transformer",
         "nanoGPT-shaped 2-layer pre-norm GPT (d=32, tied head) on Markov-chain tokens; AdamW lr 0.1, no warm-up: "
         "the fix is the learning rate, not a clip",
         """
[model]
factory = "{cases}:build_gpt"
kwargs = { vocab = 32, d_model = 32, heads = 2, layers = 2, seq_len = 16 }

[data]
factory = "{cases}:markov_tokens"
kwargs = { n = 2048, seq_len = 16, vocab = 32, branching = 4 }
batch_size = 32

[loss]
name = "CrossEntropyLoss"

[optimizer]
name = "AdamW"
lr = 0.1
weight_decay = 0.1

[run]
steps = 200
seed = 8
device = "cpu"
"""),
]

CASE_NAMES = [c.name for c in CASES]
QUICK = ["rnn_tanh_echo", "deep_mlp", "tiny_transformer"]
