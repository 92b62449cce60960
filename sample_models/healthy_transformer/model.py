"""A 2-layer pre-norm transformer learning to reverse digit sequences, trained with AdamW.

Expected verdict: healthy (the token loss falls steadily; Adam's early transients raise no symptom).
Batches are dicts passed as model(**batch), and the model returns an object with a `loss`, the way
Hugging Face models do, so no [loss] table is needed.
"""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Output:
    loss: torch.Tensor
    logits: torch.Tensor


class TinyTransformer(nn.Module):
    def __init__(self, vocab: int = 12, d_model: int = 64, layers: int = 2, heads: int = 4, seq_len: int = 12):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(seq_len, d_model) * 0.02)
        block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> Output:
        h = self.embed(input_ids) + self.pos[: input_ids.shape[1]]
        logits = self.head(self.norm(self.encoder(h)))
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        return Output(loss, logits)


def build_model(d_model: int = 64, layers: int = 2) -> nn.Module:
    return TinyTransformer(d_model=d_model, layers=layers)


def build_data(n: int = 1024, seq_len: int = 12, seed: int = 0, batch_size: int = 32):
    """A generator of dict batches {input_ids, labels}: one pass; gradscope asks for another when it ends."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 10, (n, seq_len), generator=g)
    for i in range(0, n, batch_size):
        batch = ids[i:i + batch_size]
        yield {"input_ids": batch, "labels": batch.flip(1)}
