"""A Hugging Face Llama (built from a config: random init, nothing downloaded) on Markov-chain tokens: the model
and data of examples/llama.toml."""

import torch
import transformers


def build_model(vocab: int = 64, hidden: int = 64, layers: int = 2, heads: int = 4, seq_len: int = 32):
    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
                                      num_hidden_layers=layers, num_attention_heads=heads,
                                      num_key_value_heads=heads, max_position_embeddings=seq_len)
    return transformers.LlamaForCausalLM(config)


class Tokens(torch.utils.data.Dataset):
    """Rows {"input_ids", "labels"}: a dict batch goes to model(**batch), whose output's .loss is the loss."""

    def __init__(self, ids: torch.Tensor) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def build_data(n: int = 512, seq_len: int = 32, vocab: int = 64, seed: int = 0) -> Tokens:
    """Sequences of a random first-order Markov chain: next-token prediction has a floor (its entropy)."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(vocab, vocab, generator=g) / 0.4, dim=1)
    ids = torch.empty(n, seq_len, dtype=torch.long)
    ids[:, 0] = torch.randint(0, vocab, (n,), generator=g)
    for t in range(1, seq_len):
        ids[:, t] = torch.multinomial(probs[ids[:, t - 1]], 1, generator=g).squeeze(1)
    return Tokens(ids)
