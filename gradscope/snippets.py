"""Paste-ready clipping lines for PyTorch, Keras, Lightning and the Hugging Face Trainer.

Each snippet is valid Python (it compiles) and carries the threshold; what differs between frameworks is said
in the snippet's comments, where the user will read it: Keras `clipnorm` is per variable while
`global_clipnorm` matches PyTorch's global norm, and the HF Trainer has no value-clipping option. The "guard"
snippet is for a run that cannot afford trials: `gradscope.Guard` adapts its threshold in the run itself.
"""

from __future__ import annotations


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


def snippets(mode: str, threshold: float) -> dict[str, str]:
    """{"pytorch", "keras", "lightning", "transformers", "guard"} -> snippet, for `mode` "norm" or "value"."""
    t = _fmt(threshold)
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
            f"optimizer = keras.optimizers.Adam(learning_rate=1e-3, global_clipnorm={t})\n"
        )
        lightning = f'trainer = L.Trainer(gradient_clip_val={t}, gradient_clip_algorithm="norm")\n'
        transformers = (
            "# the Trainer clips the global gradient norm (after unscaling under fp16/bf16)\n"
            f'args = TrainingArguments(output_dir="out", max_grad_norm={t})\n'
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
            f"optimizer = keras.optimizers.Adam(learning_rate=1e-3, clipvalue={t})\n"
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
            'args = TrainingArguments(output_dir="out", max_grad_norm=0.0)  # 0 turns norm clipping off\n'
        )
    else:
        raise ValueError(f"mode must be 'norm' or 'value', got {mode!r}")
    return {"pytorch": pytorch, "keras": keras, "lightning": lightning, "transformers": transformers,
            "guard": guard_snippet(mode, threshold)}
