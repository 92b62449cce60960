"""`gradscope diagnose`: run instrumented training steps and report the symptoms found."""

from __future__ import annotations

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
    check_fail_on,
    fails,
    handled,
    user_code_failed,
)
from gradscope.commands.options import (
    ConfigArg,
    DebugOpt,
    FailOnOpt,
    JsonOpt,
    JUnitOpt,
    OutOpt,
    PlotsOpt,
    SampleOpt,
    SetOpt,
    StepsOpt,
)
from gradscope.errors import UserCodeError


def diagnose(
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
) -> None:
    """Run instrumented training steps and report exploding/vanishing gradient symptoms."""
    with handled(debug):
        check_fail_on(fail_on)
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
            from gradscope.report.junit import JUnitCase, write_junit

            error = result.error.render() if isinstance(result.error, UserCodeError) else (
                str(result.error) if result.error is not None else None)
            write_junit(junit, "diagnose", [JUnitCase(cfg.name, diagnosis, error=error)], fail_on)
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
            target = f"--sample {sample}" if sample else (str(config) if config else "")
            with report_output():
                print_diagnosis(diagnosis, report_console(), command_hint=f"gradscope recommend {target}".strip())
        if result.interrupted:
            with report_output():
                typer.echo(f"Interrupted after {len(result.trace)} step(s): what was recorded is diagnosed and kept "
                           f"in {run_dir}", err=True)
            raise typer.Exit(EXIT_INTERRUPTED)
        raise typer.Exit(EXIT_SYMPTOMS if fails(diagnosis.severity_rank, fail_on) else EXIT_OK)
