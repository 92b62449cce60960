"""Paste-ready clipping lines for PyTorch, Keras, Lightning and the Hugging Face Trainer.

Each snippet is valid Python that carries the threshold, and the tests run every one of them on a tiny model
(tests/test_snippets.py). What differs between frameworks is said in the snippet's comments, where the user will
read it: Keras `clipnorm` is per variable while `global_clipnorm` matches PyTorch's global norm, and the HF Trainer
has no value-clipping option. Where the framework has the user's own optimizer (Keras: SGD, Adam, AdamW, ...;
the HF Trainer's `optim`: SGD, AdamW, Adagrad, RMSprop), the snippet builds that one with the user's learning
rate; Lightning and plain PyTorch keep the optimizer the user already has. The "guard"
snippet is for a run that cannot afford trials: `gradscope.Guard` adapts its threshold in the run itself.

When the trials show that clipping is not the fix, the snippets say what to change instead (`fix_snippets`: the
learning rate, a warm-up, standardised inputs), and the clip threshold stays only as a commented guard rail.
"""

from __future__ import annotations

from typing import Any

# torch.optim class name -> the Keras 3 optimizer with the same update rule (defaults may differ in epsilon).
KERAS_OPTIMIZERS = {"SGD": "SGD", "Adam": "Adam", "AdamW": "AdamW", "RMSprop": "RMSprop", "Adagrad": "Adagrad",
                    "Adadelta": "Adadelta", "Adamax": "Adamax", "NAdam": "Nadam"}
# torch.optim class name -> TrainingArguments(optim=...). Adam is AdamW with the Trainer's default weight_decay=0.
HF_OPTIMIZERS = {"SGD": "sgd", "AdamW": "adamw_torch", "Adam": "adamw_torch", "Adagrad": "adagrad",
                 "RMSprop": "rmsprop"}


def optimizer_of(config: Any) -> tuple[str, float | None]:
    """(optimizer name, learning rate) of a gradscope `Config`: what the snippets carry over."""
    lr = config.optimizer.options.get("lr")
    return config.optimizer.name, float(lr) if isinstance(lr, int | float) else None


def _fmt(threshold: float) -> str:
    return f"{threshold:.3g}"


def guard_snippet(mode: str, threshold: float) -> str:
    """For a run that cannot afford trials (a long run, a cluster job): gradscope.Guard adapts in the run."""
    return (
        f"# if you cannot afford trials: the trials chose clip-{mode} {_fmt(threshold)}; gradscope.Guard\n"
        "# finds a threshold online, in the one run (it skips non-finite steps too)\n"
        "guard = gradscope.Guard(model)\n"
        "for batch in loader:\n"
        "    optimizer.zero_grad()\n"
        "    loss = compute_loss(model, batch)\n"
        "    loss.backward()\n"
        "    if guard.step(loss):  # records, clips to the adaptive threshold; False: skip this update\n"
        "        optimizer.step()\n"
    )


def _lr(lr: float | None, default: float) -> str:
    return repr(float(lr)) if lr is not None else repr(default)


def _keras_optimizer(optimizer: str | None, lr: float | None, clip: str) -> str:
    """The Keras optimizer line: the user's optimizer and learning rate when Keras has it, else Adam."""
    if optimizer is None and lr is None:  # nothing known about the user's optimizer: the plain placeholder
        return f"optimizer = keras.optimizers.Adam(learning_rate=1e-3, {clip})\n"
    name = KERAS_OPTIMIZERS.get(optimizer or "")
    if name is not None:
        return f"optimizer = keras.optimizers.{name}(learning_rate={_lr(lr, 1e-3)}, {clip})\n"
    note = (f"# {optimizer} has no Keras twin: Adam stands in, put your optimizer here\n" if optimizer
            else "# your optimizer and learning rate go here\n")
    return note + f"optimizer = keras.optimizers.Adam(learning_rate={_lr(lr, 1e-3)}, {clip})\n"


def _hf_optimizer(optimizer: str | None, lr: float | None) -> str:
    """TrainingArguments keywords that give the Trainer the user's optimizer and learning rate, when it has it."""
    name = HF_OPTIMIZERS.get(optimizer or "")
    parts = [f'optim="{name}"'] if name else []
    if lr is not None:
        parts.append(f"learning_rate={_lr(lr, 5e-5)}")
    return "".join(f", {p}" for p in parts)


def snippets(mode: str, threshold: float, optimizer: str | None = None, lr: float | None = None, *,
             guard_rail: bool = False) -> dict[str, str]:
    """{"pytorch", "keras", "lightning", "transformers", "guard"} -> snippet, for `mode` "norm" or "value".

    `optimizer` is the torch.optim class name the run used (e.g. "SGD") and `lr` its learning rate. With
    `guard_rail` (clipping is not the fix, and no other fix was found) each snippet first says so.
    """
    found = _clip_snippets(mode, threshold, optimizer, lr)
    if guard_rail:
        head = ("# clipping is not the fix (see the notes): this threshold is only a guard rail that rarely "
                "clips\n")
        found = {name: head + code for name, code in found.items()}
    return found


def _clip_snippets(mode: str, threshold: float, optimizer: str | None, lr: float | None) -> dict[str, str]:
    t = _fmt(threshold)
    hf_args = _hf_optimizer(optimizer, lr)
    if mode == "norm":
        pytorch = (
            "loss.backward()\n"
            "# with AMP (GradScaler): scaler.unscale_(optimizer) first, to clip the real gradients\n"
            f"torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={t})\n"
            "optimizer.step()  # with AMP: scaler.step(optimizer); scaler.update()\n"
        )
        keras = (
            "# global_clipnorm clips all gradients' joint norm, like PyTorch's clip_grad_norm_;\n"
            "# clipnorm would clip each variable's gradient on its own (a different rule).\n"
            + _keras_optimizer(optimizer, lr, f"global_clipnorm={t}")
        )
        lightning = f'trainer = L.Trainer(gradient_clip_val={t}, gradient_clip_algorithm="norm")\n'
        transformers = (
            "# the Trainer clips the global gradient norm (after unscaling under fp16/bf16)\n"
            f'args = TrainingArguments(output_dir="out", max_grad_norm={t}{hf_args})\n'
        )
    elif mode == "value":
        pytorch = (
            "loss.backward()\n"
            "# with AMP (GradScaler): scaler.unscale_(optimizer) first, to clip the real gradients\n"
            f"torch.nn.utils.clip_grad_value_(model.parameters(), clip_value={t})\n"
            "optimizer.step()  # with AMP: scaler.step(optimizer); scaler.update()\n"
        )
        keras = (
            "# clipvalue clips each gradient element to [-value, value], as PyTorch's clip_grad_value_ does\n"
            + _keras_optimizer(optimizer, lr, f"clipvalue={t}")
        )
        lightning = f'trainer = L.Trainer(gradient_clip_val={t}, gradient_clip_algorithm="value")\n'
        transformers = (
            "# The Trainer has no value-clipping option (max_grad_norm clips the global norm only):\n"
            "# turn that off and clip values after each backward in a Trainer subclass.\n"
            "class ValueClipTrainer(Trainer):\n"
            "    def training_step(self, model, inputs, *args, **kwargs):\n"
            "        loss = super().training_step(model, inputs, *args, **kwargs)\n"
            f"        torch.nn.utils.clip_grad_value_(model.parameters(), clip_value={t})\n"
            "        return loss\n"
            "\n"
            f'args = TrainingArguments(output_dir="out", max_grad_norm=0.0{hf_args})  # 0 turns norm clipping off\n'
        )
    else:
        raise ValueError(f"mode must be 'norm' or 'value', got {mode!r}")
    return {"pytorch": pytorch, "keras": keras, "lightning": lightning, "transformers": transformers,
            "guard": guard_snippet(mode, threshold)}


def fix_snippets(changes: str, optimizer: str | None, lr: float | None, total: int, mode: str,
                 threshold: float) -> dict[str, str]:
    """What to change instead of clipping, per framework, for a `compare --try` text recommend found to work:
    `optimizer.lr=X`, a warm-up (`schedule.warmup_steps=N`, with `schedule.name` when the run had no schedule)
    or `data.standardize=true`. Each ends with the clip threshold as a commented, optional guard rail."""
    parts = dict(p.split("=", 1) for p in (c.strip() for c in changes.split(";")) if "=" in p)
    rail = (f"# optional guard rail, rarely clips: clip-{mode} {_fmt(threshold)} "
            "(clipping is not the fix)\n")
    if changes.startswith("--"):  # an attached script's change, as compare's options: --lr-scale F / --warmup W
        found = _script_snippets(changes.split(), optimizer, lr, total)
    elif "optimizer.lr" in parts:
        found = _lr_snippets(optimizer, float(parts["optimizer.lr"]), lr)
    elif "schedule.warmup_steps" in parts:
        name = parts.get("schedule.name", "").strip().strip('"') or None
        found = _warmup_snippets(int(parts["schedule.warmup_steps"]), name, total, optimizer, lr)
    elif "data.standardize" in parts:
        code = ("# standardise every input feature with the training set's mean and std\n"
                "mean, std = x_train.mean(0), x_train.std(0)\n"
                "x_train = (x_train - mean) / std  # and the same mean/std for validation and test inputs\n")
        found = {"pytorch": code, "keras": code, "lightning": code, "transformers": code}
    else:
        raise ValueError(f"no snippet for the change {changes!r}")
    return {name: code + rail for name, code in found.items()}


def _script_snippets(options: list[str], optimizer: str | None, lr: float | None, total: int) -> dict[str, str]:
    """What to change in the user's own script for `--lr-scale F` or `--warmup W` (the change recommend tried
    where the script steps); the other frameworks' snippets are the same change in their terms."""
    if options[0] == "--lr-scale":
        factor = float(options[1])
        new = float(f"{lr * factor:.3g}") if lr is not None else None
        found = _lr_snippets(optimizer, new if new is not None else factor, lr)
        at = f" (it stepped at lr {lr:.3g}: now {new:.3g})" if lr is not None and new is not None else ""
        found["pytorch"] = (f"# in your script: every learning rate it sets, x{factor:g}{at}; its schedule as it is\n"
                            + found["pytorch"]
                            + f"# and wherever it sets the lr itself, e.g. param_group[\"lr\"] = lr * {factor:g}\n")
        return found
    warmup = int(options[1])
    found = _warmup_snippets(warmup, None, total, optimizer, lr)
    found["pytorch"] = (f"# in your script, just before optimizer.step() (or scaler.step(optimizer)): a linear warm-up "
                        f"over the first {warmup} steps, in front of its own schedule (step counts from 0)\n"
                        "for param_group in optimizer.param_groups:\n"
                        f"    param_group[\"lr\"] = lr * min(1.0, step / {warmup})  # lr: the rate it sets now\n")
    return found


def _torch_optimizer(optimizer: str | None) -> str:
    """`torch.optim.NAME` for a torch.optim class name; `YourOptimizer` (with a note) for anything else."""
    known = optimizer is not None and optimizer.isidentifier()
    return f"torch.optim.{optimizer}" if known else "YourOptimizer"


def _lr_snippets(optimizer: str | None, new: float, old: float | None) -> dict[str, str]:
    was = f"  # was lr={old!r}" if old is not None else ""
    cls = _torch_optimizer(optimizer)
    return {
        "pytorch": f"optimizer = {cls}(model.parameters(), lr={new!r}){was}\n",
        "keras": _keras_optimizer(optimizer, new, "").replace(", )", ")"),
        "lightning": ("def configure_optimizers(self):  # in your LightningModule\n"
                      f"    return {cls}(self.parameters(), lr={new!r}){was}\n"),
        "transformers": f'args = TrainingArguments(output_dir="out", learning_rate={new!r}'
                        f'{_hf_optimizer(optimizer, None)}){was}\n',
    }


def _warmup_snippets(warmup: int, schedule: str | None, total: int, optimizer: str | None,
                     lr: float | None) -> dict[str, str]:
    """A linear warm-up over the first `warmup` steps: to the constant lr (no schedule before), or in front of
    the run's own built-in schedule (transformers' get_{schedule}_schedule_with_warmup)."""
    name = schedule or "constant"
    if name == "constant":
        factor = f"lambda step: min(1.0, step / {warmup})"
        scheduler = f"torch.optim.lr_scheduler.LambdaLR(optimizer, {factor})"
    else:
        scheduler = (f"transformers.get_{name}_schedule_with_warmup(optimizer, num_warmup_steps={warmup}, "
                     f"num_training_steps={total})")
    target = _lr(lr, 1e-3)
    keras_decay = (f"decay_steps={max(1, total - warmup)}, alpha=0.0" if name != "constant"
                   else "decay_steps=1, alpha=1.0")  # alpha=1.0: the lr stays at warmup_target after the warm-up
    return {
        "pytorch": (f"scheduler = {scheduler}\n"
                    "# after every optimizer.step(): scheduler.step()\n"),
        "keras": (f"# warm-up to learning_rate {target} over {warmup} steps"
                  + (", then cosine decay (Keras' nearest schedule)" if name != "constant" else "") + "\n"
                  f"schedule = keras.optimizers.schedules.CosineDecay(initial_learning_rate=0.0, {keras_decay}, "
                  f"warmup_target={target}, warmup_steps={warmup})\n"
                  f"optimizer = keras.optimizers.{KERAS_OPTIMIZERS.get(optimizer or '', 'Adam')}"
                  "(learning_rate=schedule)\n"),
        "lightning": ("def configure_optimizers(self):  # in your LightningModule\n"
                      "    optimizer = ...  # your optimizer, as before\n"
                      f"    scheduler = {scheduler}\n"
                      '    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, '
                      '"interval": "step"}}\n'),
        "transformers": (f'args = TrainingArguments(output_dir="out", warmup_steps={warmup}, '
                         f'lr_scheduler_type="{"constant_with_warmup" if name == "constant" else name}")\n'),
    }
