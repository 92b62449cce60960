"""`gradscope recommend`: the clip threshold that fixes the run, measured by seeded trials."""

from __future__ import annotations

from typing import Annotated

import typer

from gradscope.commands.common import (
    default_run_dir,
    progress_bar,
    report_output,
    resolve_config,
    stdout_to_stderr,
)
from gradscope.commands.exits import EXIT_INTERRUPTED, EXIT_OK, handled, user_code_failed
from gradscope.commands.options import ConfigArg, DebugOpt, JsonOpt, OutOpt, SampleOpt, SetOpt, StepsOpt
from gradscope.errors import ConfigError, UserCodeError
from gradscope.numbers import number_text

MAX_BUDGET = 1000.0  # trials of a thousand runs' worth of steps: more is a typo, not a plan

ModeOpt = Annotated[str, typer.Option(
    "--mode", metavar="norm|value",
    help="norm: clip the global L2 norm (clip_grad_norm_); value: clip each element (clip_grad_value_).")]
BudgetOpt = Annotated[float, typer.Option(
    "--budget", metavar="B",
    help="Total optimizer steps, in diagnose runs (default 2): more trials cost more and search finer.")]
WriteOpt = Annotated[bool, typer.Option("--write", help="Write the threshold into the config's [clip] table, "
                                                        "keeping comments and layout.")]


def recommend(
    config: ConfigArg = None,
    mode: ModeOpt = "norm",
    steps: StepsOpt = None,
    budget: BudgetOpt = 2.0,  # gradscope.trials.recommend.DEFAULT_BUDGET (not imported: --help stays torch-free)
    as_json: JsonOpt = False,
    write: WriteOpt = False,
    out: OutOpt = None,
    overrides: SetOpt = None,
    sample: SampleOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Recommend a gradient-clipping threshold, tested by trial runs from the same seed."""
    with handled(debug):
        if mode not in ("norm", "value"):
            raise ConfigError(f"--mode {mode!r} is not a mode (fix: --mode norm or --mode value)")
        if not 1.5 <= budget <= MAX_BUDGET:  # NaN fails too
            raise ConfigError(f"--budget must be at least 1.5 and at most {MAX_BUDGET:g} diagnose runs, got {budget:g} "
                              "(fix: e.g. --budget 2)")
        cfg = resolve_config(config, sample, overrides, steps)
        if write and (sample is not None or cfg.path is None):
            raise ConfigError("--write needs a config file of yours (fix: pass CONFIG, not --sample)")
        from gradscope.strict_json import dumps
        from gradscope.trials.recommend import recommend as run_recommend

        run_dir = default_run_dir(f"{cfg.name}-recommend", out)
        kept = f"every trial's record is kept in {run_dir}"
        try:
            with stdout_to_stderr(), progress_bar(not as_json, "recommend trials") as progress:
                rec = run_recommend(cfg, run_dir, mode=mode, budget=budget, steps=steps, progress=progress)
        except UserCodeError as exc:
            user_code_failed(exc, f"(no recommendation from a trial that crashed; {kept})", debug=debug)
        except KeyboardInterrupt:
            typer.echo(f"Interrupted: no recommendation; {kept}", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if write:
            from gradscope.config.write import write_clip

            write_clip(cfg.path, rec.mode, rec.threshold)
        with report_output():
            if as_json:
                typer.echo(dumps(rec.to_dict()))
            else:
                from gradscope.report.console import report_console
                from gradscope.report.recommend_console import print_recommendation

                print_recommendation(rec, report_console())
                if write:
                    typer.echo(f"wrote [clip] {rec.mode} = {number_text(rec.threshold, '.3g')} to {cfg.path}", err=True)
        raise typer.Exit(EXIT_OK)
