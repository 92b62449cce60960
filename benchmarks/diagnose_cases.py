"""Labelled training runs for `benchmarks/diagnose_accuracy.py`: does `gradscope diagnose` get the verdict right?

Each case is a gradscope TOML config (a string; `{cases}` stands for the path of a copy of this file, put next
to the config in a temp folder) plus the model and data factories below. Every case trains a small model on
data generated in code from a seeded `torch.Generator`, on the CPU, in a few seconds.

Families: recurrent (vanilla RNN, LSTM, GRU), deep feed-forward (ReLU, tanh, GELU, sigmoid; 6-16 layers),
linear (linear and logistic regression) and transformer (an encoder classifier, a causal decoder LM).

Expected outcomes (`Case.expected`):

    explode   the unclipped run reaches NaN/Inf (too-high lr, too-wide init, recurrent radius, unscaled inputs)
    growth    it reaches NaN/Inf by sustained exponential growth of the gradient norm (doubling every 1-2
              steps; non-finite after 60-150 steps): gradscope must flag it >= 30 steps before the overflow
    unstable  no NaN/Inf, but the loss spikes or diverges (lr too high for Adam, edge of stability)
    vanish    gradients of early layers orders of magnitude below late ones (deep sigmoid/tanh, small init)
    fine      trains: the loss falls, no spike, nothing non-finite

The settings were chosen from the plain, unclipped torch loop of the benchmark alone (does it go non-finite,
where, how fast does the norm grow, does the loss spike, how do early and late layers' gradient norms
compare): never from what gradscope reports. The benchmark re-checks each label against the plain loop
(`label check` column) so a case that drifts (a new torch, a changed factory) is caught, not mis-scored.
Healthy targets carry label noise, so their losses level off above zero instead of collapsing to ~0, where
relative minibatch noise is no longer a property of the run's health.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

# ------------------------------------------------------------------------------------------------------------
# Models


def _scale_(module: nn.Module, gain: float) -> None:
    """Multiply every weight matrix (2+ dims) of `module` by `gain` (its default init times `gain`)."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() >= 2:
                p.mul_(gain)


class SeqModel(nn.Module):
    """A recurrent net (vanilla RNN, LSTM or GRU; `layers` stacked) reading a sequence, a linear head on the
    last state. `radius` re-initialises each recurrent gate block as an orthogonal matrix times `radius`
    (its spectral radius); `gain` scales every weight matrix's default init."""

    def __init__(self, cell: str, inputs: int, hidden: int, outputs: int, layers: int, nonlinearity: str,
                 radius: float | None, gain: float) -> None:
        super().__init__()
        kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = kind(input_size=inputs, hidden_size=hidden, num_layers=layers, batch_first=True, **kw)
        if gain != 1.0:
            _scale_(self.rnn, gain)
        if radius is not None:
            with torch.no_grad():
                for layer in range(layers):
                    w = getattr(self.rnn, f"weight_hh_l{layer}")
                    for block in w.split(hidden, 0):  # one square block per gate
                        nn.init.orthogonal_(block)
                        block.mul_(radius)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_recurrent(cell: str = "rnn", inputs: int = 2, hidden: int = 32, outputs: int = 1, layers: int = 1,
                    nonlinearity: str = "tanh", radius: float | None = None, gain: float = 1.0) -> nn.Module:
    return SeqModel(cell, inputs, hidden, outputs, layers, nonlinearity, radius, gain)


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}


def build_mlp(inputs: int = 16, width: int = 64, depth: int = 8, outputs: int = 1, activation: str = "relu",
              init: str = "default", gain: float = 1.0, dropout: float = 0.0, layernorm: bool = False) -> nn.Module:
    """A plain MLP of `depth` Linear layers. init: torch's `default`, `kaiming` (He, fan-in), `xavier`
    (Glorot), or `normal` (N(0, gain^2 / fan_in)); `gain` multiplies the default/kaiming/xavier weights."""
    act = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    n_in = inputs
    for i in range(depth):
        last = i == depth - 1
        linear = nn.Linear(n_in, outputs if last else width)
        with torch.no_grad():
            if init == "kaiming":
                nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
                linear.bias.zero_()
            elif init == "xavier":
                nn.init.xavier_normal_(linear.weight)
                linear.bias.zero_()
            elif init == "normal":
                nn.init.normal_(linear.weight, std=1.0 / math.sqrt(n_in))
                linear.bias.zero_()
            linear.weight.mul_(gain)
        layers.append(linear)
        if not last:
            if layernorm:
                layers.append(nn.LayerNorm(width))
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
        n_in = width
    return nn.Sequential(*layers)


def build_linear(inputs: int = 8, outputs: int = 1) -> nn.Module:
    """Linear (or, with BCEWithLogitsLoss, logistic) regression: one nn.Linear."""
    return nn.Linear(inputs, outputs)


class EncoderClassifier(nn.Module):
    """A transformer encoder over tokens, mean-pooled, a linear head: sequence classification."""

    def __init__(self, vocab: int, classes: int, d_model: int, heads: int, layers: int, seq_len: int,
                 norm_first: bool, dropout: float, final_norm: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(seq_len, d_model) * 0.02)
        block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=dropout, batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model) if final_norm else nn.Identity()
        self.head = nn.Linear(d_model, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(ids) + self.pos[: ids.shape[1]])
        return self.head(self.norm(h).mean(1))


def build_encoder(vocab: int = 16, classes: int = 2, d_model: int = 32, heads: int = 2, layers: int = 2,
                  seq_len: int = 16, norm_first: bool = False, dropout: float = 0.0,
                  final_norm: bool = True) -> nn.Module:
    return EncoderClassifier(vocab, classes, d_model, heads, layers, seq_len, norm_first, dropout, final_norm)


class DecoderLM(nn.Module):
    """A causal (GPT-style) transformer LM; a dict batch `{"ids", "targets"}` gives `{"loss", "logits"}`."""

    def __init__(self, vocab: int, d_model: int, heads: int, layers: int, seq_len: int, norm_first: bool,
                 dropout: float, final_norm: bool, embed_scale: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        with torch.no_grad():
            self.embed.weight.mul_(embed_scale)
        self.pos = nn.Parameter(torch.randn(seq_len, d_model) * 0.02)
        block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=dropout, batch_first=True,
                                           norm_first=norm_first)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model) if final_norm else nn.Identity()
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq_len), persistent=False)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        t = ids.shape[1]
        h = self.blocks(self.embed(ids) + self.pos[:t], mask=self.mask[:t, :t], is_causal=True)
        logits = self.head(self.norm(h))
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return {"loss": loss, "logits": logits}


def build_decoder(vocab: int = 16, d_model: int = 32, heads: int = 2, layers: int = 2, seq_len: int = 16,
                  norm_first: bool = True, dropout: float = 0.0, final_norm: bool = True,
                  embed_scale: float = 1.0) -> nn.Module:
    return DecoderLM(vocab, d_model, heads, layers, seq_len, norm_first, dropout, final_norm, embed_scale)


# ------------------------------------------------------------------------------------------------------------
# Data (each factory returns a TensorDataset or a list of dicts; gradscope and the plain loop batch a
# TensorDataset with a DataLoader seeded with the run seed)

Dataset = torch.utils.data.TensorDataset


class DictDataset(torch.utils.data.Dataset):
    """Rows of named tensors; the default collate turns a batch of them into a dict of stacked tensors."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def linear_teacher(n: int = 1024, inputs: int = 8, noise: float = 0.1, spread: float = 1.0, offset: float = 0.0,
                   nonlinear: bool = False, outputs: int = 1, seed: int = 0) -> Dataset:
    """x ~ N(offset, diag(s)^2) with s log-spaced from 1 to `spread` (ill-conditioned, unscaled features when
    spread >> 1); y = teacher(x standardised) + Gaussian noise. `nonlinear`: y = sin + product terms."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, inputs, generator=g)
    scales = torch.logspace(0, math.log10(spread), inputs) if spread != 1.0 else torch.ones(inputs)
    x = z * scales + offset * scales
    w = torch.randn(inputs, outputs, generator=g) / math.sqrt(inputs)
    y = z @ w
    if nonlinear:
        y = torch.sin(2 * y) + 0.5 * z[:, :1] * z[:, 1:2]
    y = y + noise * torch.randn(n, outputs, generator=g)
    return Dataset(x, y)


def logistic_teacher(n: int = 1024, inputs: int = 8, flip: float = 0.1, spread: float = 1.0, offset: float = 0.0,
                     margin: float = 2.0, seed: int = 0) -> Dataset:
    """Binary labels from a linear teacher (margin scales the logit), `flip` of them flipped; float targets
    for BCEWithLogitsLoss. spread/offset: unscaled features as in linear_teacher."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, inputs, generator=g)
    scales = torch.logspace(0, math.log10(spread), inputs) if spread != 1.0 else torch.ones(inputs)
    x = z * scales + offset * scales
    w = torch.randn(inputs, generator=g)
    p = torch.sigmoid(margin * z @ w / w.norm())
    y = (torch.rand(n, generator=g) < p).float()
    flips = torch.rand(n, generator=g) < flip
    y = torch.where(flips, 1 - y, y)
    return Dataset(x, y.unsqueeze(1))


def blobs(n: int = 2048, inputs: int = 16, classes: int = 4, spread: float = 1.5, noise: float = 1.0,
          seed: int = 0) -> Dataset:
    """Gaussian class clusters (overlapping: the best loss stays above zero); integer labels."""
    g = torch.Generator().manual_seed(seed)
    centres = spread * torch.randn(classes, inputs, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    x = centres[labels] + noise * torch.randn(n, inputs, generator=g)
    return Dataset(x, labels)


def sine_forecast(n: int = 1024, seq_len: int = 20, amp: float = 1.0, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Noisy sines of random frequency and phase (amplitude up to `amp`): predict the next value."""
    g = torch.Generator().manual_seed(seed)
    freq = 0.2 + 0.5 * torch.rand(n, 1, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    a = amp * (0.5 + 0.5 * torch.rand(n, 1, generator=g))
    t = torch.arange(seq_len + 1).float()
    wave = a * torch.sin(freq * t + phase) + noise * torch.randn(n, seq_len + 1, generator=g)
    return Dataset(wave[:, :-1].unsqueeze(-1).contiguous(), wave[:, -1:].clone())


def running_sum(n: int = 1024, seq_len: int = 30, scale: float = 1.0, noise: float = 0.05, seed: int = 0) -> Dataset:
    """Gaussian inputs (2 channels) times `scale`; the target is the mean of channel 0 over the last 5 steps
    minus channel 1 at the first step, plus noise (in units of `scale`)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, seq_len, 2, generator=g)
    y = x[:, -5:, 0].mean(1) - 0.5 * x[:, 0, 1] + noise * torch.randn(n, generator=g)
    return Dataset(x * scale, (y * scale).unsqueeze(1))


def token_classes(n: int = 2048, seq_len: int = 16, vocab: int = 16, flip: float = 0.05, seed: int = 0) -> Dataset:
    """Token sequences; the label says whether more tokens are in the upper half of the vocabulary than in the
    lower half (`flip` of the labels flipped)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (n, seq_len), generator=g)
    y = ((ids >= vocab // 2).sum(1) * 2 > seq_len).long()
    flips = torch.rand(n, generator=g) < flip
    return Dataset(ids, torch.where(flips, 1 - y, y))


def markov_text(n: int = 1024, seq_len: int = 16, vocab: int = 16, temperature: float = 0.7,
                seed: int = 0) -> DictDataset:
    """Sequences from a random first-order Markov chain (softmax of Gaussian logits / temperature): next-token
    prediction has a floor (the chain's entropy). Dict rows {"ids", "targets"} (targets = ids shifted by one)."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(vocab, vocab, generator=g) / temperature, dim=1)
    seq = torch.empty(n, seq_len + 1, dtype=torch.long)
    seq[:, 0] = torch.randint(0, vocab, (n,), generator=g)
    for t in range(seq_len):
        seq[:, t + 1] = torch.multinomial(probs[seq[:, t]], 1, generator=g).squeeze(1)
    return DictDataset(ids=seq[:, :-1].contiguous(), targets=seq[:, 1:].contiguous())


# ------------------------------------------------------------------------------------------------------------
# Cases

EXPECTED = ("explode", "growth", "unstable", "vanish", "fine")
VERDICT_OF = {"explode": "critical", "growth": "critical", "unstable": "warning", "vanish": "warning",
              "fine": "healthy"}


@dataclass(frozen=True)
class Case:
    name: str
    family: str  # recurrent / feed-forward / linear / transformer
    expected: str  # one of EXPECTED
    description: str
    toml: str  # `{cases}` is replaced by the path of this file's copy

    def config_text(self, cases_path: str) -> str:
        return self.toml.replace("{cases}", cases_path)

    @property
    def verdict(self) -> str:
        return VERDICT_OF[self.expected]


def _case(name: str, family: str, expected: str, description: str, *, model: str, data: str, optimizer: str,
          steps: int, seed: int, batch_size: int, loss: str | None = None) -> Case:
    """A config from its parts: `model`/`data` are "factory, { kwargs }", `optimizer` the table's body."""
    assert expected in EXPECTED, expected
    mf, mk = (s.strip() for s in model.split(",", 1))
    df, dk = (s.strip() for s in data.split(",", 1))
    loss_table = f'[loss]\nname = "{loss}"\n\n' if loss else ""
    text = (f'[model]\nfactory = "{{cases}}:{mf}"\nkwargs = {mk}\n\n'
            f'[data]\nfactory = "{{cases}}:{df}"\nkwargs = {dk}\nbatch_size = {batch_size}\n\n'
            f"{loss_table}[optimizer]\n{optimizer.strip()}\n\n"
            f'[run]\nsteps = {steps}\nseed = {seed}\ndevice = "cpu"\n')
    return Case(name, family, expected, description, text)


CASES: list[Case] = []

CASE_NAMES = [c.name for c in CASES]
QUICK: list[str] = []


def find(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def steps_of(case: Case) -> int:
    return int(re.search(r"^steps = (\d+)$", case.toml, re.MULTILINE).group(1))
