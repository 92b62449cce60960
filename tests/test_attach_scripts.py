"""`gradscope diagnose -- COMMAND` on training scripts written the way users write them (tests/scripts,
examples/scripts): every trace row against the numbers the script computed itself (the losses it backpropagated,
what its clip_grad_norm_ returned), and verdicts on a healthy and an unstable setting of the nanoGPT-like script.
Real child processes, no mocks. (tests/scripts/sine_lbfgs.py, time_sequence_prediction's shape, is checked by hand:
test_attach.py covers LBFGS.)"""

from __future__ import annotations

import json

import pytest
from attach_helpers import SCRIPTS, TRAIN_GPT, gradscope, read_trace, read_truth, script_cmd, worst_error

# (script, its arguments). Covered elsewhere, not repeated here: GradScaler skipped steps, accumulation, a GAN's
# runs, torchrun (test_attach.py: amp_fp16, adamw_accum, gan, ddp); SGD by hand on the word LM with its hidden state
# (test_attach_trials.py's compare baseline, checked against the script's own numbers).
CASES = {
    # bf16 autocast, StepLR, clip_grad_value_
    "amp-bf16": (SCRIPTS / "amp_bf16.py", ["--epochs", "1", "--clip-value", "0.01"]),
    "hf-trainer": (SCRIPTS / "hf_trainer.py", ["--max_steps", "4"]),
    # Trainer.fit with accumulate_grad_batches: the last micro-batch runs inside optimizer.step(closure)
    "lightning": (SCRIPTS / "lightning_fit.py", ["--max_steps", "4"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rows_are_the_scripts_own_numbers(name, tmp_path):
    script, args = CASES[name]
    truth = tmp_path / "truth.jsonl"
    done = gradscope("diagnose", "--no-plots", "--json", "--out", str(tmp_path / "run"),
                     command=script_cmd(script, *args), truth=truth)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    rows = read_truth(truth)
    trace = read_trace(tmp_path / "run")
    assert len(rows) >= 2 and len(trace) == len(rows), (len(trace), len(rows))
    assert worst_error(trace, rows, "loss", "loss") < 1e-5
    assert worst_error(trace, rows, "grad_norm", "grad_norm") < 1e-5
    unchecked = {u["kind"]: u["why"] for u in json.loads(done.stdout)["unchecked"]}
    if name == "amp-bf16":  # clip_grad_value_(0.01) engages on every step
        assert trace["clipped"].all()
        assert "computes in bfloat16" in unchecked["activation_overflow"]  # its replay check is a config's only


@pytest.mark.parametrize(("args", "verdict"), [
    (["--learning_rate", "3e-2", "--grad_clip", "0"], "healthy"),
    (["--learning_rate", "10", "--grad_clip", "0", "--warmup_iters", "5"], "critical"),
])
def test_nanogpt_verdicts(args, verdict, tmp_path):
    done = gradscope("diagnose", "--no-plots", "--json", "--out", str(tmp_path / "run"),
                     command=script_cmd(TRAIN_GPT, "--max_iters", "40", "--n_layer", "1", *args))
    assert done.returncode == (0 if verdict == "healthy" else 1), done.stderr[-3000:]
    assert json.loads(done.stdout)["verdict"] == verdict
