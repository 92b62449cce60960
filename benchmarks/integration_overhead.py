#!/usr/bin/env python
"""What the framework callbacks cost: the same Trainer with and without `GradscopeCallback`, in the same run.

The benchmark transformer is a transformers Llama of about the size of monitor_overhead.py's (d=512, 8 layers,
ff 2048, vocab 1000: ~26M parameters in ~75 tensors; random init, nothing downloaded), batch 8 x 128 tokens on
CPU, clipping on (`max_grad_norm=1.0`, as Trainer users run it), AdamW. Each round trains a fresh Trainer for a few
optimizer steps with the callback and one without, in a shuffled order; a timing callback reads the clock at
`on_step_begin` and `on_step_end` so setup is left out, and the first step of each train() is a warm-up. Two
figures per framework:

1. step ratio: median step time with the callback over without, per round, then the median over rounds (paired:
   a slow spell of the shared machine hits both runs of a round alike). Noise on a shared machine is larger than
   the effect.
2. callback / step: the time spent inside the callback's own work (recording at the clip, the loss sum, the
   scalars) over the bare step time: the steadier estimate of what it adds.

Run: `python benchmarks/integration_overhead.py [--quick] [--frameworks transformers,lightning]`.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import clock_kind, describe, median, parser, setup_torch, spread, table


def llama(torch: Any, args: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=1000, hidden_size=512, intermediate_size=2048, num_hidden_layers=8,
                         num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=args.seq)
    torch.manual_seed(0)
    return LlamaForCausalLM(config)


def token_rows(torch: Any, args: Any, n: int) -> Any:
    return torch.randint(0, 1000, (n, args.seq), generator=torch.Generator().manual_seed(0))


class Timed:
    """Accumulates the clock time spent inside wrapped callables (the callback's own work)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.total = 0.0

    def wrap(self, fn: Any) -> Any:
        def timed(*a: Any, **k: Any) -> Any:
            t0 = self.clock()
            try:
                return fn(*a, **k)
            finally:
                self.total += self.clock() - t0
        return timed


def hf_run(torch: Any, args: Any, with_callback: bool, clock: Any, tmp: Path) -> tuple[list[float], float]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from gradscope.integrations.transformers import GradscopeCallback

    steps: list[float] = []
    timed, inner, outer = Timed(clock), Timed(clock), Timed(clock)
    spent = lambda: timed.total + outer.total - inner.total  # the callback's own time so far
    warm: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.t0 = clock()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            steps.append(clock() - self.t0)
            if len(steps) == 1:
                warm.append(spent())  # the warm-up step's share is left out
    callbacks: list[Any] = [StepTimer()]
    if with_callback:
        gs = GradscopeCallback(out=tmp / f"run-{time.perf_counter_ns()}", report=False)
        gs._record = timed.wrap(gs._record)  # recording at the clip, the step's only host copy

        attach = gs._attach

        def timed_attach(trainer: Any, model: Any) -> None:
            # The callback's share of training_step is its wrapper (the on-device loss sum): outer - inner.
            trainer.training_step = inner.wrap(trainer.training_step)
            attach(trainer, model)
            trainer.training_step = outer.wrap(trainer.training_step)
            trainer.log = timed.wrap(trainer.log)

        gs._attach = timed_attach
        callbacks.append(gs)
    rows = token_rows(torch, args, args.batch * (args.steps + 1))
    data = [{"input_ids": r, "labels": r} for r in rows]
    targs = TrainingArguments(output_dir=str(tmp / "hf"), max_steps=args.steps + 1, max_grad_norm=1.0,
                              per_device_train_batch_size=args.batch, logging_steps=1, report_to=[],
                              save_strategy="no", use_cpu=args.device == "cpu", disable_tqdm=True, learning_rate=1e-4)
    trainer = Trainer(model=llama(torch, args).to(args.device), args=targs, train_dataset=data, callbacks=callbacks)
    trainer.train()
    return steps[1:], spent() - (warm[0] if warm else 0.0)


def lightning_run(torch: Any, args: Any, with_callback: bool, clock: Any, tmp: Path) -> tuple[list[float], float]:
    import lightning.pytorch as L

    from gradscope.integrations.lightning import GradscopeCallback

    steps: list[float] = []
    model = llama(torch, args)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.model(input_ids=batch, labels=batch).loss

        def configure_optimizers(self) -> Any:
            return torch.optim.AdamW(self.parameters(), lr=1e-4)

    timed = Timed(clock)
    warm: list[float] = []

    class StepTimer(L.Callback):
        def on_train_batch_start(self, *a: Any) -> None:
            self.t0 = clock()

        def on_train_batch_end(self, *a: Any) -> None:
            steps.append(clock() - self.t0)
            if len(steps) == 1:
                warm.append(timed.total)
    callbacks: list[Any] = [StepTimer()]
    if with_callback:
        gs = GradscopeCallback(out=tmp / f"run-{time.perf_counter_ns()}", report=False)
        for hook in ("on_train_batch_start", "on_before_backward", "on_before_optimizer_step"):
            setattr(gs, hook, timed.wrap(getattr(gs, hook)))
        callbacks.append(gs)
    rows = token_rows(torch, args, args.batch * (args.steps + 1))
    loader = torch.utils.data.DataLoader(rows, batch_size=args.batch)
    trainer = L.Trainer(max_steps=args.steps + 1, gradient_clip_val=1.0, callbacks=callbacks, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator=args.device, devices=1)
    trainer.fit(Module(), loader)
    return steps[1:], timed.total - (warm[0] if warm else 0.0)


RUNNERS = {"transformers": hf_run, "lightning": lightning_run}


def measure(torch: Any, args: Any, name: str, clock: Any) -> dict[str, Any]:
    run = RUNNERS[name]
    ratios, shares, bare_steps = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            order = [True, False]
            random.shuffle(order)
            result = {}
            for with_callback in order:
                result[with_callback] = run(torch, args, with_callback, clock, Path(tmp))
            bare = median(result[False][0])
            ratios.append(median(result[True][0]) / bare)
            shares.append(result[True][1] / len(result[True][0]) / bare)
            bare_steps.append(bare)
    return {"step_ratio": median(ratios), "ratio_noise": spread(ratios), "callback_share": median(shares),
            "share_noise": spread(shares), "bare_step_s": median(bare_steps), "rounds": args.rounds,
            "steps_per_run": args.steps}


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--frameworks", default="transformers,lightning", help="comma-separated: transformers, lightning")
    p.add_argument("--batch", type=int, default=None, help="batch (default 8; --quick 2)")
    p.add_argument("--seq", type=int, default=128, help="tokens per row (default 128)")
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps per train() (default 3)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5; --quick 3)")
    args = p.parse_args()
    args.batch = args.batch or (2 if args.quick else 8)
    args.steps = args.steps or 3
    args.rounds = args.rounds or (3 if args.quick else 5)
    torch = setup_torch(args)
    import transformers
    from _common import Clock

    transformers.logging.set_verbosity_error()
    clock = Clock(torch, args.device, clock_kind(args))
    random.seed(0)
    print(describe(torch, args))
    print(f"Llama ~26M parameters, batch {args.batch} x {args.seq} tokens, {args.steps} timed steps per run, "
          f"{args.rounds} rounds, clock {clock.kind}")
    results = {name: measure(torch, args, name, clock) for name in args.frameworks.split(",")}
    rows = [[name, f"{r['bare_step_s']:.3f} s", f"{r['step_ratio']:.4f} +-{r['ratio_noise']:.1%}",
             f"{r['callback_share']:.2%} +-{r['share_noise']:.0%}"] for name, r in results.items()]
    print(table(rows, ["framework", "bare step", "step with / without", "callback / bare step"]))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
