"""Write the example logs of README's "Runs already done" with the real writers (run from the repository root):

    python examples/logs/make_logs.py

- `trainer_state.json`: a Hugging Face `Trainer.train` (transformers, CPU, nothing downloaded) of a small linear
  model at an SGD learning rate too high for it, logging every 2 steps; the file the Trainer wrote in its last
  checkpoint, copied here.
- `tensorboard/`: a plain PyTorch loop logging the loss, the gradient norm and the lr with
  `torch.utils.tensorboard.SummaryWriter` at every step; its gradient norm grows geometrically until it
  overflows.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent


class Regression(nn.Module):
    def __init__(self, n_in: int = 4, hidden: int | None = 16) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.Linear(hidden, 1)) if hidden else nn.Linear(n_in, 1)

    def forward(self, x, labels=None):
        out = self.net(x)
        return out if labels is None else {"loss": nn.functional.mse_loss(out, labels)}


def data(n: int, n_in: int, scale: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, generator=g) * scale
    return x, x.sum(1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g)


def trainer_state() -> None:
    from transformers import Trainer, TrainingArguments

    x, y = data(32, 4, 3.0)
    model = Regression()
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, max_steps=30, logging_steps=2, save_strategy="steps",
                                 save_steps=30, per_device_train_batch_size=32, max_grad_norm=1e30,
                                 report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.04)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        trainer = Trainer(model=model, args=args, optimizers=(optimizer, schedule),
                          train_dataset=[{"x": a, "labels": b} for a, b in zip(x, y, strict=True)])
        trainer.train()
        shutil.copy(Path(tmp) / "checkpoint-30" / "trainer_state.json", HERE / "trainer_state.json")


def tensorboard() -> None:
    from torch.utils.tensorboard import SummaryWriter

    folder = HERE / "tensorboard"
    shutil.rmtree(folder, ignore_errors=True)
    model = Regression(8, hidden=None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.125)
    writer = SummaryWriter(log_dir=str(folder))
    for step in range(1, 121):
        x, y = data(32, 8, 3.0, seed=step)
        optimizer.zero_grad()
        loss = model(x, y)["loss"]
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
        optimizer.step()
        writer.add_scalar("train/loss", loss.item(), step)
        writer.add_scalar("train/grad_norm", norm.item(), step)
        writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
    writer.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    trainer_state()
    tensorboard()
