"""A Lightning regression whose learning rate is too high for its inputs' scale, recorded by the callback."""

import lightning.pytorch as L
import torch
from torch import nn

from gradscope.integrations.lightning import GradscopeCallback


class Regression(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.04)  # too high for inputs of this scale


torch.manual_seed(0)
x = torch.randn(256, 4) * 3
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=32)
callback = GradscopeCallback(out="runs/lightning", stop_on="critical")
trainer = L.Trainer(max_steps=200, accumulate_grad_batches=2, callbacks=[callback], logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Regression(), loader)
