"""Read, override and validate a gradscope TOML config into a frozen `Config`.

Every check happens here, once, so the rest of gradscope can trust its input. Each problem is one
`ConfigError` line naming the file, the key and the fix.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gradscope.clip.setting import THRESHOLD_MODES, Clip
from gradscope.errors import ConfigError, did_you_mean
from gradscope.numbers import FLOAT32_MAX

CONFIG_NAME = "gradscope.toml"
DEVICES = ("auto", "cpu", "cuda", "mps")
DATA_SOURCES = ("csv",)
PRECISIONS = ("fp32", "bf16", "fp16")
PARALLEL = ("none", "ddp", "fsdp")  # [run] parallel (gradscope.drivers.distributed)
BUILTIN_SCHEDULES = ("constant", "linear", "cosine")  # transformers' get_{name}_schedule_with_warmup
_KEY_PART = re.compile(r"^[A-Za-z0-9_-]+$")

START_HINT = (
    "no config found: pass one (gradscope diagnose path/to/gradscope.toml), create ./gradscope.toml "
    "or a [tool.gradscope] table in ./pyproject.toml (see README), "
    "or try a bundled sample: gradscope samples, then gradscope diagnose --sample NAME"
)


@dataclass(frozen=True)
class ModelConfig:
    factory: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None


@dataclass(frozen=True)
class DataConfig:
    factory: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32
    shuffle: bool = True
    source: str | None = None
    path: Path | None = None
    target: str | None = None
    standardize: bool = False


@dataclass(frozen=True)
class LossConfig:
    name: str | None = None
    step: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)  # every other key of [loss]


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = "SGD"
    options: dict[str, Any] = field(default_factory=dict)  # every other key of [optimizer]


@dataclass(frozen=True)
class RunConfig:
    steps: int = 200
    seed: int = 0
    device: str = "auto"
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    precision: str = "fp32"  # fp32 | bf16 | fp16: autocast of forward and loss; fp16 adds a GradScaler
    accumulate: int = 1  # micro-batches per optimizer step
    parallel: str = "none"  # none | ddp | fsdp: under torchrun, the model wrapped and every batch split across ranks


@dataclass(frozen=True)
class ScheduleConfig:
    """`[schedule]`: a built-in warm-up schedule, a torch.optim.lr_scheduler class name, or an import path."""

    name: str | None = None  # None: the optimizer's lr, unchanged
    warmup_steps: int = 0  # built-ins only: linear warm-up from 0 over the first N optimizer steps
    options: dict[str, Any] = field(default_factory=dict)  # every other key: the scheduler's arguments

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN_SCHEDULES

    def warmed_up(self, steps: int) -> tuple[ScheduleConfig, str] | None:
        """This schedule with a linear warm-up over its first `steps` (a constant lr after it where the run had
        no schedule), and the `compare --try` text that makes it; None where a warm-up cannot be put in front
        of it (it has one, or it is a torch scheduler of its own)."""
        if self.name is None:
            return (ScheduleConfig(name="constant", warmup_steps=steps),
                    f'schedule.name="constant";schedule.warmup_steps={steps}')
        if self.builtin and self.warmup_steps == 0:
            return replace(self, warmup_steps=steps), f"schedule.warmup_steps={steps}"
        return None


@dataclass(frozen=True)
class Config:
    """A validated config. `source` names where it came from, for messages; `base_dir` anchors relative paths."""

    source: str
    base_dir: Path
    model: ModelConfig
    data: DataConfig
    loss: LossConfig
    optimizer: OptimizerConfig
    run: RunConfig
    clip: Clip | None  # [clip]: one kind of clipping, or none
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    name: str = "run"
    path: Path | None = None  # the file it was read from (a pyproject.toml for [tool.gradscope])

    def to_toml_dict(self) -> dict[str, Any]:
        """The resolved config as TOML tables: defaults filled in, paths absolute, so it reruns from anywhere."""
        base = self.base_dir

        def imp(spec: str | None) -> str | None:
            if spec is None or ":" not in spec:
                return spec
            target, attr = spec.rsplit(":", 1)
            return f"{(base / target).resolve()}:{attr}" if target.endswith(".py") else spec

        model: dict[str, Any] = {"factory": imp(self.model.factory), "kwargs": dict(self.model.kwargs)}
        if self.model.checkpoint:
            model["checkpoint"] = str(self.model.checkpoint)
        data: dict[str, Any] = {"batch_size": self.data.batch_size, "shuffle": self.data.shuffle}
        if self.data.factory:
            data |= {"factory": imp(self.data.factory), "kwargs": dict(self.data.kwargs)}
        if self.data.source:
            data |= {"source": self.data.source, "path": str(self.data.path), "target": self.data.target,
                     "standardize": self.data.standardize}
        loss: dict[str, Any] = dict(self.loss.kwargs)
        if self.loss.name:
            loss["name"] = imp(self.loss.name)
        if self.loss.step:
            loss["step"] = imp(self.loss.step)
        run: dict[str, Any] = {"steps": self.run.steps, "seed": self.run.seed, "device": self.run.device}
        if self.run.threads:
            run["threads"] = self.run.threads
        run |= {"precision": self.run.precision, "accumulate": self.run.accumulate}
        if self.run.parallel != "none":
            run["parallel"] = self.run.parallel
        tables = {"model": model, "data": data, "loss": loss,
                  "optimizer": {"name": imp(self.optimizer.name), **self.optimizer.options}, "run": run}
        if self.clip is not None:
            tables["clip"] = {self.clip.mode: True if self.clip.adaptive else self.clip.threshold}
        if self.schedule.name is not None:
            schedule: dict[str, Any] = {"name": imp(self.schedule.name), **self.schedule.options}
            if self.schedule.builtin:
                schedule["warmup_steps"] = self.schedule.warmup_steps
            tables["schedule"] = schedule
        return {name: {k: v for k, v in table.items() if v is not None} for name, table in tables.items()}


# key -> (type check, what the value must be). Tables whose other keys pass through are marked below.
_BOOL = (lambda v: isinstance(v, bool), "true or false")
_STR = (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string")
_TABLE = (lambda v: isinstance(v, dict), "a table, e.g. { hidden = 64 }")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_in(low: int, high: int, what: str) -> tuple:
    """An integer rule with bounds that torch and numpy can take (a seed must fit 64 bits, threads a C int);
    the third item is the largest value, named in the message when a value passes it."""
    return (lambda v: _is_int(v) and low <= v <= high, what, high)


_POS_INT = _int_in(1, 2**31 - 1, "a positive integer")
_STEPS = _int_in(1, 10**9, "a positive integer")
_SEED = _int_in(-(2**63), 2**63 - 1, "an integer that fits 64 bits")
_THREADS = _int_in(1, 1024, "a positive integer")
_NONNEG_INT = _int_in(0, 10**9, "an integer >= 0")
_POS_FLOAT = (
    lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= FLOAT32_MAX,
    "a positive number", FLOAT32_MAX,
)

SCHEMA: dict[str, dict[str, tuple]] = {
    "model": {"factory": _STR, "kwargs": _TABLE, "checkpoint": _STR},
    "data": {"factory": _STR, "kwargs": _TABLE, "batch_size": _POS_INT, "shuffle": _BOOL, "source": _STR,
             "path": _STR, "target": _STR, "standardize": _BOOL},
    "loss": {"name": _STR, "step": _STR},
    "optimizer": {"name": _STR},
    "run": {"steps": _STEPS, "seed": _SEED, "device": _STR, "threads": _THREADS, "precision": _STR,
            "accumulate": _int_in(1, 2**20, "a positive integer"), "parallel": _STR},
    "clip": {"norm": _POS_FLOAT, "value": _POS_FLOAT, "adaptive": _BOOL},
    "schedule": {"name": _STR, "warmup_steps": _NONNEG_INT},
}
_PASS_THROUGH = {"loss", "optimizer", "schedule"}  # their other keys go to the loss / optimizer / scheduler
_FIX = {
    ("model", "factory"): 'e.g. factory = "model.py:build_model"',
    ("data", "factory"): 'e.g. factory = "data.py:build_data"',
    ("run", "steps"): "e.g. steps = 200",
    ("run", "device"): 'use one of "auto", "cpu", "cuda", "mps"',
    ("clip", "norm"): "e.g. norm = 1.0",
    ("clip", "value"): "e.g. value = 0.5",
    ("clip", "adaptive"): "e.g. adaptive = true",
    ("run", "precision"): 'use one of "fp32", "bf16", "fp16"',
    ("run", "accumulate"): "e.g. accumulate = 4 (micro-batches per optimizer step)",
    ("run", "parallel"): 'use one of "none", "ddp", "fsdp"',
    ("schedule", "warmup_steps"): "e.g. warmup_steps = 100",
}


def find_config(explicit: Path | None, cwd: Path | None = None) -> tuple[dict[str, Any], str, Path]:
    """The raw TOML tables, a name for messages and the base folder: from `explicit`, or discovered in `cwd`."""
    cwd = cwd or Path.cwd()
    if explicit is not None:
        if explicit.name == "pyproject.toml" and explicit.is_file():  # its [tool.gradscope] table, not the file
            table = _read_toml(explicit).get("tool", {}).get("gradscope")
            if not isinstance(table, dict) or not table:
                raise ConfigError(f"{explicit}: has no [tool.gradscope] table (fix: add [tool.gradscope.model] "
                                  "factory and the other tables, or pass a gradscope.toml)")
            return table, f"{explicit} [tool.gradscope]", explicit.resolve().parent
        return _read_toml(explicit), str(explicit), explicit.resolve().parent
    local = cwd / CONFIG_NAME
    if local.is_file():
        return _read_toml(local), str(local.relative_to(cwd)), cwd
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject, allow_empty=True).get("tool", {}).get("gradscope")
        if isinstance(table, dict) and table:
            return table, "pyproject.toml [tool.gradscope]", cwd
    raise ConfigError(START_HINT)


def _read_toml(path: Path, *, allow_empty: bool = False) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"{path}: config file does not exist (fix: check the path, or list samples with "
                          "`gradscope samples`)")
    if path.is_dir():
        hint = path / CONFIG_NAME
        raise ConfigError(f"{path}: is a directory, not a TOML file (fix: pass the config file"
                          f"{f', e.g. {hint}' if hint.exists() else ' inside it'})")
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")  # a BOM (Windows editors write one) is not TOML
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not a text file (fix: pass a TOML config such as gradscope.toml)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: is a binary file, not TOML (fix: pass a TOML config such as gradscope.toml)")
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc} (fix: correct the syntax on that line)") from None
    if not tables and not allow_empty:  # an empty file, or only comments
        raise ConfigError(f"{path}: is empty (fix: add at least [model] factory, [data] and [optimizer]; "
                          "see README or `gradscope samples`)")
    return tables


def parse_override(text: str) -> tuple[list[str], Any]:
    """`run.steps=50` -> (["run", "steps"], 50). The value is parsed as TOML; a bare word stays a string."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    parts = key.split(".")
    if not sep or not key or len(parts) < 2 or not all(_KEY_PART.match(p) for p in parts) or value == "":
        raise ConfigError(f"--set {text!r}: expected TABLE.KEY=VALUE, e.g. --set run.steps=50 "
                          "or --set optimizer.lr=0.01")
    try:
        return parts, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        if re.fullmatch(r"[A-Za-z0-9_./:\\-]+", value):
            return parts, value  # e.g. optimizer.name=Adam, model.factory=net.py:build
        raise ConfigError(f"--set {text!r}: {value!r} is not a TOML value (fix: quote strings, "
                          f"e.g. --set {key}='\"text\"')") from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of `raw` with each `--set KEY=VALUE` applied."""
    import copy

    merged = copy.deepcopy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = merged
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {part} is a value, not a table")
            node = child
        node[parts[-1]] = value
    return merged


def load_config(path: Path | None, overrides: list[str] | None = None, cwd: Path | None = None) -> Config:
    """Find, read, override and validate a config; raise `ConfigError` with one fixable line otherwise."""
    raw, source, base_dir = find_config(path, cwd)
    merged = apply_overrides(raw, overrides or [])
    name = path.stem if path is not None else (cwd or Path.cwd()).name
    if path is not None and path.name in (CONFIG_NAME, "pyproject.toml"):
        name = path.resolve().parent.name
    try:
        config = validate(merged, source, base_dir, name=name)
    except ConfigError as exc:
        raise _name_override(exc, source, raw, overrides or []) from None
    if path is not None:
        file = path
    else:
        local = (cwd or Path.cwd()) / CONFIG_NAME
        file = local if local.is_file() else (cwd or Path.cwd()) / "pyproject.toml"
    from dataclasses import replace

    return replace(config, path=file.resolve())


def _name_override(exc: ConfigError, source: str, raw: dict[str, Any], overrides: list[str]) -> ConfigError:
    """`exc`, saying which `--set` gave the bad value: the file named in the message does not hold it."""
    if exc.file != source or exc.table is None:
        return exc
    for text in reversed(overrides):  # the last --set of a key is the one that counts
        table, key = parse_override(text)[0][:2]
        if exc.table == table and (exc.key == key or (exc.key is None and table not in raw)):
            message = str(exc)[len(source) + 2:]
            return ConfigError(f"{source} with --set {text}: {message}", file=source, table=table, key=exc.key)
    return exc


def validate(raw: dict[str, Any], source: str, base_dir: Path, *, name: str = "run") -> Config:
    """Check every table and key of `raw` and return the frozen `Config`."""
    tables = _typed_tables(raw, source)
    model, data, loss, opt, run, clip, schedule = (
        tables[t] for t in ("model", "data", "loss", "optimizer", "run", "clip", "schedule"))
    if "factory" not in model:
        raise ConfigError(f'{source}: [model] factory is required (fix: e.g. factory = "model.py:build_model", '
                          "a callable returning a torch.nn.Module)", file=source, table="model", key="factory")
    _check_import_path(source, "model", "factory", model["factory"])
    checkpoint = _resolve(base_dir, model["checkpoint"]) if "checkpoint" in model else None
    _check_data(source, data)
    for key in ("name", "step"):
        if key in loss and (":" in loss[key] or key == "step"):
            _check_import_path(source, "loss", key, loss[key])
    if "name" not in opt:
        raise ConfigError(f'{source}: [optimizer] name is required (fix: e.g. name = "SGD" with lr = 0.01, '
                          "or an import path)", file=source, table="optimizer", key="name")
    if run.get("device", RunConfig.device) not in DEVICES:
        raise ConfigError(f"{source}: [run] device must be one of {', '.join(DEVICES)}, got {run['device']!r}"
                          f"{did_you_mean(run['device'], DEVICES)}", file=source, table="run", key="device")
    if run.get("precision", RunConfig.precision) not in PRECISIONS:
        raise ConfigError(f"{source}: [run] precision must be one of {', '.join(PRECISIONS)}, got "
                          f"{run['precision']!r}{did_you_mean(run['precision'], PRECISIONS)}",
                          file=source, table="run", key="precision")
    if run.get("parallel", RunConfig.parallel) not in PARALLEL:
        raise ConfigError(f"{source}: [run] parallel must be one of {', '.join(PARALLEL)}, got {run['parallel']!r}"
                          f"{did_you_mean(run['parallel'], PARALLEL)}", file=source, table="run", key="parallel")
    _check_schedule(source, schedule)
    _check_clip(source, clip)

    return Config(
        source=source,
        base_dir=base_dir,
        name=name,
        model=ModelConfig(model["factory"], dict(model.get("kwargs", {})), checkpoint),
        data=DataConfig(**{**_given(data, DataConfig), "kwargs": dict(data.get("kwargs", {})),
                           "path": _resolve(base_dir, data["path"]) if "path" in data else None}),
        loss=LossConfig(loss.get("name"), loss.get("step"),
                        {k: v for k, v in loss.items() if k not in ("name", "step")}),
        optimizer=OptimizerConfig(opt["name"], {k: v for k, v in opt.items() if k != "name"}),
        run=RunConfig(**_given(run, RunConfig)),
        clip=_clip_of(clip),
        schedule=ScheduleConfig(**_given(schedule, ScheduleConfig, "options"),
                                options={k: v for k, v in schedule.items() if k not in ("name", "warmup_steps")}),
    )


def _given(table: dict[str, Any], schema: type, *computed: str) -> dict[str, Any]:
    """The keys of `table` that are fields of the dataclass `schema` (but the `computed` ones): a key left out keeps
    the dataclass's default, the one place defaults are written."""
    return {f.name: table[f.name] for f in fields(schema) if f.name in table and f.name not in computed}


def _typed_tables(raw: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """Every table of the schema (empty when absent), each known key's value checked against its type."""
    for table, value in raw.items():
        if table not in SCHEMA:
            raise ConfigError(f"{source}: unknown table [{table}]{did_you_mean(table, SCHEMA)} "
                              f"(fix: use {', '.join(f'[{t}]' for t in SCHEMA)})", file=source, table=table, key=None)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {table} must be a table [{table}], got {_show(value)}",
                              file=source, table=table, key=None)
    tables = {t: dict(raw.get(t, {})) for t in SCHEMA}
    for table, values in tables.items():
        for key, value in values.items():
            rule = SCHEMA[table].get(key)
            if rule is None:
                if table in _PASS_THROUGH:
                    continue
                raise ConfigError(f"{source}: unknown key [{table}] {key}{did_you_mean(key, SCHEMA[table])} "
                                  f"(fix: valid keys are {', '.join(SCHEMA[table])})",
                                  file=source, table=table, key=key)
            check, expected, *high = rule
            if not check(value):
                if high and (_is_int(value) or (isinstance(value, float) and math.isfinite(value))) \
                        and value > high[0]:
                    most = f"{high[0]:,}" if isinstance(high[0], int) else f"{high[0]:.4g}"
                    raise ConfigError(f"{source}: [{table}] {key} = {_show(value)} is too large (fix: at most {most})",
                                      file=source, table=table, key=key)
                fix = _FIX.get((table, key))
                raise ConfigError(f"{source}: [{table}] {key} must be {expected}, got {_show(value)}"
                                  + (f" (fix: {fix})" if fix else ""), file=source, table=table, key=key)
    return tables


def _check_data(source: str, data: dict[str, Any]) -> None:
    """`[data]` names either a factory or a built-in source with what that source needs."""
    if data.get("source") is not None:
        if data["source"] not in DATA_SOURCES:
            raise ConfigError(f"{source}: [data] source must be one of {', '.join(DATA_SOURCES)}, got "
                              f"{data['source']!r}{did_you_mean(data['source'], DATA_SOURCES)}",
                              file=source, table="data", key="source")
        if "factory" in data:
            raise ConfigError(f"{source}: [data] has both factory and source (fix: keep one of them)",
                              file=source, table="data", key=None)
        for key in ("path", "target"):
            if key not in data:
                raise ConfigError(f"{source}: [data] {key} is required with source = \"csv\" "
                                  f'(fix: e.g. {key} = "{"houses.csv" if key == "path" else "price"}")',
                                  file=source, table="data", key=key)
    elif "factory" not in data:
        raise ConfigError(f'{source}: [data] factory is required (fix: e.g. factory = "data.py:build_data", '
                          'or source = "csv" with path and target)', file=source, table="data", key="factory")
    else:
        _check_import_path(source, "data", "factory", data["factory"])


def _check_clip(source: str, clip: dict[str, Any]) -> None:
    """One kind of clipping at a time."""
    if "norm" in clip and "value" in clip:
        raise ConfigError(f"{source}: [clip] has both norm and value (fix: keep one: norm clips the global "
                          "L2 norm, value clips each element)", file=source, table="clip", key=None)
    if clip.get("adaptive") and ("norm" in clip or "value" in clip):
        fixed = "norm" if "norm" in clip else "value"
        raise ConfigError(f"{source}: [clip] has both adaptive = true and {fixed} (fix: keep one: adaptive "
                          f"finds its own threshold during the run, {fixed} is a fixed one)",
                          file=source, table="clip", key=None)


def _clip_of(clip: dict[str, Any]) -> Clip | None:
    """The checked [clip] table as a `Clip` (None: no clipping)."""
    for mode in THRESHOLD_MODES:
        if mode in clip:
            return Clip(mode, float(clip[mode]))
    return Clip("adaptive") if clip.get("adaptive", False) else None


def _check_schedule(source: str, schedule: dict[str, Any]) -> None:
    """`[schedule]`: a name is required; warmup_steps belongs to the built-ins (torch classes take their own)."""
    if not schedule:
        return
    name = schedule.get("name")
    if name is None:
        raise ConfigError(f'{source}: [schedule] name is required (fix: e.g. name = "cosine" with warmup_steps = '
                          '100, a torch.optim.lr_scheduler class such as "StepLR", or an import path)',
                          file=source, table="schedule", key="name")
    if ":" in name:
        _check_import_path(source, "schedule", "name", name)
        return
    if name in BUILTIN_SCHEDULES:
        extra = [k for k in schedule if k not in ("name", "warmup_steps", "num_cycles")]
        if extra or ("num_cycles" in schedule and name != "cosine"):
            bad = extra[0] if extra else "num_cycles"
            raise ConfigError(f"{source}: unknown key [schedule] {bad} for name = {name!r} (fix: the built-in "
                              "schedules take warmup_steps" + (" and num_cycles" if name == "cosine" else "") + ")",
                              file=source, table="schedule", key=bad)
        return
    if "warmup_steps" in schedule:
        raise ConfigError(f"{source}: [schedule] warmup_steps goes with the built-in schedules "
                          f"({', '.join(BUILTIN_SCHEDULES)}), not {name!r} (fix: pass {name}'s own arguments, or "
                          "use name = \"linear\" / \"cosine\" / \"constant\")",
                          file=source, table="schedule", key="warmup_steps")


def _check_import_path(source: str, table: str, key: str, spec: str) -> None:
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr or not attr.replace(".", "_").isidentifier():
        raise ConfigError(f"{source}: [{table}] {key} = {spec!r} is not an import path (fix: use "
                          '"package.module:attribute" or "path/to/file.py:attribute")',
                          file=source, table=table, key=key)


def _resolve(base_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a table"
    return repr(value)
