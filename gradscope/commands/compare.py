"""`gradscope compare`: rerun a config (or the user's own command, after `--`) with clipping from the same seed
beside the unclipped baseline, or compare recorded run folders, and say whether clipping fixed the run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gradscope.clip.setting import THRESHOLD_MODES
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
)
from gradscope.commands.options import (
    BudgetOpt,
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
    checked_budget,
)
from gradscope.commands.script_args import script_command
from gradscope.errors import ConfigError

if TYPE_CHECKING:
    from gradscope.trials.compare import Comparison

PathsArg = Annotated[list[Path] | None, typer.Argument(
    metavar="CONFIG | RUN_DIR | LOG", show_default=False,
    help="A TOML config to rerun with clipping (default: ./gradscope.toml, then [tool.gradscope] in "
         "./pyproject.toml), or two or more runs already done to compare as they are, the first the baseline: "
         "run folders (holding trace.csv) or logs (trainer_state.json, TensorBoard, Lightning CSVLogger, CSV, "
         "JSONL), in any mix.")]
# Thresholds are read as text so a bad one is a one-line error (exit 2), not click's usage block.
ClipNormOpt = Annotated[list[str] | None, typer.Option(
    "--clip-norm", metavar="X", show_default=False,
    help="Rerun with the global gradient L2 norm clipped to X (clip_grad_norm_). Repeat to try several.")]
ClipValueOpt = Annotated[list[str] | None, typer.Option(
    "--clip-value", metavar="X", show_default=False,
    help="Rerun with every gradient element clipped to [-X, X] (clip_grad_value_). Repeat to try several.")]
ClipAdaptiveOpt = Annotated[bool, typer.Option(
    "--clip-adaptive", help="Rerun with gradscope.Guard: online adaptive clipping, no threshold to choose.")]
RecommendedOpt = Annotated[bool, typer.Option(
    "--recommended", help="Run gradscope recommend first and add its threshold to the runs compared.")]
TryOpt = Annotated[list[str] | None, typer.Option(
    "--try", metavar="CHANGES", show_default=False,
    help="Rerun with config changes, KEY=VALUE (TOML values, as --set), several joined by ';', e.g. --try "
         "optimizer.lr=1e-3 or --try 'schedule.name=\"cosine\";schedule.warmup_steps=100'. With a command after "
         "--: arguments appended to it, e.g. --try '--learning_rate=1e-3'. Repeat for more runs.")]
LrScaleOpt = Annotated[list[str] | None, typer.Option(
    "--lr-scale", metavar="F", show_default=False,
    help="With a command after --: rerun with every optimizer step's learning rate x F (e.g. 0.1: 10x lower), the "
         "script's own schedule kept. Repeat to try several. (A config: --try optimizer.lr=X.)")]
WarmupOpt = Annotated[list[str] | None, typer.Option(
    "--warmup", metavar="W", show_default=False,
    help="With a command after --: rerun with a linear warm-up over the first W optimizer steps, in front of the "
         "script's own schedule. Repeat to try several. (A config: --try schedule.warmup_steps=W.)")]
ModeOpt = Annotated[str, typer.Option(
    "--mode", metavar="norm|value", help="With --recommended: recommend a norm or a value clip.")]

_RERUN_OPTIONS = ("--clip-norm", "--clip-value", "--clip-adaptive", "--recommended", "--try", "--steps", "--set",
                  "--sample", "--seed", "--lr-scale", "--warmup")


def compare(
    ctx: typer.Context,
    paths: PathsArg = None,
    clip_norm: ClipNormOpt = None,
    clip_value: ClipValueOpt = None,
    clip_adaptive: ClipAdaptiveOpt = False,
    recommended: RecommendedOpt = False,
    tries: TryOpt = None,
    lr_scales: LrScaleOpt = None,
    warmups: WarmupOpt = None,
    mode: ModeOpt = "norm",
    budget: BudgetOpt = None,
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
    """Rerun with gradient clipping or any config change from the same seed and show, side by side, whether
    it fixed the run.

    The unclipped baseline (the run diagnose makes) comes first, then one run per --clip-norm / --clip-value /
    --clip-adaptive / --recommended / --try, each in its own subfolder of --out. Exit 1 when a compared run
    still has a symptom at or above --fail-on.

    With `-- COMMAND [ARGS]...` each run is the command rerun attached: the clip applied where the script steps
    (in place of its own clip_grad_norm_ threshold, or before optimizer.step()).
    """
    with handled(debug):
        check_fail_on(fail_on)
        from gradscope.trials import compare as lib

        command = script_command(ctx)
        recommend_mode, budget = _recommend_options(recommended, mode, budget, script=command is not None)
        config_path, recorded = lib.split_paths(paths or []) if command is None else (None, [])
        if command is not None:
            result = _compare_command(command, paths, overrides, sample, steps, seed, out, plots,
                                      lib.parse_clips(clip_norm or [], clip_value or [], adaptive=clip_adaptive),
                                      tries or [], recommend_mode, lr_scales or [], warmups or [], budget)
        elif recorded:
            chosen = (clip_norm, clip_value, clip_adaptive, recommended, tries, steps, overrides, sample, seed,
                      lr_scales, warmups)
            given = [name for name, value in zip(_RERUN_OPTIONS, chosen, strict=True)
                     if value is not None and value is not False]  # --seed 0 and --steps 0 are given too
            if given:
                raise ConfigError(f"{given[0]} reruns a config and cannot be used with runs already done "
                                  "(fix: pass the config instead, or drop the option)")
            result = _compare_recorded(recorded, out, plots, mapping)
        else:
            if mapping:
                raise ConfigError("--map names the columns of logs (fix: pass two or more logs, or drop --map)")
            if lr_scales or warmups:
                given = "--lr-scale" if lr_scales else "--warmup"
                raise ConfigError(f"{given} changes the learning rate where a command after -- steps; a config says "
                                  "it in its own keys (fix: --try optimizer.lr=X, or --try schedule.warmup_steps=W)")
            if seed is not None:
                overrides = [*(overrides or []), f"run.seed={seed}"]
            clips = lib.parse_clips(clip_norm or [], clip_value or [], adaptive=clip_adaptive)
            result = _compare_config(config_path, sample, overrides, steps, clips, tries or [],
                                     recommend_mode, budget, out, plots, as_json)
        _report(result, as_json, junit, fail_on)


def _recommend_options(recommended: bool, mode: str, budget: float | None,
                       script: bool) -> tuple[str | None, float | None]:
    """--recommended's --mode and --budget checked: (the mode, the budget), or (None, None) without it."""
    if mode not in THRESHOLD_MODES:
        raise ConfigError(f"--mode {mode!r} is not a clip mode (fix: --mode norm or --mode value)")
    if budget is not None and not recommended:
        raise ConfigError("--budget bounds the trials of --recommended (fix: add --recommended, or drop --budget)")
    return (mode, checked_budget(budget, script)) if recommended else (None, None)


def _compare_recorded(recorded: list[Path], out: Path | None, plots: bool,
                      mapping: list[str] | None) -> Comparison:
    """`compare RUN RUN ...`: runs already done, compared as they are; the notes of reading their logs on stderr."""
    from gradscope.sources.log_columns import parse_map
    from gradscope.trials.compare import compare_recorded

    with stdout_to_stderr():
        result = compare_recorded(recorded, default_run_dir("compare", out), plots=plots, mapping=parse_map(mapping))
    for note in result.notes:
        typer.echo(f"Note: {note}", err=True)
    return result


def _compare_config(config_path: Path | None, sample: str | None, overrides: list[str] | None, steps: int | None,
                    clips: list, tries: list[str], recommend_mode: str | None, budget: float | None,
                    out: Path | None, plots: bool, as_json: bool) -> Comparison:
    """`compare CONFIG`: the config rerun unclipped, then with each clip and each `--try` change."""
    from gradscope.trials import compare as lib

    cfg = resolve_config(config_path, sample, overrides, steps)
    changed = [lib.ConfigChange(changes, resolve_config(config_path, sample, [*(overrides or []), *changes], steps), i)
               for i, changes in enumerate((lib.split_changes(t) for t in tries), start=1)]
    with stdout_to_stderr():
        return lib.compare_config(cfg, default_run_dir(f"{cfg.name}-compare", out), clips, steps=steps, tries=changed,
                                  recommend_mode=recommend_mode, recommend_budget=budget, plots=plots,
                                  progress=lambda label: progress_bar(not as_json, f"compare {label}"))


def _report(result: Comparison, as_json: bool, junit: Path | None, fail_on: str) -> None:
    """The comparison on stdout (console or JSON) and in JUnit, then the exit code: interrupted, or whether a
    compared run still has a symptom at or above `fail_on`."""
    from gradscope.report.compare_console import print_comparison
    from gradscope.report.console import report_console
    from gradscope.strict_json import dumps

    if junit is not None:
        from gradscope.report.junit import JUnitCase, write_junit

        write_junit(junit, "compare", [JUnitCase(f"{run.label} ({each.optimizer_run})" if each.optimizer_run
                                                 else run.label, run.diagnosis, judged=i > 0, error=run.error)
                                       for each in result.all for i, run in enumerate(each.runs)], fail_on)
    with report_output():
        if as_json:
            typer.echo(dumps(result.to_dict()))
        else:
            print_comparison(result, report_console())
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    for run in (r for r in result.runs if r.error):  # compared as far as they ran; the script's failure is exit 3
        typer.echo(f"Error: {run.label}: {run.error} (its output is above); what it recorded is in {run.run_dir}",
                   err=True)
    if any(r.error for r in result.runs):
        raise typer.Exit(EXIT_USER_CODE)
    failed = any(fails(run.rank, fail_on) for each in result.all for run in each.compared)
    raise typer.Exit(EXIT_SYMPTOMS if failed else EXIT_OK)


def _compare_command(command: list[str], paths: list[Path] | None, overrides: list[str] | None, sample: str | None,
                     steps: int | None, seed: int | None, out: Path | None, plots: bool,
                     clips: list, tries: list[str], recommend_mode: str | None, lr_scales: list[str],
                     warmups: list[str], budget: float | None):
    """`compare -- COMMAND`: the baseline and each trial a rerun of the command, attached (trials/script.py). A
    trial whose script raised or exited non-zero is exit 3 (its run folder keeps what was recorded)."""
    from gradscope.attach import command_label
    from gradscope.attach.launch import check_command
    from gradscope.trials.script import ArgsChange, ScriptFailed, StepChange, compare_command

    if paths or sample is not None or overrides:
        given = f"CONFIG {paths[0]}" if paths else ("--sample" if sample is not None else "--set")
        raise ConfigError(f"{given} and a command after -- were both given (fix: compare either a config or a "
                          "command: gradscope compare --clip-norm 1.0 -- python train.py)")
    if steps is not None and steps <= 0:
        raise ConfigError(f"--steps must be a positive integer, got {steps} (fix: e.g. --steps 100)")
    check_command(command)
    changes = [ArgsChange.parse(text, i) for i, text in enumerate(tries, start=1)]
    stepped = [StepChange.parse_scale(t) for t in lr_scales] + [StepChange.parse_warmup(t) for t in warmups]
    run_dir = default_run_dir(f"{Path(command_label(command)).stem or 'command'}-compare", out)
    try:
        with stdout_to_stderr():
            return compare_command(command, run_dir, clips, tries=changes, changes=stepped, steps=steps, seed=seed or 0,
                                   recommend_mode=recommend_mode, budget=budget, plots=plots)
    except ScriptFailed as exc:
        typer.echo(f"Error: {exc} (its output is above); what it recorded is in {exc.run_dir}", err=True)
        raise typer.Exit(EXIT_USER_CODE) from None
