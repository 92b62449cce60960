"""`gradscope diagnose -- COMMAND` on training scripts written the way users write them (tests/scripts,
examples/scripts): every trace row against the numbers the script computed itself (the losses it backpropagated,
what its clip_grad_norm_ returned), and verdicts on a healthy and an unstable setting of the nanoGPT-like script.
Real child processes, no mocks. (tests/scripts/sine_lbfgs.py, time_sequence_prediction's shape, is checked by hand:
test_attach.py covers LBFGS.)"""

from __future__ import annotations

import json

import pytest
from attach_helpers import EXAMPLES, SCRIPTS, TRAIN_GPT, gradscope, read_trace, read_truth, script_cmd, worst_error

# (script, its arguments, torchrun ranks, the runs it has: None for one optimizer, else their labels)
CASES = {
    # nanoGPT's loop in fp16: GradScaler (a skipped step at the start), accumulation x2, clip_grad_norm_
    "nanogpt-fp16": (TRAIN_GPT, ["--max_iters", "6", "--n_layer", "1", "--dtype", "float16",
                                 "--init_scale", "1048576"], 0, None),
    # SGD by hand (no torch.optim), clip_grad_norm_, hidden state carried across batches
    "word-lm": (EXAMPLES / "word_lm.py", ["--epochs", "1", "--model", "GRU"], 0, None),
    # two optimizers: a run each, named by the script's own names for the modules
    "dcgan": (SCRIPTS / "dcgan.py", ["--manualSeed", "3"], 0, ("netD", "netG")),
    # bf16 autocast, StepLR, clip_grad_value_
    "amp-bf16": (SCRIPTS / "amp_bf16.py", ["--epochs", "1", "--clip-value", "0.01"], 0, None),
    "hf-trainer": (SCRIPTS / "hf_trainer.py", ["--max_steps", "4"], 0, None),
    # Trainer.fit with accumulate_grad_batches: the last micro-batch runs inside optimizer.step(closure)
    "lightning": (SCRIPTS / "lightning_fit.py", ["--max_steps", "4"], 0, None),
    "torchrun-ddp": (SCRIPTS / "ddp_train.py", ["--epochs", "1"], 2, None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rows_are_the_scripts_own_numbers(name, tmp_path):
    script, args, ranks, labels = CASES[name]
    truth = tmp_path / "truth.jsonl"
    done = gradscope("diagnose", "--no-plots", "--json", "--out", str(tmp_path / "run"),
                     command=script_cmd(script, *args, ranks=ranks), truth=truth)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    doc = json.loads(done.stdout)
    for label in labels or (None,):
        rows = read_truth(truth, label)
        trace = read_trace(tmp_path / "run" / label if label else tmp_path / "run")
        assert len(rows) >= 2 and len(trace) == len(rows), (label, len(trace), len(rows))
        assert worst_error(trace, rows, "loss", "loss") < 1e-5, label
        assert worst_error(trace, rows, "grad_norm", "grad_norm") < 1e-5, label
    if labels:
        assert [r["label"] for r in doc["runs"]] == list(labels)
    if name == "nanogpt-fp16":  # the step the GradScaler skipped is a row, where the script saw it skipped
        assert list(trace["amp_skipped"]) == [int(r["amp_skipped"]) for r in rows] and trace["amp_skipped"].any()
    if name == "amp-bf16":  # clip_grad_value_(0.01) engages on every step
        assert trace["clipped"].all()


@pytest.mark.parametrize(("args", "verdict"), [
    (["--learning_rate", "3e-2", "--grad_clip", "0"], "healthy"),
    (["--learning_rate", "10", "--grad_clip", "0", "--warmup_iters", "5"], "critical"),
])
def test_nanogpt_verdicts(args, verdict, tmp_path):
    done = gradscope("diagnose", "--no-plots", "--json", "--out", str(tmp_path / "run"),
                     command=script_cmd(TRAIN_GPT, "--max_iters", "40", "--n_layer", "1", *args))
    assert done.returncode == (0 if verdict == "healthy" else 1), done.stderr[-3000:]
    assert json.loads(done.stdout)["verdict"] == verdict
