"""A regression model trained with Lightning's Trainer.fit, in the style of the Lightning docs: a LightningModule
with training_step and configure_optimizers, gradient_clip_val and accumulate_grad_batches on the Trainer. The
tests' truth: each optimizer step's backpropagated loss (Lightning divides a micro-batch's loss by
accumulate_grad_batches) and the pre-clip norm from on_before_optimizer_step."""

import argparse
import json
import os

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import grad_norm
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=1e-2)
parser.add_argument("--max_steps", type=int, default=8)
parser.add_argument("--gradient_clip_val", type=float, default=0.5)
parser.add_argument("--accumulate_grad_batches", type=int, default=2)
args = parser.parse_args()

truth = open(os.environ["GS_TEST_TRUTH"], "a") if os.environ.get("GS_TEST_TRUTH") else None


class Regressor(pl.LightningModule):
    def __init__(self, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
        self.backpropagated = 0.0

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.backpropagated += loss.item() / self.trainer.accumulate_grad_batches
        self.log("train_loss", loss)
        return loss

    def on_before_optimizer_step(self, optimizer):
        if truth:
            norm = grad_norm(self, norm_type=2)["grad_2.0_norm_total"].item()
            truth.write(json.dumps({"step": self.global_step, "loss": self.backpropagated, "grad_norm": norm}) + "\n")
            truth.flush()
        self.backpropagated = 0.0

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


pl.seed_everything(7)
x = torch.randn(128, 8)
y = x[:, :1] * 2 - x[:, 1:2] + 0.1 * torch.randn(128, 1)
loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
trainer = pl.Trainer(max_steps=args.max_steps, gradient_clip_val=args.gradient_clip_val,
                     accumulate_grad_batches=args.accumulate_grad_batches, accelerator="cpu", devices=1,
                     logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Regressor(args.lr), loader)
