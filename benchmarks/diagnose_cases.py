"""Labelled training runs for `benchmarks/diagnose_accuracy.py`: does `gradscope diagnose` get the verdict right?

Each case is a gradscope TOML config (a string; `{cases}` stands for the path of a copy of this file, put next
to the config in a temp folder) plus the model and data factories below. Every case trains a small model on
data generated in code from a seeded `torch.Generator`, on the CPU, in seconds; Hugging Face models are built
from a config (random init): nothing is downloaded.

Families: recurrent (vanilla RNN, LSTM, GRU, a GRU language model), feed-forward (ReLU, tanh, GELU, sigmoid;
4-16 layers), linear (linear and logistic regression), conv (a small ResNet-style net with BatchNorm) and
transformer (an encoder classifier, a causal decoder LM, Hugging Face LlamaForCausalLM and GPT2LMHeadModel).
Recipes: [schedule] (transformers' linear/cosine/constant warm-up schedules, torch's MultiStepLR), [run]
precision (bf16, fp16 with a GradScaler) and accumulate.

Expected outcomes (`Case.expected`):

    explode   the unclipped run reaches NaN/Inf (too-high lr, too-wide init, recurrent radius, unscaled inputs,
              a float16 overflow under fp16)
    growth    it reaches NaN/Inf by sustained exponential growth of the gradient norm (doubling every 1-2
              steps; non-finite after 60-150 steps): gradscope must flag it >= 30 steps before the overflow
    broken    no NaN/Inf, but the run is lost: its loss ends at or above where it started, or it gave back >= 80%
              of its progress (late - best >= 0.8 * (start - best)); critical. A run that never trains is broken
              too; `also=("vanish",)` marks the broken runs whose gradients vanish (vanishing_gradient expected)
    unstable  no NaN/Inf, the loss spikes or diverges, giving back part of its progress (not broken): warning
    early     an unstable early phase (within 20 steps the loss rises >= 1.3x its start, or the gradient norm
              jumps >= 4x while the loss is worse: a too-high lr without warm-up), after which the run ends below
              its start and is not broken: at least a warning
    vanish    gradients of early layers orders of magnitude below late ones (deep sigmoid/tanh, small init), and
              the run still trains (not broken)
    stalled   no NaN/Inf, nothing skipped after the GradScaler settles, but under fp16 the run does not train (its
              loss ends above 0.9x its start) while the same config in fp32 does: values overflow float16 inside
              a layer and an op after it hides the inf; critical, with activation_overflow naming the op
    fine      trains: the loss falls well below its start, no spike, no early instability, nothing non-finite;
              warm-up schedules, cosine decays, AMP skips while the GradScaler settles included

The settings were chosen from the plain, unclipped torch loop of the benchmark alone (does it go non-finite,
where, how fast does the norm grow, does the loss spike, rise early, end above its start, how do early and late
layers' gradient norms compare): never from what gradscope reports. The benchmark re-checks each label against
the plain loop (`label` column) so a case that drifts (a new torch, a changed factory) is caught, not
mis-scored. Healthy targets carry label noise, so their losses level off above zero instead of collapsing to ~0,
where relative minibatch noise is no longer a property of the run's health.

`HELD_OUT` names cases detector authors should not tune on; the summary reports accuracy on both splits.
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


class RMSNorm(nn.Module):
    """RMSNorm as it is often written by hand: x * rsqrt(mean(x^2) + eps) * weight, in the input's dtype (Llama's
    reference casts to float32 first). Under fp16 autocast x.pow(2) is inf for |x| > 256 and the row becomes 0."""

    def __init__(self, width: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def build_rmsnorm_mlp(inputs: int = 16, width: int = 64, depth: int = 4, outputs: int = 4) -> nn.Module:
    """Linear -> RMSNorm -> GELU blocks and a linear head: the norm makes it indifferent to its input's scale
    (in float32 and bfloat16)."""
    layers: list[nn.Module] = []
    n_in = inputs
    for _ in range(depth - 1):
        layers += [nn.Linear(n_in, width), RMSNorm(width), nn.GELU()]
        n_in = width
    layers.append(nn.Linear(n_in, outputs))
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


class RecurrentLM(nn.Module):
    """Embedding -> GRU/LSTM -> linear head over the vocabulary: a recurrent LM on dict batches {"ids", "targets"}."""

    def __init__(self, cell: str, vocab: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell](hidden, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        out, _ = self.rnn(self.embed(ids))
        logits = self.head(out)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
        return {"loss": loss, "logits": logits}


def build_recurrent_lm(cell: str = "gru", vocab: int = 16, hidden: int = 64, layers: int = 1) -> nn.Module:
    return RecurrentLM(cell, vocab, hidden, layers)


def build_llama(vocab: int = 64, hidden: int = 64, layers: int = 2, heads: int = 4, intermediate: int = 128,
                seq_len: int = 32) -> nn.Module:
    """A Hugging Face `LlamaForCausalLM` from a config (random init, nothing downloaded); dict batches
    {"input_ids", "labels"} give an output whose `.loss` is the shifted next-token cross-entropy."""
    import transformers

    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                      num_attention_heads=heads, num_key_value_heads=heads,
                                      intermediate_size=intermediate, max_position_embeddings=seq_len)
    return transformers.LlamaForCausalLM(config)


def build_gpt2(vocab: int = 64, d_model: int = 64, layers: int = 2, heads: int = 4, seq_len: int = 32) -> nn.Module:
    """A Hugging Face `GPT2LMHeadModel` (nanoGPT's shape: pre-norm blocks, learned positions, tied head) from a
    `GPT2Config`, random init, dropout off."""
    import transformers

    config = transformers.GPT2Config(vocab_size=vocab, n_embd=d_model, n_layer=layers, n_head=heads,
                                     n_positions=seq_len, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(config)


class ResBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (a 1x1 projection when the shape changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out
                     else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.skip(x))


def build_resnet(channels: int = 16, classes: int = 4, blocks: int = 2, in_channels: int = 1) -> nn.Module:
    """A small ResNet-style conv net: a stem, `blocks` residual blocks (the second and later halve the map and
    double the width), global average pooling, a linear head."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
                               nn.ReLU()]
    c = channels
    for i in range(blocks):
        out = c if i == 0 else 2 * c
        layers.append(ResBlock(c, out, 1 if i == 0 else 2))
        c = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


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
                   nonlinear: bool = False, outputs: int = 1, seed: int = 0, target_scale: float = 1.0) -> Dataset:
    """x ~ N(offset, diag(s)^2) with s log-spaced from 1 to `spread` (ill-conditioned, unscaled features when
    spread >> 1); y = teacher(x standardised) + Gaussian noise, times `target_scale` (unstandardised targets).
    `nonlinear`: y = sin + product terms."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, inputs, generator=g)
    scales = torch.logspace(0, math.log10(spread), inputs) if spread != 1.0 else torch.ones(inputs)
    x = z * scales + offset * scales
    w = torch.randn(inputs, outputs, generator=g) / math.sqrt(inputs)
    y = z @ w
    if nonlinear:
        y = torch.sin(2 * y) + 0.5 * z[:, :1] * z[:, 1:2]
    y = y + noise * torch.randn(n, outputs, generator=g)
    return Dataset(x, y * target_scale)


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
          seed: int = 0, scale: float = 1.0) -> Dataset:
    """Gaussian class clusters (overlapping: the best loss stays above zero); integer labels. `scale` multiplies
    the features (raw, unstandardised readings)."""
    g = torch.Generator().manual_seed(seed)
    centres = spread * torch.randn(classes, inputs, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    x = centres[labels] + noise * torch.randn(n, inputs, generator=g)
    return Dataset(x * scale, labels)


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


def markov_tokens(n: int = 512, seq_len: int = 32, vocab: int = 64, temperature: float = 0.4,
                  seed: int = 0) -> DictDataset:
    """Markov-chain text as Hugging Face causal-LM rows {"input_ids", "labels"} (labels = input_ids: the model
    shifts them)."""
    rows = markov_text(n, seq_len, vocab, temperature, seed)
    return DictDataset(input_ids=rows.tensors["ids"], labels=rows.tensors["ids"].clone())


def image_classes(n: int = 1024, size: int = 12, classes: int = 4, noise: float = 1.0, flip: float = 0.05,
                  seed: int = 0) -> Dataset:
    """Images (1 x size x size): a class template (a random smooth pattern) at a random shift plus Gaussian noise;
    `flip` of the labels replaced by random ones (so the best loss stays above zero)."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.nn.functional.avg_pool2d(torch.randn(classes, 1, size + 4, size + 4, generator=g), 3, 1, 1)
    templates = templates / templates.std(dim=(1, 2, 3), keepdim=True)
    labels = torch.randint(0, classes, (n,), generator=g)
    dx = torch.randint(0, 5, (n,), generator=g)
    dy = torch.randint(0, 5, (n,), generator=g)
    x = torch.stack([templates[c, :, i:i + size, j:j + size] for c, i, j in zip(labels, dx, dy, strict=True)])
    x = x + noise * torch.randn(x.shape, generator=g)
    random_labels = torch.randint(0, classes, (n,), generator=g)
    flips = torch.rand(n, generator=g) < flip
    return Dataset(x, torch.where(flips, random_labels, labels))


# ------------------------------------------------------------------------------------------------------------
# Cases

EXPECTED = ("explode", "growth", "broken", "unstable", "early", "vanish", "stalled", "fine")
VERDICT_OF = {"explode": "critical", "growth": "critical", "broken": "critical", "unstable": "warning",
              "early": "warning", "vanish": "warning", "stalled": "critical", "fine": "healthy"}


@dataclass(frozen=True)
class Case:
    name: str
    family: str  # recurrent / feed-forward / linear / transformer
    expected: str  # one of EXPECTED
    description: str
    toml: str  # `{cases}` is replaced by the path of this file's copy
    also: tuple[str, ...] = ()  # labels whose checks hold too: ("vanish",) on a broken run whose gradients vanish

    def config_text(self, cases_path: str) -> str:
        return self.toml.replace("{cases}", cases_path)

    @property
    def verdict(self) -> str:
        return VERDICT_OF[self.expected]


def _case(name: str, family: str, expected: str, description: str, *, model: str, data: str, optimizer: str,
          steps: int, seed: int, batch_size: int, loss: str | None = None, precision: str = "fp32",
          accumulate: int = 1, schedule: str = "", also: tuple[str, ...] = ()) -> Case:
    """A config from its parts: `model`/`data` are "factory, { kwargs }", `optimizer` and `schedule` the
    tables' bodies; `precision` and `accumulate` go to [run] when not the defaults."""
    assert expected in EXPECTED, expected
    mf, mk = (s.strip() for s in model.split(",", 1))
    df, dk = (s.strip() for s in data.split(",", 1))
    loss_table = f'[loss]\nname = "{loss}"\n\n' if loss else ""
    recipe = (f'precision = "{precision}"\n' if precision != "fp32" else "") + (
        f"accumulate = {accumulate}\n" if accumulate != 1 else "")
    schedule_table = f"\n[schedule]\n{schedule.strip()}\n" if schedule else ""
    text = (f'[model]\nfactory = "{{cases}}:{mf}"\nkwargs = {mk}\n\n'
            f'[data]\nfactory = "{{cases}}:{df}"\nkwargs = {dk}\nbatch_size = {batch_size}\n\n'
            f"{loss_table}[optimizer]\n{optimizer.strip()}\n\n"
            f'[run]\nsteps = {steps}\nseed = {seed}\ndevice = "cpu"\n{recipe}{schedule_table}')
    return Case(name, family, expected, description, text, also)


CASES: list[Case] = [
    # -- explode: NaN/Inf ------------------------------------------------------------------------------------
    _case("rnn_relu_radius", "recurrent", "explode",
          "vanilla ReLU RNN whose recurrent matrix has spectral radius 1.9 (orthogonal x 1.9), sequences of 40; "
          "SGD lr 0.003, momentum 0.9",
          model='build_recurrent, { cell = "rnn", inputs = 2, hidden = 32, nonlinearity = "relu", radius = 1.9 }',
          data="running_sum, { n = 1024, seq_len = 40 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.003\nmomentum = 0.9', steps=150, seed=0, batch_size=32),
    _case("lstm_high_lr", "recurrent", "explode",
          "LSTM forecasting sines of amplitude up to 2, full batch; SGD lr 1.3 (far too high)",
          model='build_recurrent, { cell = "lstm", inputs = 1, hidden = 16 }',
          data="sine_forecast, { n = 256, seq_len = 20, amp = 2.0 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 1.3', steps=150, seed=0, batch_size=256),
    _case("mlp_relu_wide_init", "feed-forward", "explode",
          "12-layer ReLU MLP, He init x 2 (activations double per layer); SGD lr 1e-3, momentum 0.9",
          model='build_mlp, { inputs = 16, width = 64, depth = 12, outputs = 4, init = "kaiming", gain = 2.0 }',
          data="blobs, { n = 2048, spread = 0.5 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.001\nmomentum = 0.9', steps=100, seed=12, batch_size=64),
    _case("mlp_tanh_high_lr", "feed-forward", "explode",
          "6-layer tanh MLP regression, full batch; SGD lr 0.4: trains, spikes, then blows up",
          model='build_mlp, { inputs = 8, width = 32, depth = 6, activation = "tanh" }',
          data="linear_teacher, { n = 256, inputs = 8, noise = 0.1, nonlinear = true }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.4', steps=200, seed=0, batch_size=256),
    _case("linreg_unscaled", "linear", "explode",
          "linear regression on raw features with scales 1..1000 and non-zero means; SGD lr 1e-4",
          model="build_linear, { inputs = 6 }",
          data="linear_teacher, { n = 2048, inputs = 6, spread = 1000.0, offset = 1.0 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 1e-4', steps=100, seed=13, batch_size=32),
    _case("decoder_sgd_high_lr", "transformer", "explode",
          "pre-norm causal LM without a final LayerNorm on Markov-chain text; SGD lr 1.0, momentum 0.9",
          model="build_decoder, { norm_first = true, final_norm = false }",
          data="markov_text, { n = 1024 }",
          optimizer='name = "SGD"\nlr = 1.0\nmomentum = 0.9', steps=150, seed=0, batch_size=32),
    _case("encoder_sgd_high_lr", "transformer", "explode",
          "post-norm transformer encoder classifying token sequences; SGD lr 1.0, momentum 0.9",
          model="build_encoder, { }", data="token_classes, { n = 2048 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 1.0\nmomentum = 0.9', steps=150, seed=0, batch_size=64),
    # -- growth: sustained exponential growth of the gradient norm, then NaN/Inf -------------------------------
    _case("linreg_gd_past_limit", "linear", "growth",
          "linear regression, full-batch gradient descent at 2.6 / lambda_max (just past the 2 / lambda_max "
          "limit): the error grows x1.6 per step",
          model="build_linear, { inputs = 8 }",
          data="linear_teacher, { n = 512, inputs = 8, noise = 0.1, spread = 3.0 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.146', steps=200, seed=0, batch_size=512),
    _case("linreg_momentum_past_limit", "linear", "growth",
          "linear regression, minibatches of 64, SGD momentum 0.9 at lr 4.3 / lambda_max (its limit is "
          "3.8 / lambda_max)",
          model="build_linear, { inputs = 8 }",
          data="linear_teacher, { n = 1024, inputs = 8, noise = 0.1, spread = 3.0 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.2452\nmomentum = 0.9', steps=200, seed=0, batch_size=64),
    _case("linreg_unscaled_past_limit", "linear", "growth",
          "linear regression on raw features (scales 1..30, non-zero means), minibatches of 32, SGD at "
          "2.6 / lambda_max",
          model="build_linear, { inputs = 4 }",
          data="linear_teacher, { n = 2048, inputs = 4, noise = 0.2, spread = 30.0, offset = 1.0 }",
          loss="MSELoss", optimizer='name = "SGD"\nlr = 7.113e-4', steps=200, seed=0, batch_size=32),
    _case("gru_unscaled_targets", "recurrent", "growth",
          "GRU on inputs and targets 100x too large (not standardised); SGD lr 0.1: the head's error grows "
          "geometrically until it overflows",
          model='build_recurrent, { cell = "gru", inputs = 2, hidden = 32 }',
          data="running_sum, { n = 1024, seq_len = 30, scale = 100.0 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.1', steps=200, seed=0, batch_size=32),
    # -- unstable: no NaN/Inf, the loss spikes or diverges -----------------------------------------------------
    _case("mlp_relu_adam_high_lr", "feed-forward", "broken",
          "8-layer ReLU MLP classifier; Adam lr 0.1 (100x the usual): spikes, then falls back to chance (broken: "
          "the loss ends where it started, 1.39 against 1.38, all of its progress from 1.38 to 0.65 undone)",
          model="build_mlp, { inputs = 16, width = 64, depth = 8, outputs = 4 }",
          data="blobs, { n = 2048, noise = 2.0 }", loss="CrossEntropyLoss",
          optimizer='name = "Adam"\nlr = 0.1', steps=300, seed=0, batch_size=64),
    _case("mlp_tanh_edge_of_stability", "feed-forward", "unstable",
          "6-layer tanh MLP regression, full batch; SGD lr 0.2, past the edge of stability: catapult spikes",
          model='build_mlp, { inputs = 8, width = 32, depth = 6, activation = "tanh" }',
          data="linear_teacher, { n = 256, inputs = 8, noise = 0.1, nonlinear = true }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.2', steps=300, seed=0, batch_size=256),
    _case("logistic_unscaled_high_lr", "linear", "broken",
          "logistic regression on raw features (scales 1..30, non-zero means); SGD lr 1.0: the loss swings "
          "by 10x from step to step (broken: it ends 12x above its first loss, 78 against 6.4)",
          model="build_linear, { inputs = 8 }",
          data="logistic_teacher, { n = 2048, inputs = 8, spread = 30.0, offset = 1.0 }", loss="BCEWithLogitsLoss",
          optimizer='name = "SGD"\nlr = 1.0', steps=300, seed=0, batch_size=32),
    _case("encoder_adam_collapse", "transformer", "unstable",
          "post-norm transformer encoder classifier; Adam lr 0.015, no warm-up: trains, then loses it",
          model="build_encoder, { }", data="token_classes, { n = 2048 }", loss="CrossEntropyLoss",
          optimizer='name = "Adam"\nlr = 0.015', steps=300, seed=0, batch_size=64),
    _case("encoder_sgd_diverge", "transformer", "broken",
          "post-norm transformer encoder classifier; SGD lr 0.5, momentum 0.9: the loss climbs 50x, no NaN "
          "(broken: it ends at 38 against a start of 0.73)",
          model="build_encoder, { }", data="token_classes, { n = 2048 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.5\nmomentum = 0.9', steps=300, seed=0, batch_size=64),
    # -- vanish -------------------------------------------------------------------------------------------------
    _case("mlp_sigmoid_12", "feed-forward", "broken",
          "12-layer sigmoid MLP classifier, default init; SGD lr 0.1 "
          "(broken, with vanishing gradients: it never trains: the loss ends at 1.40 against a start of 1.37)",
          model='build_mlp, { inputs = 16, width = 64, depth = 12, outputs = 4, activation = "sigmoid" }',
          data="blobs, { n = 2048, spread = 0.5 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.1', steps=200, seed=0, batch_size=32,
          also=("vanish",)),
    _case("mlp_tanh_16_small_init", "feed-forward", "broken",
          "16-layer tanh MLP regression, init N(0, 0.25 / fan_in); SGD lr 0.05, momentum 0.9 "
          "(broken, with vanishing gradients: it never trains: the loss ends at 0.75 against a start of 0.66)",
          model='build_mlp, { inputs = 16, width = 64, depth = 16, activation = "tanh", init = "normal", '
                'gain = 0.5 }',
          data="linear_teacher, { n = 1024, inputs = 16, nonlinear = true }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.05\nmomentum = 0.9', steps=200, seed=0, batch_size=32,
          also=("vanish",)),
    _case("mlp_tanh_10_small_init", "feed-forward", "broken",
          "10-layer tanh MLP classifier, init N(0, 0.09 / fan_in); SGD lr 0.1, momentum 0.9 "
          "(broken, with vanishing gradients: it never trains: the loss ends at 1.39, its start)",
          model='build_mlp, { inputs = 16, width = 64, depth = 10, outputs = 4, activation = "tanh", '
                'init = "normal", gain = 0.3 }',
          data="blobs, { n = 2048, spread = 0.5 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.1\nmomentum = 0.9', steps=200, seed=14, batch_size=32,
          also=("vanish",)),
    _case("mlp_sigmoid_10_adam", "feed-forward", "vanish",
          "10-layer sigmoid MLP (Glorot init), binary classification; Adam lr 1e-3",
          model='build_mlp, { inputs = 8, width = 32, depth = 10, activation = "sigmoid", init = "xavier" }',
          data="logistic_teacher, { n = 1024, inputs = 8 }", loss="BCEWithLogitsLoss",
          optimizer='name = "Adam"\nlr = 0.001', steps=200, seed=0, batch_size=32),
    _case("rnn_stacked_6_small_init", "recurrent", "broken",
          "6 stacked vanilla tanh RNN layers, every weight at 0.3x its default init; SGD lr 0.01 "
          "(broken, with vanishing gradients: it never trains: the loss ends at 0.42 against a start of 0.40)",
          model='build_recurrent, { cell = "rnn", inputs = 2, hidden = 32, layers = 6, gain = 0.3 }',
          data="running_sum, { n = 1024, seq_len = 20 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.01', steps=200, seed=0, batch_size=32,
          also=("vanish",)),
    # -- fine -----------------------------------------------------------------------------------------------------
    _case("rnn_tanh_adam", "recurrent", "fine",
          "vanilla tanh RNN on a running-sum task; Adam lr 2e-3, batches of 64",
          model='build_recurrent, { cell = "rnn", inputs = 2, hidden = 32 }',
          data="running_sum, { n = 1024, seq_len = 20, noise = 0.2 }", loss="MSELoss",
          optimizer='name = "Adam"\nlr = 0.002', steps=300, seed=1, batch_size=64),
    _case("lstm_sgd_momentum", "recurrent", "fine",
          "LSTM forecasting noisy sines; SGD lr 0.05, momentum 0.9, batches of 32",
          model='build_recurrent, { cell = "lstm", inputs = 1, hidden = 32 }',
          data="sine_forecast, { n = 1024, seq_len = 20, noise = 0.2 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.05\nmomentum = 0.9', steps=300, seed=2, batch_size=32),
    _case("gru_adamw", "recurrent", "fine",
          "GRU forecasting noisy sines of amplitude up to 2; AdamW lr 3e-3, weight decay 0.01, batches of 128",
          model='build_recurrent, { cell = "gru", inputs = 1, hidden = 32 }',
          data="sine_forecast, { n = 1024, seq_len = 20, amp = 2.0, noise = 0.2 }", loss="MSELoss",
          optimizer='name = "AdamW"\nlr = 0.003\nweight_decay = 0.01', steps=200, seed=3, batch_size=128),
    _case("mlp_relu_sgd", "feed-forward", "fine",
          "8-layer ReLU MLP (He init) classifying overlapping blobs; SGD lr 0.02, batches of 32",
          model='build_mlp, { inputs = 16, width = 64, depth = 8, outputs = 4, init = "kaiming" }',
          data="blobs, { n = 2048, spread = 0.5 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.02', steps=300, seed=4, batch_size=32),
    _case("mlp_sigmoid8_wide_bf16", "feed-forward", "fine",
          "8-layer sigmoid MLP of width 256 (Glorot init) under bf16 on well-separated 10-class blobs; Adam lr 3e-3: "
          "the first weight matrix gets ~7e-3 of the last one's gradient, and it trains well all the same "
          "(2.39 -> 0.05; issue 22: a depth ratio in a run that trains well is information)",
          model='build_mlp, { inputs = 32, width = 256, depth = 8, outputs = 10, activation = "sigmoid", '
                'init = "xavier" }',
          data="blobs, { n = 2048, inputs = 32, classes = 10, spread = 3.0 }", loss="CrossEntropyLoss",
          optimizer='name = "Adam"\nlr = 0.003', steps=150, seed=0, batch_size=64, precision="bf16",
          also=("ratio",)),
    _case("mlp_gelu_ln_dropout_adamw", "feed-forward", "fine",
          "10-layer GELU MLP with LayerNorm and dropout 0.1; AdamW lr 1e-3, batches of 64",
          model='build_mlp, { inputs = 16, width = 64, depth = 10, outputs = 4, activation = "gelu", '
                'layernorm = true, dropout = 0.1 }',
          data="blobs, { n = 2048, spread = 0.5 }", loss="CrossEntropyLoss",
          optimizer='name = "AdamW"\nlr = 0.001', steps=300, seed=5, batch_size=64),
    _case("mlp_tanh_momentum_bs16", "feed-forward", "fine",
          "6-layer tanh MLP (Glorot init) regression with heavy-tailed targets; SGD lr 3e-3, momentum 0.9, "
          "batches of 16 (noisy minibatch losses, up to 5x their running median)",
          model='build_mlp, { inputs = 8, width = 64, depth = 6, activation = "tanh", init = "xavier" }',
          data="linear_teacher, { n = 2048, inputs = 8, noise = 0.3, nonlinear = true }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.003\nmomentum = 0.9', steps=400, seed=6, batch_size=16),
    _case("linreg_sgd", "linear", "fine",
          "linear regression, SGD lr 0.02 (well below the limit), batches of 16",
          model="build_linear, { inputs = 8 }", data="linear_teacher, { n = 1024, inputs = 8, noise = 0.3 }",
          loss="MSELoss", optimizer='name = "SGD"\nlr = 0.02', steps=200, seed=7, batch_size=16),
    _case("logistic_sgd", "linear", "fine",
          "logistic regression with 10% label noise; SGD lr 0.5, batches of 64",
          model="build_linear, { inputs = 8 }", data="logistic_teacher, { n = 2048, inputs = 8 }",
          loss="BCEWithLogitsLoss", optimizer='name = "SGD"\nlr = 0.5', steps=200, seed=8, batch_size=64),
    _case("encoder_adamw", "transformer", "fine",
          "post-norm transformer encoder classifying token sequences; AdamW lr 1e-3, batches of 32",
          model="build_encoder, { }", data="token_classes, { n = 2048 }", loss="CrossEntropyLoss",
          optimizer='name = "AdamW"\nlr = 0.001', steps=300, seed=9, batch_size=32),
    _case("decoder_lm_adam_dropout", "transformer", "fine",
          "pre-norm causal LM with dropout 0.1 on Markov-chain text (dict batches); Adam lr 3e-3",
          model="build_decoder, { dropout = 0.1 }", data="markov_text, { n = 1024 }",
          optimizer='name = "Adam"\nlr = 0.003', steps=300, seed=10, batch_size=32),
    # -- the recipe: transformers with and without warm-up, fp16/bf16, accumulation, schedules ------------------
    _case("llama_adamw_no_warmup", "transformer", "early",
          "Hugging Face LlamaForCausalLM (2 layers, width 64, random init) on 64-token Markov text; AdamW lr 0.1 "
          "from step 0, no warm-up: the loss jumps 1.7x by step 3, then plateaus far above the warm-up run",
          model="build_llama, { }", data="markov_tokens, { n = 512 }",
          optimizer='name = "AdamW"\nlr = 0.1', steps=100, seed=0, batch_size=16),
    _case("llama_adamw_linear_warmup", "transformer", "fine",
          "the same Llama and lr 0.1, linear warm-up over 30 steps then linear decay (transformers' schedule)",
          model="build_llama, { }", data="markov_tokens, { n = 512 }",
          optimizer='name = "AdamW"\nlr = 0.1', steps=100, seed=0, batch_size=16,
          schedule='name = "linear"\nwarmup_steps = 30'),
    _case("llama96_adamw_5e2_no_warmup", "transformer", "early",
          "a wider Llama (width 96) at AdamW lr 5e-2 from step 0, no warm-up (issue 22's recipe): the loss rises to "
          "1.7x its start by step 3 with a 2.5x gradient-norm jump, then settles on a plateau above its warm-up twin",
          model="build_llama, { hidden = 96, intermediate = 192 }", data="markov_tokens, { n = 512 }",
          optimizer='name = "AdamW"\nlr = 0.05', steps=100, seed=1, batch_size=16),
    _case("llama96_adamw_5e2_warmup", "transformer", "fine",
          "the same Llama and lr 5e-2 with a 20-step linear warm-up, then linear decay",
          model="build_llama, { hidden = 96, intermediate = 192 }", data="markov_tokens, { n = 512 }",
          optimizer='name = "AdamW"\nlr = 0.05', steps=100, seed=1, batch_size=16,
          schedule='name = "linear"\nwarmup_steps = 20'),
    _case("llama_adamw_cosine_warmup", "transformer", "fine",
          "the same Llama, lr 0.05, cosine schedule with a 20-step warm-up",
          model="build_llama, { }", data="markov_tokens, { n = 512 }",
          optimizer='name = "AdamW"\nlr = 0.05', steps=100, seed=1, batch_size=16,
          schedule='name = "cosine"\nwarmup_steps = 20'),
    _case("llama_bf16_adamw", "transformer", "fine",
          "the Llama under bf16 autocast; AdamW lr 1e-2, no schedule",
          model="build_llama, { }", data="markov_tokens, { n = 512 }",
          optimizer='name = "AdamW"\nlr = 0.01', steps=100, seed=2, batch_size=16, precision="bf16"),
    _case("gpt2_adamw_no_warmup", "transformer", "early",
          "Hugging Face GPT2LMHeadModel (nanoGPT's shape: 2 pre-norm blocks, width 64, tied head) on Markov "
          "text; AdamW lr 0.1 from step 0, no warm-up",
          model="build_gpt2, { }", data="markov_tokens, { n = 512 }",
          optimizer='name = "AdamW"\nlr = 0.1', steps=100, seed=0, batch_size=16),
    _case("gpt2_adamw_warmup", "transformer", "fine",
          "the same GPT-2 and lr 0.1 with a 30-step linear warm-up (constant after it)",
          model="build_gpt2, { }", data="markov_tokens, { n = 512 }",
          optimizer='name = "AdamW"\nlr = 0.1', steps=100, seed=0, batch_size=16,
          schedule='name = "constant"\nwarmup_steps = 30'),
    _case("gpt2_fp16_adamw_warmup", "transformer", "fine",
          "the GPT-2 under fp16 autocast with a GradScaler; AdamW lr 1e-2, cosine with a 10-step warm-up",
          model="build_gpt2, { }", data="markov_tokens, { n = 512 }",
          optimizer='name = "AdamW"\nlr = 0.01', steps=100, seed=3, batch_size=16, precision="fp16",
          schedule='name = "cosine"\nwarmup_steps = 10'),
    _case("decoder_high_lr_no_warmup", "transformer", "early",
          "pre-norm causal LM (the nanoGPT-shaped DecoderLM) on Markov text; Adam lr 0.1 with no warm-up",
          model="build_decoder, { d_model = 64, heads = 4, seq_len = 32, vocab = 32 }",
          data="markov_text, { n = 1024, seq_len = 32, vocab = 32 }",
          optimizer='name = "Adam"\nlr = 0.1', steps=100, seed=0, batch_size=32),
    _case("decoder_high_lr_warmup", "transformer", "fine",
          "the same DecoderLM and lr 0.1 with a 40-step linear warm-up",
          model="build_decoder, { d_model = 64, heads = 4, seq_len = 32, vocab = 32 }",
          data="markov_text, { n = 1024, seq_len = 32, vocab = 32 }",
          optimizer='name = "Adam"\nlr = 0.1', steps=100, seed=0, batch_size=32,
          schedule='name = "linear"\nwarmup_steps = 40'),
    _case("decoder_accumulate_4", "transformer", "fine",
          "the DecoderLM (dropout 0.1) with 4 micro-batches of 8 per optimizer step; Adam lr 3e-3",
          model="build_decoder, { dropout = 0.1 }", data="markov_text, { n = 1024 }",
          optimizer='name = "Adam"\nlr = 0.003', steps=120, seed=4, batch_size=8, accumulate=4),
    _case("mlp_fp16_scaler_settles", "feed-forward", "fine",
          "4-layer tanh MLP (Glorot init) regression on targets x30 under fp16 with a GradScaler: the first scaled "
          "gradients overflow float16, the scaler skips a few steps while its scale settles, then it trains (SGD "
          "lr 3e-4, momentum 0.9)",
          model='build_mlp, { inputs = 8, width = 64, depth = 4, activation = "tanh", init = "xavier" }',
          data="linear_teacher, { n = 2048, inputs = 8, noise = 0.1, target_scale = 30.0 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 3e-4\nmomentum = 0.9', steps=200, seed=5, batch_size=128, precision="fp16"),
    _case("linreg_fp16_target_overflow", "linear", "explode",
          "linear regression on unstandardised targets (std 50,000, like prices) under fp16: the scaler settles, "
          "then the predictions pass float16's 65,504 as they approach the targets: the Linear's output is inf "
          "(in fp32 the same run trains)",
          model="build_linear, { inputs = 8 }",
          data="linear_teacher, { n = 1024, inputs = 8, noise = 0.1, target_scale = 50000.0 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.05', steps=100, seed=0, batch_size=32, precision="fp16"),
    _case("mlp_rmsnorm_fp16_raw_features", "feed-forward", "stalled",
          "4-layer MLP with a hand-written RMSNorm (x * rsqrt(mean(x^2))) after each Linear, classifying raw, "
          "unstandardised features (x300) under fp16 with a GradScaler; Adam lr 1e-3: the first Linear's outputs "
          "reach ~800, x.pow(2) passes 65,504 and is inf, rsqrt(inf) = 0 zeroes the rows: the loss and gradients "
          "stay finite, the scaler settles, and the loss stays at chance (1.39) while fp32 and bf16 reach 0.33",
          model="build_rmsnorm_mlp, { }", data="blobs, { n = 2048, spread = 0.5, scale = 300.0 }",
          loss="CrossEntropyLoss", optimizer='name = "Adam"\nlr = 0.001', steps=200, seed=0, batch_size=64,
          precision="fp16"),
    _case("mlp_rmsnorm_bf16_raw_features", "feed-forward", "fine",
          "the same RMSNorm MLP on the same raw features under bf16 (float32's range): it trains",
          model="build_rmsnorm_mlp, { }", data="blobs, { n = 2048, spread = 0.5, scale = 300.0 }",
          loss="CrossEntropyLoss", optimizer='name = "Adam"\nlr = 0.001', steps=200, seed=0, batch_size=64,
          precision="bf16"),
    _case("mlp_rmsnorm_fp16_standardised", "feed-forward", "fine",
          "the same RMSNorm MLP under fp16 on the features standardised (x1): nothing overflows, it trains",
          model="build_rmsnorm_mlp, { }", data="blobs, { n = 2048, spread = 0.5 }",
          loss="CrossEntropyLoss", optimizer='name = "Adam"\nlr = 0.001', steps=200, seed=1, batch_size=64,
          precision="fp16"),
    _case("linreg_accumulate_past_limit", "linear", "growth",
          "linear regression, 4 accumulated micro-batches of 128 (the full 512 rows) per step, gradient descent at "
          "2.6 / lambda_max: the error grows x1.6 per optimizer step",
          model="build_linear, { inputs = 8 }",
          data="linear_teacher, { n = 512, inputs = 8, noise = 0.1, spread = 3.0 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.146', steps=200, seed=0, batch_size=128, accumulate=4),
    _case("resnet_sgd_cosine", "conv", "fine",
          "small ResNet-style conv net (BatchNorm, 2 residual blocks) classifying shifted noisy patterns; SGD lr "
          "0.02, momentum 0.9, cosine decay from step 0",
          model="build_resnet, { }", data="image_classes, { n = 1024 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.02\nmomentum = 0.9', steps=150, seed=0, batch_size=32,
          schedule='name = "cosine"\nwarmup_steps = 0'),
    # -- diverging without NaN/Inf -------------------------------------------------------------------------------
    _case("rnn_lm_adam_diverge", "recurrent", "broken",
          "GRU language model on Markov text; Adam lr 1.0 (1000x the usual): the loss jumps 5x in one step and "
          "ends 1.8x above its start (broken: 5.1 against 2.8)",
          model='build_recurrent_lm, { cell = "gru", vocab = 16, hidden = 64 }', data="markov_text, { n = 1024 }",
          optimizer='name = "Adam"\nlr = 1.0', steps=200, seed=0, batch_size=32),
    _case("resnet_lr_bump_broken", "conv", "broken",
          "the ResNet-style net trains with SGD lr 0.05, momentum 0.9; a MultiStepLR with gamma 200 (meant 1/200) "
          "raises the lr 200x at step 80: the loss, 1.53 at the start, 0.08 at best, ends at 4.0 (broken)",
          model="build_resnet, { }", data="image_classes, { n = 1024 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.05\nmomentum = 0.9', steps=160, seed=0, batch_size=32,
          schedule='name = "MultiStepLR"\nmilestones = [80]\ngamma = 200.0'),
    _case("resnet_lr_bump_partial", "conv", "unstable",
          "the same net, the MultiStepLR's gamma 20 at step 80: the loss spikes, then settles at 0.6, giving back "
          "a third of its progress (best 0.08, start 1.53)",
          model="build_resnet, { }", data="image_classes, { n = 1024 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.05\nmomentum = 0.9', steps=160, seed=0, batch_size=32,
          schedule='name = "MultiStepLR"\nmilestones = [80]\ngamma = 20.0'),
]

CASE_NAMES = [c.name for c in CASES]
QUICK = ["rnn_relu_radius", "decoder_sgd_high_lr", "linreg_gd_past_limit", "mlp_tanh_edge_of_stability",
         "mlp_sigmoid_12", "lstm_sgd_momentum", "logistic_sgd", "encoder_adamw", "mlp_relu_adam_high_lr",
         "gpt2_adamw_no_warmup", "decoder_high_lr_warmup", "mlp_fp16_scaler_settles", "linreg_fp16_target_overflow",
         "decoder_accumulate_4", "mlp_rmsnorm_fp16_raw_features"]  # each label and family once, and the recipe's pieces
# Held out: detector authors should not tune thresholds on these (the summary reports them apart). One or more
# of each label, old and new families, every recipe piece (warm-up, fp16, bf16, accumulation, a torch scheduler).
HELD_OUT = ["llama_adamw_cosine_warmup", "llama_bf16_adamw", "gpt2_adamw_no_warmup", "resnet_lr_bump_partial",
            "rnn_lm_adam_diverge", "linreg_fp16_target_overflow", "linreg_accumulate_past_limit", "gru_adamw",
            "mlp_tanh_10_small_init", "encoder_sgd_diverge", "linreg_momentum_past_limit"]
assert set(HELD_OUT) <= set(CASE_NAMES) and set(QUICK) <= set(CASE_NAMES)


def find(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def steps_of(case: Case) -> int:
    return int(re.search(r"^steps = (\d+)$", case.toml, re.MULTILINE).group(1))


# -- factories for diagnose_cases_blind2.py --

def build_convnet(channels: int = 16, classes: int = 4, convs: int = 3, in_channels: int = 1, size: int = 12,
                  hidden: int = 64) -> nn.Module:
    """A plain conv net without normalisation (LeNet/VGG-style): `convs` conv3x3-ReLU layers, a 2x2 max-pool after
    each of the first two, flatten, a hidden Linear-ReLU and a linear head."""
    layers: list[nn.Module] = []
    c_in, side = in_channels, size
    for i in range(convs):
        layers += [nn.Conv2d(c_in, channels, 3, 1, 1), nn.ReLU()]
        if i < 2:
            layers.append(nn.MaxPool2d(2))
            side //= 2
        c_in = channels
    layers += [nn.Flatten(), nn.Linear(channels * side * side, hidden), nn.ReLU(), nn.Linear(hidden, classes)]
    return nn.Sequential(*layers)
