"""`gradscope diagnose`: run instrumented training steps (a config's, or the user's own command attached) and report
the symptoms found."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gradscope.commands.common import (
    default_run_dir,
    progress_bar,
    report_output,
    resolve_config,
    stdout_to_stderr,
)
from gradscope.commands.exits import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SYMPTOMS,
    EXIT_USER_CODE,
    check_fail_on,
    fails,
    handled,
    user_code_failed,
)
from gradscope.commands.logs import diagnose_log_command, is_log_path, refuse_run_options
from gradscope.commands.options import (
    ConfigArg,
    DebugOpt,
    FailOnOpt,
    JsonOpt,
    JUnitOpt,
    MapOpt,
    OutOpt,
    PlotsOpt,
    SampleOpt,
    SeedOpt,
    SetOpt,
    StepsOpt,
)
from gradscope.commands.script_args import script_command
from gradscope.errors import ConfigError, UserCodeError

if TYPE_CHECKING:
    from gradscope.config.load import Config
    from gradscope.drivers.loop import RunResult


def diagnose(
    ctx: typer.Context,
    config: ConfigArg = None,
    steps: StepsOpt = None,
    as_json: JsonOpt = False,
    out: OutOpt = None,
    fail_on: FailOnOpt = "critical",
    overrides: SetOpt = None,
    sample: SampleOpt = None,
    plots: PlotsOpt = True,
    debug: DebugOpt = False,
    junit: JUnitOpt = None,
    mapping: MapOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Run instrumented training steps and report exploding/vanishing gradient symptoms; or, given a log of a
    run already done (trainer_state.json, TensorBoard, Lightning CSVLogger, CSV, JSONL, a run folder), read it.

    With `-- COMMAND [ARGS]...` (e.g. `-- python train.py --lr 0.1`) the command runs unchanged, attached:
    every optimizer step it takes is recorded.
    """
    with handled(debug):
        check_fail_on(fail_on)
        command = script_command(ctx)
        if mapping and (command is not None or config is None or not is_log_path(config)):
            raise ConfigError("--map names the columns of a log (fix: pass a log to read, or drop --map)")
        if command is not None:
            _diagnose_command(command, config, sample, overrides, steps, seed, as_json, out, fail_on, plots, junit)
        if config is not None and is_log_path(config):
            explicit_plots = ctx.get_parameter_source("plots").name == "COMMANDLINE" and plots  # --no-plots: none
            refuse_run_options(config, {"--steps": steps, "--seed": seed, "--set": overrides or None,
                                        "--sample": sample, "--out": out, "--plots": explicit_plots or None})
            diagnose_log_command(config, mapping, as_json=as_json, fail_on=fail_on, junit=junit)
        if seed is not None:
            overrides = [*(overrides or []), f"run.seed={seed}"]
        cfg = resolve_config(config, sample, overrides, steps)
        from gradscope.drivers.loop import train
        from gradscope.report.console import print_diagnosis, report_console
        from gradscope.strict_json import dumps

        run_dir = default_run_dir(cfg.name, out)
        with stdout_to_stderr(), progress_bar(not as_json, f"diagnose {cfg.name}") as progress:
            result = train(cfg, run_dir, steps=steps, progress=progress, write_plots=plots)
        diagnosis = result.diagnosis
        recorded = f"{len(result.trace)} step(s) recorded before it are in {run_dir}"
        if junit is not None:
            _write_junit(junit, cfg.name, result, fail_on)
        if isinstance(result.error, UserCodeError):
            user_code_failed(result.error, f"({recorded}: trace.csv, diagnosis.json)", debug=debug)
        if result.error is not None:
            raise result.error  # bad input found mid-run, or a full disk: one line and exit 2 (handled)
        from gradscope.ranks import is_writer

        if not is_writer():
            pass  # under torchrun rank 0 prints; every rank holds the same findings and exits with the same code
        elif as_json:
            with report_output():
                typer.echo(dumps(diagnosis.to_dict()))
        else:
            again = _this_run(config, sample, overrides, steps)
            with report_output():
                print_diagnosis(diagnosis, report_console(), command_hint=f"gradscope recommend {again}".strip(),
                                warmup_compare=lambda warmup: _warmup_compare(cfg, again, warmup))
        if result.interrupted:
            with report_output():
                typer.echo(f"Interrupted after {len(result.trace)} step(s): what was recorded is diagnosed and kept "
                           f"in {run_dir}", err=True)
            raise typer.Exit(EXIT_INTERRUPTED)
        raise typer.Exit(EXIT_SYMPTOMS if fails(diagnosis.severity_rank, fail_on) else EXIT_OK)


def _this_run(config: Path | None, sample: str | None, overrides: list[str] | None, steps: int | None) -> str:
    """This config run's arguments, for the commands the report suggests next: CONFIG (or --sample), --set, --steps."""
    return shlex.join([*(["--sample", sample] if sample else [str(config)] if config else []),
                       *(a for o in overrides or [] for a in ("--set", o)),
                       *(["--steps", str(steps)] if steps else [])])


def _warmup_compare(cfg: Config, again: str, warmup: int) -> str | None:
    """The compare that runs the config's run (`again`: its CONFIG, --set and --steps) beside itself with a warm-up
    over its first `warmup` steps; None where its schedule takes none."""
    warmed = cfg.schedule.warmed_up(warmup)
    return f"gradscope compare {again} --try {shlex.quote(warmed[1])}" if warmed else None


def _write_junit(junit: Path, name: str, result: RunResult, fail_on: str) -> None:
    """The config run's diagnosis as one JUnit case; a run that failed is an error case with its message."""
    from gradscope.report.junit import JUnitCase, write_junit

    error = result.error.render() if isinstance(result.error, UserCodeError) else (
        str(result.error) if result.error is not None else None)
    write_junit(junit, "diagnose", [JUnitCase(name, result.diagnosis, error=error)], fail_on)


def _diagnose_command(command: list[str], config: Path | None, sample: str | None, overrides: list[str] | None,
                      steps: int | None, seed: int | None, as_json: bool, out: Path | None, fail_on: str,
                      plots: bool, junit: Path | None) -> None:
    """`diagnose -- COMMAND`: the command run attached (gradscope.attach), reported as a config's run is."""
    if config is not None or sample is not None or overrides:
        given = f"CONFIG {config}" if config is not None else ("--sample" if sample is not None else "--set")
        raise ConfigError(f"{given} and a command after -- were both given (fix: diagnose either a config or a "
                          "command: gradscope diagnose -- python train.py)")
    if steps is not None and steps <= 0:
        raise ConfigError(f"--steps must be a positive integer, got {steps} (fix: e.g. --steps 100)")
    from gradscope.attach import command_label
    from gradscope.attach.session import record_command
    from gradscope.report.console import print_diagnosis, report_console
    from gradscope.strict_json import dumps

    label = command_label(command)
    run_dir = default_run_dir(Path(label).stem or "command", out)
    result = record_command(command, run_dir, steps=steps, seed=seed or 0, plots=plots, label=label)
    rows = max((len(r.trace) for r in result.runs), default=0)
    if junit is not None:
        from gradscope.report.junit import JUnitCase, write_junit

        write_junit(junit, "diagnose", [JUnitCase(r.label, r.diagnosis, error=result.error) for r in result.runs],
                    fail_on)
    if result.error is not None and not rows:
        typer.echo(f"Error: {result.error} (its output is above), before its first optimizer step", err=True)
        raise typer.Exit(EXIT_USER_CODE)
    with report_output():  # a script that raised is diagnosed as far as it ran (one that blew up may raise for it)
        if as_json:
            typer.echo(dumps(result.document()))
        else:
            again = shlex.join([*(["--steps", str(steps)] if steps else []),
                                *(["--seed", str(seed)] if seed else []), "--", *command])
            for run in result.runs:  # --warmup changes a torch.optim optimizer's lr: not a hand-made update's
                print_diagnosis(run.diagnosis, report_console(), command_hint=f"gradscope recommend {again}",
                                warmup_compare=None if run.optimizer is None else
                                lambda warmup: f"gradscope compare --warmup {warmup} {again}")
        if result.interrupted:
            typer.echo(f"Interrupted after {rows} step(s): what was recorded is diagnosed and kept in "
                       f"{result.run_dir}", err=True)
    if result.error is not None:
        typer.echo(f"Error: {result.error} (its output is above); {rows} step(s) recorded before it are in "
                   f"{result.run_dir}: trace.csv, diagnosis.json", err=True)
        raise typer.Exit(EXIT_USER_CODE)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    worst = max(r.diagnosis.severity_rank for r in result.runs) if result.runs else 0
    raise typer.Exit(EXIT_SYMPTOMS if fails(worst, fail_on) else EXIT_OK)
