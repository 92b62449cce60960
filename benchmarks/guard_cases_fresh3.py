"""A fifth held-out split for `benchmarks/guard_regret.py` ("held-out-5"): unstable and healthy cases written
blind to the guard (its code, its README section, its tests and its earlier scores were not read), labelled from
the plain torch loop of benchmarks/recommend_regret.py alone (unclipped run and the 13-point threshold grid).

Same form as guard_cases.py: a `GuardCase` per case, a gradscope TOML with `{cases}` standing for the cases
module's path. Every factory the TOML names is in `FACTORIES`, which guard_cases.py adds to its own namespace
at its end, beside this split, so a case resolves whether `{cases}` is this file or guard_cases.py. `FRESH5`
is built on first access (fresh_labels.lazy_cases), so either module may be imported first.

    .venv/bin/python benchmarks/guard_cases_fresh3.py [--cases a,b] [-v]   # verify every label, print the table
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

_CELL = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


# -- models ---------------------------------------------------------------------------------------------------

class CharLM(nn.Module):
    """A character-level language model: embedding, `layers` stacked GRU/LSTM layers, logits per position
    shaped (batch, vocab, seq) for CrossEntropyLoss."""

    def __init__(self, cell: str, vocab: int, embed: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = _CELL[cell](embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.head(out).transpose(1, 2)


def build_char_lm(cell: str = "gru", vocab: int = 14, embed: int = 12, hidden: int = 48,
                  layers: int = 1) -> nn.Module:
    return CharLM(cell, vocab, embed, hidden, layers)


class BiTagger(nn.Module):
    """A bidirectional GRU/LSTM sequence tagger: a label per token, logits (batch, classes, seq)."""

    def __init__(self, cell: str, vocab: int, embed: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = _CELL[cell](embed, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.head(out).transpose(1, 2)


def build_bi_tagger(cell: str = "lstm", vocab: int = 3, embed: int = 8, hidden: int = 24,
                    classes: int = 5) -> nn.Module:
    return BiTagger(cell, vocab, embed, hidden, classes)


def _patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, 1, S, S) images to (B, (S/patch)^2, patch^2) non-overlapping patches."""
    b = x.shape[0]
    p = x.unfold(2, patch, patch).unfold(3, patch, patch)  # (B, 1, n, n, patch, patch)
    return p.reshape(b, -1, patch * patch)


class PatchTransformer(nn.Module):
    """A tiny ViT: non-overlapping patches, a linear patch embedding, learned positions, a transformer encoder
    (post- or pre-norm), mean pooling, a linear head."""

    def __init__(self, size: int, patch: int, d_model: int, heads: int, layers: int, classes: int,
                 norm_first: bool) -> None:
        super().__init__()
        self.patch = patch
        tokens = (size // patch) ** 2
        self.proj = nn.Linear(patch * patch, d_model)
        self.pos = nn.Parameter(0.1 * torch.randn(tokens, d_model))
        block = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.head = nn.Linear(d_model, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.proj(_patches(x, self.patch)) + self.pos)
        return self.head(self.norm(h).mean(1))


def build_patch_vit(size: int = 8, patch: int = 2, d_model: int = 24, heads: int = 2, layers: int = 2,
                    classes: int = 5, norm_first: bool = False) -> nn.Module:
    return PatchTransformer(size, patch, d_model, heads, layers, classes, norm_first)


class CausalLM(nn.Module):
    """A GPT-like causal transformer language model (pre- or post-norm), logits (batch, vocab, seq)."""

    def __init__(self, vocab: int, d_model: int, heads: int, layers: int, seq_len: int, norm_first: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(0.1 * torch.randn(seq_len, d_model))
        block = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq_len), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.encoder(self.embed(ids) + self.pos[:t], mask=self.mask[:t, :t], is_causal=True)
        return self.head(self.norm(h)).transpose(1, 2)


def build_causal_lm(vocab: int = 12, d_model: int = 24, heads: int = 2, layers: int = 2, seq_len: int = 16,
                    norm_first: bool = True) -> nn.Module:
    return CausalLM(vocab, d_model, heads, layers, seq_len, norm_first)


class MixerBlock(nn.Module):
    def __init__(self, tokens: int, dim: int, norm: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim) if norm else nn.Identity()
        self.token_mlp = nn.Sequential(nn.Linear(tokens, 2 * tokens), nn.GELU(), nn.Linear(2 * tokens, tokens))
        self.norm2 = nn.LayerNorm(dim) if norm else nn.Identity()
        self.channel_mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class Mixer(nn.Module):
    """An MLP-Mixer on image patches: patch embedding, `blocks` token-mixing / channel-mixing residual blocks
    (with or without LayerNorm), mean pooling, a linear head."""

    def __init__(self, size: int, patch: int, dim: int, blocks: int, classes: int, norm: bool) -> None:
        super().__init__()
        self.patch = patch
        tokens = (size // patch) ** 2
        self.proj = nn.Linear(patch * patch, dim)
        self.blocks = nn.Sequential(*[MixerBlock(tokens, dim, norm) for _ in range(blocks)])
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.proj(_patches(x, self.patch))).mean(1))


def build_mixer(size: int = 8, patch: int = 2, dim: int = 24, blocks: int = 2, classes: int = 5,
                norm: bool = True) -> nn.Module:
    return Mixer(size, patch, dim, blocks, classes, norm)


class GlyphCNN(nn.Module):
    """Three 3x3 conv [BN] ReLU layers (the second with stride 2), global average pooling, a linear head."""

    def __init__(self, channels: int, classes: int, batch_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c_out, stride in ((channels, 1), (2 * channels, 2), (2 * channels, 1)):
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_glyph_cnn(channels: int = 8, classes: int = 5, batch_norm: bool = False) -> nn.Module:
    return GlyphCNN(channels, classes, batch_norm)


class DenoisingAE(nn.Module):
    """A denoising autoencoder: MLP encoder to a `code`-wide bottleneck, MLP decoder back to the input."""

    def __init__(self, dim: int, hidden: int, code: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ELU(), nn.Linear(hidden, code))
        self.decoder = nn.Sequential(nn.Linear(code, hidden), nn.ELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def build_denoiser(dim: int = 24, hidden: int = 64, code: int = 4) -> nn.Module:
    return DenoisingAE(dim, hidden, code)


class TabularNet(nn.Module):
    """A SiLU MLP for tabular regression: `depth` hidden layers of `width`, optional LayerNorm after each."""

    def __init__(self, inputs: int, width: int, depth: int, outputs: int, layer_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        n_in = inputs
        for _ in range(depth):
            layers.append(nn.Linear(n_in, width))
            if layer_norm:
                layers.append(nn.LayerNorm(width))
            layers.append(nn.SiLU())
            n_in = width
        layers.append(nn.Linear(n_in, outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_tabular_net(inputs: int = 6, width: int = 48, depth: int = 2, outputs: int = 1,
                      layer_norm: bool = False) -> nn.Module:
    return TabularNet(inputs, width, depth, outputs, layer_norm)


# -- data -----------------------------------------------------------------------------------------------------

def lexicon_text(n: int = 768, seq_len: int = 24, letters: int = 13, words: int = 20, seed: int = 0) -> Dataset:
    """Character streams of words from a small random lexicon (2-6 letters each) separated by spaces, the words
    following a sparse random word-bigram chain; token 0 is the space. Next-character prediction."""
    g = torch.Generator().manual_seed(seed)
    lexicon = [torch.randint(1, letters + 1, (int(torch.randint(2, 7, (1,), generator=g)),), generator=g)
               for _ in range(words)]
    successors = torch.stack([torch.randperm(words, generator=g)[:3] for _ in range(words)])
    stream: list[int] = []
    w = 0
    need = n * (seq_len + 1) // 2 + seq_len + 2
    while len(stream) < need:
        stream += lexicon[w].tolist() + [0]
        w = int(successors[w, int(torch.randint(0, 3, (1,), generator=g))])
    data = torch.tensor(stream)
    starts = torch.randint(0, len(stream) - seq_len - 1, (n,), generator=g)
    idx = starts.unsqueeze(1) + torch.arange(seq_len + 1)
    seqs = data[idx]
    return Dataset(seqs[:, :-1].clone(), seqs[:, 1:].clone())


def bracket_depth(n: int = 1024, seq_len: int = 20, max_depth: int = 4, seed: int = 0) -> Dataset:
    """Token sequences over '(' (0), ')' (1) and a filler (2), generated as a random walk that stays within
    [0, max_depth]; the tag of each token is the nesting depth after it (classes 0..max_depth)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.empty(n, seq_len, dtype=torch.long)
    tags = torch.empty(n, seq_len, dtype=torch.long)
    depth = torch.zeros(n, dtype=torch.long)
    for t in range(seq_len):
        u = torch.rand(n, generator=g)
        tok = torch.where(u < 0.4, 0, torch.where(u < 0.8, 1, 2))
        tok = torch.where((tok == 0) & (depth >= max_depth), 2, tok)
        tok = torch.where((tok == 1) & (depth <= 0), 2, tok)
        depth = depth + (tok == 0).long() - (tok == 1).long()
        ids[:, t], tags[:, t] = tok, depth
    return Dataset(ids, tags)


def glyph_images(n: int = 1024, size: int = 8, noise: float = 0.35, seed: int = 0) -> Dataset:
    """size x size images of one of five glyphs (plus sign, square outline, X, filled centre blob, two
    vertical bars), shifted by up to one pixel, at a random contrast, in Gaussian noise; the class is the glyph."""
    g = torch.Generator().manual_seed(seed)
    s, c = size, size // 2
    t = torch.zeros(5, s, s)
    t[0, c - 1:c + 1, 1:s - 1] = 1.0
    t[0, 1:s - 1, c - 1:c + 1] = 1.0
    t[1, 1, 1:s - 1] = t[1, s - 2, 1:s - 1] = 1.0
    t[1, 1:s - 1, 1] = t[1, 1:s - 1, s - 2] = 1.0
    i = torch.arange(1, s - 1)
    t[2, i, i] = t[2, i, s - 1 - i] = 1.0
    t[3, c - 2:c + 2, c - 2:c + 2] = 1.0
    t[4, 1:s - 1, 2] = t[4, 1:s - 1, s - 3] = 1.0
    labels = torch.randint(0, 5, (n,), generator=g)
    shifts = torch.randint(-1, 2, (n, 2), generator=g)
    contrast = 0.6 + 0.8 * torch.rand(n, 1, 1, generator=g)
    images = torch.empty(n, s, s)
    for k in range(n):
        images[k] = torch.roll(t[labels[k]], (int(shifts[k, 0]), int(shifts[k, 1])), (0, 1))
    images = contrast * images + noise * torch.randn(n, s, s, generator=g)
    return Dataset(images.unsqueeze(1), labels)


def motif_tokens(n: int = 1536, seq_len: int = 16, vocab: int = 12, flip: float = 0.05, seed: int = 0) -> Dataset:
    """Sequences repeating a random motif of period 2-5 (its own tokens per row), a fraction `flip` of the
    tokens replaced by random ones; inputs tokens 0..T-1, targets 1..T (next-token prediction: in-context
    copying)."""
    g = torch.Generator().manual_seed(seed)
    period = torch.randint(2, 6, (n, 1), generator=g)
    motif = torch.randint(0, vocab, (n, 5), generator=g)
    pos = torch.arange(seq_len + 1).unsqueeze(0) % period
    seqs = motif.gather(1, pos)
    noisy = torch.rand(n, seq_len + 1, generator=g) < flip
    seqs = torch.where(noisy, torch.randint(0, vocab, (n, seq_len + 1), generator=g), seqs)
    return Dataset(seqs[:, :-1].clone(), seqs[:, 1:].clone())


def plant_output(n: int = 2048, inputs: int = 6, target_mean: float = 0.0, target_std: float = 1.0,
                 outliers: int = 0, outlier_scale: float = 0.0, seed: int = 0) -> Dataset:
    """A power-plant-output-like regression: standardised ambient readings, a smooth nonlinear target
    (interactions, a saturation) plus noise, expressed as target_mean + target_std * z: the defaults give a
    standardised target, e.g. (450, 17) a raw megawatt figure nobody rescaled. `outliers` rows get a sensor
    glitch of +outlier_scale (in target units) added to the label."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    w = torch.randn(inputs, generator=g) / math.sqrt(inputs)
    z = -0.8 * x[:, 0] + 0.4 * torch.tanh(2 * x[:, 1]) + 0.3 * x[:, 2] * x[:, 3] + 0.3 * (x @ w)
    z = z + 0.1 * torch.randn(n, generator=g)
    z = (z - z.mean()) / z.std()
    y = target_mean + target_std * z
    if outliers:
        rows = torch.randperm(n, generator=g)[:outliers]
        y[rows] += outlier_scale
    return Dataset(x, y.unsqueeze(1))


def manifold_vectors(n: int = 2048, dim: int = 24, latent: int = 3, noise: float = 0.3, scale: float = 1.0,
                     seed: int = 0) -> Dataset:
    """Vectors on a curved `latent`-dimensional manifold, scale * tanh(z @ A + b) in `dim` dimensions; input
    the vector plus Gaussian noise, target the clean vector (denoising)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent, generator=g)
    a = 1.5 * torch.randn(latent, dim, generator=g) / math.sqrt(latent)
    b = 0.5 * torch.randn(dim, generator=g)
    clean = scale * torch.tanh(z @ a + b)
    return Dataset(clean + scale * noise * torch.randn(n, dim, generator=g), clean)


# The factories the TOMLs below name (all new, none clashing with guard_cases, regret_cases, guard_cases_fresh or
# guard_cases_fresh2): guard_cases.py puts these into its globals.
FACTORIES: dict[str, Any] = {name: globals()[name] for name in (
    "build_char_lm", "build_bi_tagger", "build_patch_vit", "build_causal_lm", "build_mixer", "build_glyph_cnn",
    "build_denoiser", "build_tabular_net", "lexicon_text", "bracket_depth", "glyph_images", "motif_tokens",
    "plant_output", "manifold_vectors")}


# -- cases ----------------------------------------------------------------------------------------------------

_GRU_LM = _m("build_char_lm", 'cell = "gru", vocab = 14, embed = 12, hidden = 48, layers = 1')
_LSTM_LM2 = _m("build_char_lm", 'cell = "lstm", vocab = 14, embed = 12, hidden = 40, layers = 2')
_TEXT = _m("lexicon_text", "n = 768, seq_len = 24, letters = 13, words = 20")
_BI_LSTM = _m("build_bi_tagger", 'cell = "lstm", vocab = 3, embed = 8, hidden = 24, classes = 5')
_BRACKETS = _m("bracket_depth", "n = 1024, seq_len = 20, max_depth = 4")
_VIT_POST = _m("build_patch_vit", "size = 8, patch = 2, d_model = 24, heads = 2, layers = 2, classes = 5")
_VIT_PRE = _m("build_patch_vit", "size = 8, patch = 2, d_model = 24, heads = 2, layers = 2, classes = 5, "
              "norm_first = true")
_GLYPHS = _m("glyph_images", "n = 1024, size = 8, noise = 0.35")
_GPT_PRE = _m("build_causal_lm", "vocab = 12, d_model = 24, heads = 2, layers = 2, seq_len = 16, norm_first = true")
_GPT_POST = _m("build_causal_lm", "vocab = 12, d_model = 24, heads = 2, layers = 2, seq_len = 16, "
               "norm_first = false")
_MOTIFS = _m("motif_tokens", "n = 1536, seq_len = 16, vocab = 12")
_MIXER = _m("build_mixer", "size = 8, patch = 2, dim = 24, blocks = 2, classes = 5, norm = true")
_MIXER_NONORM = _m("build_mixer", "size = 8, patch = 2, dim = 24, blocks = 2, classes = 5, norm = false")
_CNN = _m("build_glyph_cnn", "channels = 8, classes = 5")
_CNN_BN = _m("build_glyph_cnn", "channels = 8, classes = 5, batch_norm = true")
_DAE = _m("build_denoiser", "dim = 24, hidden = 64, code = 4")
_MANIFOLD = _m("manifold_vectors", "n = 2048, dim = 24, latent = 3")
_MANIFOLD_BIG = _m("manifold_vectors", "n = 2048, dim = 24, latent = 3, scale = 4.0")
_TAB = _m("build_tabular_net", "inputs = 6, width = 48, depth = 2, outputs = 1")
_TAB_LN = _m("build_tabular_net", "inputs = 6, width = 48, depth = 2, outputs = 1, layer_norm = true")
_PLANT = _m("plant_output", "n = 2048, inputs = 6")
_PLANT_RAW = _m("plant_output", "n = 2048, inputs = 6, target_mean = 450.0, target_std = 17.0")
_PLANT_GLITCH = _m("plant_output", "n = 2048, inputs = 6, outliers = 4, outlier_scale = 200.0")

# (case, kind): the split of every one is "held-out-5"
SPECS: list[tuple[Case, str]] = [
    # -- unstable
    (_case("gru_charlm_sgd", "recurrent", "GRU char-level LM on lexicon text, SGD lr 20, no momentum",
           _GRU_LM, _TEXT, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 20.0', 200, 131), "unstable"),
    (_case("lstm2_charlm_sgd_mom", "recurrent", "2-layer LSTM char-level LM on lexicon text, SGD lr 8 momentum 0.9",
           _LSTM_LM2, _TEXT, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 8.0\nmomentum = 0.9', 200, 134),
     "unstable"),
    (_case("bilstm_brackets_nesterov", "recurrent", "bidirectional LSTM tagging bracket depth, SGD lr 1 Nesterov "
           "momentum 0.9 (trains for ~150 steps, then falls apart)", _BI_LSTM, _BRACKETS, 32, "CrossEntropyLoss",
           'name = "SGD"\nlr = 1.0\nmomentum = 0.9\nnesterov = true', 200, 137), "unstable"),
    (_case("vit_glyph_adamw", "transformer", "post-norm patch transformer (tiny ViT) on glyph images, AdamW lr 0.02, "
           "no warmup", _VIT_POST, _GLYPHS, 32, "CrossEntropyLoss", 'name = "AdamW"\nlr = 0.02', 200, 140),
     "unstable"),
    (_case("gpt_motif_sgd_mom", "transformer", "pre-norm causal transformer LM copying motifs, SGD lr 1 momentum 0.9",
           _GPT_PRE, _MOTIFS, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 1.0\nmomentum = 0.9', 200, 143),
     "unstable"),
    (_case("mixer_glyph_rmsprop", "feed-forward", "MLP-Mixer without LayerNorm on glyph images, RMSprop lr 0.03",
           _MIXER_NONORM, _GLYPHS, 32, "CrossEntropyLoss", 'name = "RMSprop"\nlr = 0.03', 200, 146), "unstable"),
    (_case("cnn_glyph_sgd_mom", "cnn", "3-layer CNN without batch norm on glyph images, SGD lr 0.5 momentum 0.9",
           _CNN, _GLYPHS, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 0.5\nmomentum = 0.9', 200, 149), "unstable"),
    (_case("plant_raw_target_nesterov", "regression", "SiLU MLP on a raw megawatt target (mean 450, std 17), SGD "
           "lr 3e-4 Nesterov momentum 0.9", _TAB, _PLANT_RAW, 32, "MSELoss",
           'name = "SGD"\nlr = 3e-4\nmomentum = 0.9\nnesterov = true', 250, 152), "unstable"),
    (_case("plant_glitch_sgd", "regression", "SiLU MLP with four +200 sensor-glitch labels, MSE, SGD lr 0.02 "
           "momentum 0.9", _TAB, _PLANT_GLITCH, 32, "MSELoss", 'name = "SGD"\nlr = 0.02\nmomentum = 0.9', 250, 155),
     "unstable"),
    (_case("dae_big_scale_sgd_mom", "autoencoder", "denoising autoencoder on manifold vectors of scale 4, MSE, "
           "SGD lr 0.15 momentum 0.9", _DAE, _MANIFOLD_BIG, 32, "MSELoss", 'name = "SGD"\nlr = 0.15\nmomentum = 0.9',
           250, 158), "unstable"),
    # -- healthy
    (_case("healthy_gpt_motif_adamw", "transformer", "pre-norm causal transformer LM copying motifs, AdamW lr 5e-3",
           _GPT_PRE, _MOTIFS, 32, "CrossEntropyLoss", 'name = "AdamW"\nlr = 5e-3\nweight_decay = 0.01', 200, 161),
     "healthy"),
    (_case("healthy_vit_glyph_adam", "transformer", "pre-norm patch transformer on glyph images, Adam lr 1e-3",
           _VIT_PRE, _GLYPHS, 32, "CrossEntropyLoss", 'name = "Adam"\nlr = 1e-3', 200, 164), "healthy"),
    (_case("healthy_cnn_bn_sgd_mom", "cnn", "3-layer CNN with batch norm on glyph images, SGD lr 0.05 momentum 0.9",
           _CNN_BN, _GLYPHS, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 200, 167), "healthy"),
    (_case("healthy_gru_lm_sgd_mom", "recurrent", "GRU char-level LM on lexicon text, SGD lr 0.5 momentum 0.9",
           _GRU_LM, _TEXT, 32, "CrossEntropyLoss", 'name = "SGD"\nlr = 0.5\nmomentum = 0.9', 200, 170), "healthy"),
    (_case("healthy_plant_ln_sgd_mom", "regression", "SiLU MLP with LayerNorm on a standardised target, Huber "
           "loss, SGD lr 0.01 momentum 0.9 (still improving at the end)", _TAB_LN, _PLANT, 32, "HuberLoss",
           'name = "SGD"\nlr = 0.01\nmomentum = 0.9', 250, 173), "healthy"),
    (_case("healthy_dae_sgd_mom", "autoencoder", "denoising autoencoder on manifold vectors, SGD lr 0.05 momentum "
           "0.9", _DAE, _MANIFOLD, 32, "MSELoss",
           'name = "SGD"\nlr = 0.05\nmomentum = 0.9', 250, 176), "healthy"),
]

SPLIT = "held-out-5"
__getattr__ = lazy_cases("FRESH5", SPECS, SPLIT)  # PEP 562: FRESH5 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(check_labels(SPECS, sys.modules[__name__], SPLIT))
