"""word_language_model's shape: no torch.optim; clip_grad_norm_ then a hand-written SGD update, an RNN carried
across batches (detached). Logs the loss and what clip_grad_norm_ returned."""
import json
import sys

import torch
from torch import nn

torch.manual_seed(0)


class RNNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(30, 8)
        self.rnn = nn.RNN(8, 16, nonlinearity="tanh")
        self.decoder = nn.Linear(16, 30)

    def forward(self, x, h):
        out, h = self.rnn(self.encoder(x), h)
        return self.decoder(out), h


def train():
    model = RNNModel()
    data = torch.randint(0, 30, (200, 4))
    hidden = torch.zeros(1, 4, 16)
    lr, log = 2.0, []
    for i in range(0, 60, 10):
        x, y = data[i:i + 10], data[i + 1:i + 11]
        hidden = hidden.detach()
        model.zero_grad()
        out, hidden = model(x, hidden)
        loss = nn.functional.cross_entropy(out.view(-1, 30), y.reshape(-1))
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        log.append({"loss": loss.item(), "grad_norm": norm.item()})
        with open(sys.argv[1], "w") as f:
            json.dump(log, f)


if __name__ == "__main__":
    train()
