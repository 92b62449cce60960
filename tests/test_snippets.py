"""recommend's four snippets, executed for real: each on a tiny model, each shown to clip at the threshold.

The snippet text is `exec`uted as a user would paste it (PyTorch, Lightning, the Hugging Face Trainer and Keras 3
on its torch backend); the gradients it leaves are compared with the unclipped gradients of the same model on the
same batch: above the threshold before, at it after. The optimizer it builds must be the user's, with their lr.
"""

from __future__ import annotations

import copy
import dataclasses
import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is first imported: Keras 3 on its torch backend

import keras  # noqa: E402
import lightning.pytorch as L  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from transformers import Trainer, TrainerCallback, TrainingArguments  # noqa: E402

from gradscope.report.snippets import snippets  # noqa: E402

THRESHOLD = 0.5
LR = 0.1
MODES = ["norm", "value"]


def data(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return x, 10 * x.sum(1, keepdim=True)  # large targets: gradients well above the threshold


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def raw_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[np.ndarray]:
    """The unclipped gradients of the model's MSE loss on (x, y), from a copy (the model is left untouched)."""
    twin = copy.deepcopy(model)
    nn.functional.mse_loss(twin(x), y).backward()
    return [p.grad.numpy().copy() for p in twin.parameters()]


def assert_clipped_at_threshold(before: list[np.ndarray], after: list[np.ndarray], mode: str,
                                rtol: float = 1e-5) -> None:
    if mode == "norm":
        def norm(grads: list[np.ndarray]) -> float:
            return float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))

        assert norm(before) > 2 * THRESHOLD
        assert norm(after) == pytest.approx(THRESHOLD, rel=rtol)
        for b, a in zip(before, after, strict=True):  # one coefficient for all: the direction is kept
            np.testing.assert_allclose(a, b * THRESHOLD / norm(before), rtol=1e-3, atol=1e-7)
    else:
        def peak(grads: list[np.ndarray]) -> float:
            return max(float(np.abs(g).max()) for g in grads)

        assert peak(before) > 2 * THRESHOLD
        assert peak(after) == pytest.approx(THRESHOLD, rel=rtol)
        for b, a in zip(before, after, strict=True):
            np.testing.assert_allclose(a, np.clip(b, -THRESHOLD, THRESHOLD), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_pytorch_snippet(mode):
    model, (x, y) = net(), data()
    before = raw_grads(model, x, y)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss = nn.functional.mse_loss(model(x), y)
    exec(snippets(mode, THRESHOLD, "SGD", LR)["pytorch"], {"torch": torch, "model": model, "loss": loss,
                                                           "optimizer": optimizer})
    assert_clipped_at_threshold(before, [p.grad.numpy() for p in model.parameters()], mode)


@pytest.mark.parametrize("mode", MODES)
def test_lightning_snippet(mode, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the snippet's Trainer logs to ./lightning_logs
    namespace = {"L": L}
    exec(snippets(mode, THRESHOLD, "SGD", LR)["lightning"], namespace)
    trainer = namespace["trainer"]
    trainer.fit_loop.max_epochs = 1  # the snippet keeps Lightning's defaults; one epoch of one batch here
    x, y = data()
    module_net = net()
    before = raw_grads(module_net, x, y)
    after: list[list[np.ndarray]] = []

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = module_net

        def training_step(self, batch, batch_idx):
            return nn.functional.mse_loss(self.net(batch[0]), batch[1])

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=LR)
            # After step(): the gradients the optimizer used, i.e. after Lightning's clipping.
            opt.register_step_post_hook(lambda o, *_: after.append(
                [p.grad.numpy().copy() for p in self.net.parameters()]))
            return opt

    trainer.fit(Module(), torch.utils.data.DataLoader([(x, y)], batch_size=None))
    assert len(after) == 1
    assert_clipped_at_threshold(before, after[0], mode)


class Regression(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = net()

    def forward(self, x, labels):
        return {"loss": nn.functional.mse_loss(self.net(x), labels)}


class AfterStep(TrainerCallback):
    """The gradients the optimizer used (after the Trainer's clipping), and the optimizer itself."""

    def __init__(self) -> None:
        self.grads: list[list[np.ndarray]] = []
        self.optimizer = None

    def on_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
        self.grads.append([p.grad.numpy().copy() for p in model.parameters()])
        self.optimizer = optimizer


@pytest.mark.parametrize("mode", MODES)
def test_transformers_snippet(mode, tmp_path):
    namespace = {"TrainingArguments": TrainingArguments, "Trainer": Trainer, "torch": torch}
    exec(snippets(mode, THRESHOLD, "SGD", LR)["transformers"], namespace)
    args = dataclasses.replace(namespace["args"], output_dir=str(tmp_path / "out"), max_steps=1, use_cpu=True,
                               per_device_train_batch_size=16, report_to=[], save_strategy="no", disable_tqdm=True,
                               train_sampling_strategy="sequential")
    trainer_class = namespace.get("ValueClipTrainer", Trainer)
    model = Regression()
    x, y = data()
    before = raw_grads(model.net, x, y)
    seen = AfterStep()
    trainer = trainer_class(model=model, args=args, callbacks=[seen],
                            train_dataset=[{"x": a, "labels": b} for a, b in zip(x, y, strict=True)])
    trainer.train()
    inner = getattr(seen.optimizer, "optimizer", seen.optimizer)  # accelerate wraps the torch optimizer
    assert type(inner) is torch.optim.SGD and inner.defaults["lr"] == LR  # the user's optimizer and lr
    assert len(seen.grads) == 1
    assert_clipped_at_threshold(before, seen.grads[0], mode)


@pytest.mark.parametrize("mode", MODES)
def test_keras_snippet(mode):
    assert keras.backend.backend() == "torch"
    namespace = {"keras": keras}
    exec(snippets(mode, THRESHOLD, "SGD", LR)["keras"], namespace)
    optimizer = namespace["optimizer"]
    assert isinstance(optimizer, keras.optimizers.SGD) and float(optimizer.learning_rate) == pytest.approx(LR)
    x, y = (t.numpy() for t in data())
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    start = model.get_weights()

    def sgd_step(opt) -> list[np.ndarray]:
        """One full-batch step; plain SGD moves each weight by lr x its (clipped) gradient."""
        model.set_weights(start)
        model.compile(optimizer=opt, loss="mse")
        model.train_on_batch(x, y)
        return [(w0 - w1) / LR for w0, w1 in zip(start, model.get_weights(), strict=True)]

    before = sgd_step(keras.optimizers.SGD(learning_rate=LR))
    assert_clipped_at_threshold(before, sgd_step(optimizer), mode, rtol=1e-4)


@pytest.mark.parametrize("name, keras_class, hf_optim", [("Adam", "Adam", "adamw_torch"), ("AdamW", "AdamW",
                                                                                            "adamw_torch")])
def test_snippets_carry_the_users_optimizer_and_lr(name, keras_class, hf_optim):
    found = snippets("norm", THRESHOLD, name, 3e-4)
    namespace = {"keras": keras}
    exec(found["keras"], namespace)
    assert type(namespace["optimizer"]).__name__ == keras_class
    assert float(namespace["optimizer"].learning_rate) == pytest.approx(3e-4)
    namespace = {"TrainingArguments": TrainingArguments}
    exec(found["transformers"].replace('output_dir="out"', 'output_dir="out", use_cpu=True'), namespace)
    assert namespace["args"].optim.value == hf_optim and namespace["args"].learning_rate == 3e-4


def test_an_optimizer_keras_lacks_is_said_in_the_snippet():
    keras_line = snippets("norm", THRESHOLD, "my_opt.py:Lion", 0.01)["keras"]
    assert "my_opt.py:Lion has no Keras twin" in keras_line
    assert "keras.optimizers.Adam(learning_rate=0.01, global_clipnorm=0.5)" in keras_line


def test_recommend_passes_the_configs_optimizer_and_lr(write_config):
    from conftest import MLP_CONFIG

    from gradscope.config.load import load_config
    from gradscope.report.snippets import optimizer_of

    config = load_config(write_config(MLP_CONFIG.replace('name = "SGD"', 'name = "AdamW"')))
    assert optimizer_of(config) == ("AdamW", 0.01)
    assert "keras.optimizers.AdamW(learning_rate=0.01, global_clipnorm=0.5)" in snippets(
        "norm", THRESHOLD, *optimizer_of(config))["keras"]


# -- when clipping is not the fix: what to change instead ----------------------------------------------

def test_the_learning_rate_fix_builds_the_users_optimizer_with_the_new_lr():
    from gradscope.report.snippets import fix_snippets

    found = fix_snippets("optimizer.lr=0.003", "AdamW", 0.1, 200, "norm", THRESHOLD)
    model = net()
    namespace = {"torch": torch, "model": model}
    exec(found["pytorch"], namespace)
    assert type(namespace["optimizer"]) is torch.optim.AdamW
    assert namespace["optimizer"].param_groups[0]["lr"] == 0.003
    namespace = {"keras": keras}
    exec(found["keras"], namespace)
    assert type(namespace["optimizer"]).__name__ == "AdamW"
    assert float(namespace["optimizer"].learning_rate) == pytest.approx(0.003)
    namespace = {"TrainingArguments": TrainingArguments}
    exec(found["transformers"].replace('output_dir="out"', 'output_dir="out", use_cpu=True'), namespace)
    assert namespace["args"].learning_rate == 0.003 and namespace["args"].optim.value == "adamw_torch"
    for code in found.values():  # the threshold stays only as a commented guard rail
        assert all(line.startswith("#") for line in code.splitlines() if "clip" in line)


def test_the_warmup_fix_ramps_the_lr_from_zero_over_the_warmup_steps():
    from gradscope.report.snippets import fix_snippets

    found = fix_snippets('schedule.name="constant";schedule.warmup_steps=20', "SGD", LR, 200, "norm", THRESHOLD)
    optimizer = torch.optim.SGD(net().parameters(), lr=LR)
    namespace = {"torch": torch, "optimizer": optimizer}
    exec(found["pytorch"], namespace)
    lrs = []
    for _ in range(25):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        namespace["scheduler"].step()
    assert lrs[0] == 0.0 and lrs[10] == pytest.approx(LR / 2) and lrs[20] == lrs[24] == pytest.approx(LR)
    namespace = {"keras": keras}
    exec(found["keras"], namespace)
    schedule = namespace["schedule"]
    assert float(schedule(0)) == 0.0 and float(schedule(20)) == pytest.approx(LR) == float(schedule(150))
    namespace = {"TrainingArguments": TrainingArguments}
    exec(found["transformers"].replace('output_dir="out"', 'output_dir="out", use_cpu=True'), namespace)
    assert namespace["args"].warmup_steps == 20
    assert namespace["args"].lr_scheduler_type.value == "constant_with_warmup"
