"""`gradscope recommend`: the clip threshold that fixes the run, measured by seeded trials (of a config, or
reruns of the user's own command after `--`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gradscope.commands.common import (
    default_run_dir,
    progress_bar,
    report_output,
    resolve_config,
    stdout_to_stderr,
)
from gradscope.commands.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_USER_CODE, handled, user_code_failed
from gradscope.commands.options import (
    BudgetOpt,
    ConfigArg,
    DebugOpt,
    JsonOpt,
    OutOpt,
    PlotsOpt,
    SampleOpt,
    SeedOpt,
    SetOpt,
    StepsOpt,
    checked_budget,
)
from gradscope.commands.script_args import script_command
from gradscope.errors import ConfigError, UserCodeError
from gradscope.numbers import number_text

if TYPE_CHECKING:
    from gradscope.trials.recommend import Recommendation

ModeOpt = Annotated[str, typer.Option(
    "--mode", metavar="norm|value",
    help="norm: clip the global L2 norm (clip_grad_norm_); value: clip each element (clip_grad_value_).")]
WriteOpt = Annotated[bool, typer.Option("--write", help="Write the threshold into the config's [clip] table, "
                                                        "keeping comments and layout.")]


def recommend(
    ctx: typer.Context,
    config: ConfigArg = None,
    mode: ModeOpt = "norm",
    steps: StepsOpt = None,
    budget: BudgetOpt = None,
    as_json: JsonOpt = False,
    write: WriteOpt = False,
    out: OutOpt = None,
    overrides: SetOpt = None,
    sample: SampleOpt = None,
    debug: DebugOpt = False,
    seed: SeedOpt = None,
    plots: PlotsOpt = True,
) -> None:
    """Recommend a gradient-clipping threshold, tested by trial runs from the same seed.

    With `-- COMMAND [ARGS]...` the trials are reruns of the command, attached, each clipped where the script steps;
    the fixes that are not a clip (a lower learning rate, a warm-up) are tried where it steps too, as compare's
    --lr-scale and --warmup.
    """
    with handled(debug):
        if mode not in ("norm", "value"):
            raise ConfigError(f"--mode {mode!r} is not a mode (fix: --mode norm or --mode value)")
        command = script_command(ctx)
        budget = checked_budget(budget, script=command is not None)
        if command is not None:
            _recommend_command(command, config, sample, overrides, write, mode, budget, steps, seed, as_json, out,
                               plots)
        if seed is not None:
            overrides = [*(overrides or []), f"run.seed={seed}"]
        cfg = resolve_config(config, sample, overrides, steps)
        if write and (sample is not None or cfg.path is None):
            raise ConfigError("--write needs a config file of yours (fix: pass CONFIG, not --sample)")
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
        note = None
        if write:
            from gradscope.config.write import write_clip

            write_clip(cfg.path, rec.mode, rec.threshold)
            note = f"wrote [clip] {rec.mode} = {number_text(rec.threshold, '.3g')} to {cfg.path}"
        _report(rec, run_dir, plots, as_json, note)


def _recommend_command(command: list[str], config: Path | None, sample: str | None, overrides: list[str] | None,
                       write: bool, mode: str, budget: float, steps: int | None, seed: int | None, as_json: bool,
                       out: Path | None, plots: bool) -> None:
    """`recommend -- COMMAND`: the trials are reruns of the command, attached (trials/script.py)."""
    from gradscope.attach import command_label
    from gradscope.attach.launch import check_command
    from gradscope.trials.script import ScriptFailed, recommend_command

    if config is not None or sample is not None or overrides:
        given = f"CONFIG {config}" if config is not None else ("--sample" if sample is not None else "--set")
        raise ConfigError(f"{given} and a command after -- were both given (fix: recommend for either a config or "
                          "a command: gradscope recommend -- python train.py)")
    if write:
        raise ConfigError("--write writes a config's [clip] table; a command has none (fix: drop --write and pass "
                          "the threshold to your script's own clip_grad_norm_)")
    if steps is not None and steps <= 0:
        raise ConfigError(f"--steps must be a positive integer, got {steps} (fix: e.g. --steps 100)")
    check_command(command)
    run_dir = default_run_dir(f"{Path(command_label(command)).stem or 'command'}-recommend", out)
    kept = f"every trial's record is kept in {run_dir}"
    try:
        with stdout_to_stderr(), progress_bar(not as_json, "recommend trials") as progress:
            rec = recommend_command(command, run_dir, mode=mode, budget=budget, steps=steps, seed=seed or 0,
                                    progress=progress)
    except ScriptFailed as exc:
        typer.echo(f"Error: {exc} (its output is above); no recommendation from a trial that failed; {kept}",
                   err=True)
        raise typer.Exit(EXIT_USER_CODE) from None
    except KeyboardInterrupt:
        typer.echo(f"Interrupted: no recommendation; {kept}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _report(rec, run_dir, plots, as_json)


def _report(rec: Recommendation, run_dir: Path, plots: bool, as_json: bool, note: str | None = None) -> None:
    """The trials drawn beside their folders (trials_loss.png, trials_grad_norm.png), then the recommendation on
    stdout (the JSON document, or the report with `note` after it on stderr); exit 0."""
    from gradscope.strict_json import dumps

    if plots:
        from gradscope.trials.trial_plots import write_trial_plots

        write_trial_plots(run_dir)
    with report_output():
        if as_json:
            typer.echo(dumps(rec.to_dict()))
        else:
            from gradscope.report.console import report_console
            from gradscope.report.recommend_console import print_recommendation

            print_recommendation(rec, report_console())
            if note is not None:
                typer.echo(note, err=True)
    raise typer.Exit(EXIT_OK)
