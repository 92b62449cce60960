"""Paste-ready clipping lines for PyTorch, Keras, Lightning and the Hugging Face Trainer.

Each snippet is valid Python that carries the threshold, and the tests run every one of them on a tiny model
(tests/test_snippets.py). What differs between frameworks is said in the snippet's comments, where the user will
read it: Keras `clipnorm` is per variable while `global_clipnorm` matches PyTorch's global norm, and the HF Trainer
has no value-clipping option. Where the framework has the user's own optimizer (Keras: SGD, Adam, AdamW, ...;
the HF Trainer's `optim`: SGD, AdamW, Adagrad, RMSprop), the snippet builds that one with the user's learning
rate; Lightning and plain PyTorch keep the optimizer the user already has. The "guard"
snippet is for a run that cannot afford trials: `gradscope.Guard` adapts its threshold in the run itself.
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


def snippets(mode: str, threshold: float, optimizer: str | None = None, lr: float | None = None) -> dict[str, str]:
    """{"pytorch", "keras", "lightning", "transformers", "guard"} -> snippet, for `mode` "norm" or "value".

    `optimizer` is the torch.optim class name the run used (e.g. "SGD") and `lr` its learning rate.
    """
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
