"""Build the model, data, loss and optimizer a config names, from import paths and torch names.

Import paths are `package.module:attr` or `path/to/file.py:attr` (relative to the config's folder). Anything
that cannot be found is a `ConfigError` (exit 2); an exception raised by the user's own code is a
`UserCodeError` (exit 3) that keeps the user's frames.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradscope.config.load import Config
from gradscope.errors import ConfigError, GradscopeError, UserCodeError, did_you_mean
from gradscope.interrupts import is_ctrl_c
from gradscope.numbers import FLOAT32_MAX

_FILE_MODULES: dict[Path, Any] = {}


@contextlib.contextmanager
def user_code(what: str, step: int | None = None) -> Iterator[None]:
    """Turn an exception from the user's code into `UserCodeError`, keeping gradscope's own errors as they are."""
    try:
        yield
    except (GradscopeError, UserCodeError):
        raise
    except KeyboardInterrupt as exc:
        if is_ctrl_c():  # a real Ctrl-C passes through (exit 130); one the user's code raised is its error
            raise
        raise UserCodeError(what, step, exc) from exc
    except (Exception, SystemExit) as exc:  # sys.exit() in the user's code ends the run as an error (exit 3)
        raise UserCodeError(what, step, exc) from exc


def import_object(spec: str, base_dir: Path, where: str) -> Any:
    """The object named by `spec`; `where` (e.g. "config.toml: [model] factory") prefixes error messages."""
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _import_file(_resolve_file(target, base_dir, where, spec), where)
    else:
        module = _import_module(target, base_dir, where)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise ConfigError(f"{where}: {target} has no attribute {part!r}{did_you_mean(part, names)} "
                              f"(fix: point {spec!r} at a name defined in {target})")
        obj = getattr(obj, part)
    return obj


def _resolve_file(target: str, base_dir: Path, where: str, spec: str) -> Path:
    path = Path(target).expanduser()
    path = (path if path.is_absolute() else base_dir / path).resolve()
    if not path.is_file():
        raise ConfigError(f"{where}: file {target} of {spec!r} does not exist (looked in {path.parent}; "
                          "fix: paths are relative to the config file's folder)")
    return path


def _import_file(path: Path, where: str) -> Any:
    if path in _FILE_MODULES:
        return _FILE_MODULES[path]
    name = f"gradscope_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{where}: {path} cannot be imported as Python (fix: point at a .py file)")
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # so the user's file can import its neighbours
    sys.modules[name] = module
    try:
        with user_code(f"importing {path.name}"):
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _FILE_MODULES[path] = module
    return module


def _import_module(target: str, base_dir: Path, where: str) -> Any:
    if str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and (target == exc.name or target.startswith(exc.name + ".")):
            raise ConfigError(f"{where}: module {target!r} not found (fix: install it, or use a file path "
                              'like "model.py:build")') from None
        raise UserCodeError(f"importing {target}", None, exc) from exc
    except (Exception, SystemExit) as exc:
        raise UserCodeError(f"importing {target}", None, exc) from exc


def call_factory(factory: Any, kwargs: dict[str, Any], where: str, what: str) -> Any:
    """Call a user factory with `kwargs`, checking them against its signature first (a typo is exit 2)."""
    if not callable(factory):
        raise ConfigError(f"{where}: {factory!r} is not callable (fix: point at a function or class)")
    _check_kwargs(factory, kwargs, where)
    with user_code(what):
        return factory(**kwargs)


def _check_kwargs(func: Any, kwargs: dict[str, Any], where: str, skip: int = 0) -> None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return
    params = list(sig.parameters.values())[skip:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if key not in names:
            label = getattr(func, "__name__", repr(func))
            raise ConfigError(f"{where}: {label}() has no parameter {key!r}{did_you_mean(key, names)} "
                              f"(fix: valid names are {', '.join(names) or 'none'})")
    missing = [p.name for p in params
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and p.name not in kwargs]
    if missing:
        label = getattr(func, "__name__", repr(func))
        raise ConfigError(f"{where}: {label}() needs {', '.join(missing)} (fix: add it to the kwargs table)")


def check_options(cls: type, options: dict[str, Any], source: str, table: str, skip: int) -> None:
    """Check a torch class's options by name and by the type of their defaults, so a typo or a wrong type is
    one line naming the key (torch itself would fail later, e.g. with "'<' not supported", naming nothing)."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[skip:]
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key, value in options.items():
        if key not in names:
            raise ConfigError(f"{source}: [{table}] {key} is not an option of {cls.__name__}"
                              f"{did_you_mean(key, names)} (fix: valid options are {', '.join(names) or 'none'})")
        param = next(p for p in params if p.name == key)
        default = param.default if param.default is not param.empty else _EXAMPLE.get(_type_name(param.annotation))
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, int | float):
            ok, expected = isinstance(value, int | float) and not isinstance(value, bool), "a number"
            if ok and not abs(value) <= FLOAT32_MAX:  # torch keeps it in float32 (inf there), or it is NaN
                raise ConfigError(f"{source}: [{table}] {key} = {value!r} is not a number torch can use "
                                  f"(fix: a finite value of at most {FLOAT32_MAX:.4g})")
            if ok and isinstance(value, float) and _type_name(param.annotation) == "int":
                ok, expected = False, "an integer"  # torch needs an int here (ignore_index, step_size)
        elif isinstance(default, str):
            ok, expected = isinstance(value, str), "a string"
        else:
            continue  # None or a tuple default (e.g. Adam's betas): torch checks these itself
        if not ok:
            raise ConfigError(f"{source}: [{table}] {key} must be {expected} for {cls.__name__}, "
                              f"got {_toml_value(value)} (fix: e.g. {key} = {_toml_value(default)})")


# A required argument has no default to compare with: its annotation stands in (StepLR's `step_size: int`).
_EXAMPLE: dict[str, Any] = {"int": 1, "float": 0.1, "bool": False, "str": "text"}


def _type_name(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device that is missing is a config error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError('[run] device = "cuda" but no CUDA device is available (fix: device = "auto")')
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError('[run] device = "mps" but MPS is not available (fix: device = "auto")')
    return torch.device(name)


def build_model(config: Config) -> nn.Module:
    """The model from `[model] factory`, with the optional checkpoint loaded safely."""
    where = f"{config.source}: [model] factory"
    factory = import_object(config.model.factory, config.base_dir, where)
    model = call_factory(factory, config.model.kwargs, where, "the model factory")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{where}: {config.model.factory} returned {type(model).__name__}, "
                          "not a torch.nn.Module (fix: return the model)")
    if not any(p.requires_grad and p.numel() for p in model.parameters()):
        raise ConfigError(f"{where}: {config.model.factory} returned a model with nothing to train (no "
                          "parameter requires gradients) (fix: return the model with its trainable parameters)")
    if config.model.checkpoint is not None:
        load_checkpoint(model, config.model.checkpoint, f"{config.source}: [model] checkpoint")
    return model


def load_checkpoint(model: nn.Module, path: Path, where: str) -> None:
    """Load a plain state dict with `weights_only=True`: a pickle that would run code is refused."""
    if not path.is_file():
        raise ConfigError(f"{where}: {path} does not exist (fix: paths are relative to the config's folder)")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": noise beside the one-line error
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or others for unsafe/corrupt files
        raise ConfigError(f"{where}: {path.name} is not a plain state dict and was refused by "
                          f"torch.load(weights_only=True): {_refusal(exc)} (fix: save it with "
                          "torch.save(model.state_dict(), path))") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise ConfigError(f"{where}: {path.name} holds a {type(state).__name__}, not a state dict of tensors "
                          "(fix: save it with torch.save(model.state_dict(), path))")
    odd = next((k for k, v in state.items() if not isinstance(v, torch.Tensor)), None)
    if odd is not None:
        raise ConfigError(f"{where}: {path.name} is not a state dict of tensors: {odd!r} is "
                          f"{type(state[odd]).__name__}, not a tensor "
                          "(fix: save it with torch.save(model.state_dict(), path))")
    try:
        mismatch = _state_dict_mismatch(model, state)
        if not mismatch:
            model.load_state_dict(state)
    except RuntimeError as exc:  # e.g. a custom load hook of the model refused it
        mismatch = " ".join(line.strip() for line in str(exc).strip().splitlines()[:2])[:200]
    if mismatch:
        raise ConfigError(f"{where}: {path.name} does not fit the model: {mismatch} (fix: point at a "
                          "checkpoint of this model, or build the model with the kwargs it was saved with)")


def _refusal(exc: Exception) -> str:
    """Why torch.load(weights_only=True) refused a file, in a few words (torch's own message is a page long)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # torch puts ANSI bold into some of its messages
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"it would unpickle {found.group(1)}; only tensors and plain containers are allowed"
    if re.search(r"Unsupported operand|invalid load key|could not find MARK|pickle data was truncated", text):
        return "it is not a file written by torch.save"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:160]


def _state_dict_mismatch(model: nn.Module, state: dict[str, Any]) -> str:
    """'' when `state` fits `model`, else which keys are missing, unexpected or of the wrong shape."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} is {list(state[k].shape)} in the file, {list(own[k].shape)} in the model"
              for k in own if k in state and state[k].shape != own[k].shape]

    def some(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

    parts = ([f"missing {some(missing)}"] if missing else []) + \
            ([f"unexpected {some(unexpected)}"] if unexpected else []) + shapes[:2]
    return "; ".join(parts)


_END = object()


@dataclass
class Batches:
    """An endless stream of batches: passes over the data repeat, calling the factory again if it is one-shot.

    The training loop asks for one batch per optimizer step, so the n-th batch asked for is step n's: an error
    raised by the user's data code names that step.
    """

    make: Callable[[], Any]
    first: Any
    where: str = "[data] factory"  # "<config>: [data] factory", for messages
    per_step: int = 1  # batches per optimizer step ([run] accumulate): messages name the optimizer step
    batch_size_at: str = "[data] batch_size"  # where the user sets the batch size, for messages

    def __iter__(self) -> Iterator[Any]:
        source = self.first
        taken = 0
        while True:
            empty = True
            step = taken // self.per_step
            with _at_step(step), user_code("the data", step):
                iterator = iter(source)
            while True:
                step = taken // self.per_step
                with _at_step(step), user_code("the data", step):
                    batch = next(iterator, _END)
                if batch is _END:
                    break
                empty = False
                yield batch
                taken += 1
            if empty:
                raise ConfigError(f"{self.where}: the data produced no batches (fix: return at least one batch)")
            if iterator is source:  # a one-shot iterator (e.g. a generator): ask the factory for a new pass
                with _at_step(taken // self.per_step):
                    source = self.make()


@contextlib.contextmanager
def _at_step(step: int) -> Iterator[None]:
    """Give a `UserCodeError` raised without a step (e.g. by the data factory, called again) this step."""
    try:
        yield
    except UserCodeError as exc:
        if exc.step is not None:
            raise
        raise UserCodeError(exc.what, step, exc.error) from exc.error


def build_batches(config: Config, seed: int) -> Batches:
    """The batches of `[data]`: a factory's DataLoader, iterable or Dataset, or a built-in source."""
    if config.data.source == "csv":
        from gradscope.build.datasets import csv_dataset

        dataset = csv_dataset(config)
        return Batches(lambda: dataset, _loader(dataset, config, seed), f"{config.source}: [data] path",
                       config.run.accumulate, f"{config.source}: [data] batch_size")
    where = f"{config.source}: [data] factory"
    factory = import_object(config.data.factory or "", config.base_dir, where)
    returned_dataset = False

    def make() -> Any:
        nonlocal returned_dataset
        data = call_factory(factory, config.data.kwargs, where, "the data factory")
        returned_dataset = isinstance(data, torch.utils.data.Dataset)
        return _loader(data, config, seed) if returned_dataset else data

    data = make()
    if isinstance(data, torch.Tensor) or not hasattr(data, "__iter__"):
        raise ConfigError(f"{where}: {config.data.factory} returned {type(data).__name__} (fix: return a "
                          "DataLoader, an iterable of batches, or a torch Dataset)")
    return Batches(make, data, where, config.run.accumulate, batch_size_at(config, returned_dataset))


def batch_size_at(config: Config, returned_dataset: bool) -> str:
    """Where the batch size of a factory's data is set: [data] batch_size batches a Dataset; a factory that
    batches its own data sets it in its kwargs (a key naming a batch) or in its code."""
    if returned_dataset:
        return f"{config.source}: [data] batch_size"
    key = next((k for k in config.data.kwargs if "batch" in k.lower()), None)
    if key is not None:
        return f"{config.source}: [data] kwargs.{key}"
    return (f"{config.data.factory}, which batches its own data ([data] batch_size applies only to a Dataset it "
            "returns)")


def _loader(dataset: Any, config: Config, seed: int) -> torch.utils.data.DataLoader:
    iterable = isinstance(dataset, torch.utils.data.IterableDataset)
    where = f"{config.source}: [data]"
    with user_code("the data's __len__"):
        empty = not iterable and hasattr(dataset, "__len__") and len(dataset) == 0
    if empty:  # torch's sampler would fail on it with a message that names nothing of the config
        raise ConfigError(f"{where} the Dataset is empty: the data produced no batches (fix: return at least "
                          "one sample; check the data kwargs)")
    generator = torch.Generator().manual_seed(seed)
    try:
        return torch.utils.data.DataLoader(dataset, batch_size=config.data.batch_size,
                                           shuffle=config.data.shuffle and not iterable, generator=generator)
    except (ValueError, TypeError) as exc:  # torch's checks of the Dataset and of batch_size / shuffle
        raise ConfigError(f"{where} torch.utils.data.DataLoader refused it: {exc} (fix: check [data] "
                          "batch_size and shuffle, and what the data factory returns)") from None


LossStep = Callable[[nn.Module, Any], torch.Tensor]
REDUCTIONS = ("mean", "sum", "none")


@dataclass
class LossComputer:
    """Computes a batch's loss the way the contract says: (inputs, targets), a dict, or `[loss] step`."""

    criterion: Callable[..., torch.Tensor] | None
    step_fn: LossStep | None
    source: str
    options: dict[str, Any] = field(default_factory=dict)  # a torch loss class's [loss] options

    def forward(self, model: nn.Module, batch: Any) -> Any:
        """The model's output for `batch` (None when a custom step computes everything)."""
        if self.step_fn is not None:
            return None
        if isinstance(batch, tuple | list):
            if len(batch) != 2:
                raise ConfigError(f"{self.source}: a batch is a {type(batch).__name__} of {len(batch)} items, "
                                  "not (inputs, targets) (fix: set [loss] step to a function (model, batch) -> loss)")
            return model(batch[0])
        if isinstance(batch, dict):
            return model(**batch)
        raise ConfigError(f"{self.source}: a batch is a {type(batch).__name__}, not (inputs, targets) or a dict "
                          "(fix: set [loss] step to a function (model, batch) -> loss)")

    def loss(self, model: nn.Module, batch: Any, output: Any) -> torch.Tensor:
        """The scalar loss from the model output (or from the custom step)."""
        if self.step_fn is not None:
            value = self.step_fn(model, batch)
        elif isinstance(batch, dict):
            value = getattr(output, "loss", None)
            if value is None and isinstance(output, dict):
                value = output.get("loss")
            if value is None:
                raise ConfigError(f"{self.source}: the model's output for a dict batch has no loss "
                                  "(fix: return one, or set [loss] step)")
        else:
            if self.criterion is None:
                raise ConfigError(f'{self.source}: [loss] name is required for (inputs, targets) batches '
                                  '(fix: e.g. name = "MSELoss")')
            value = self._criterion(output, batch[1])
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ConfigError(f"{self.source}: the loss must be a scalar tensor, got {shape} "
                              "(fix: reduce it, e.g. with reduction='mean')")
        return value.reshape(())

    def _criterion(self, output: Any, target: Any) -> Any:
        """The criterion's value; torch checks some options only here (label_smoothing, HuberLoss's delta): an
        error naming one of `options` is the config's mistake, anything else the user's model or data."""
        try:
            return self.criterion(output, target)
        except (RuntimeError, ValueError, TypeError) as exc:
            key = next((k for k in self.options if re.search(rf"\b{re.escape(k)}\b", str(exc))), None)
            if key is None:
                raise
            raise ConfigError(f"{self.source}: [loss] {key} = {_toml_value(self.options[key])} was refused by "
                              f"torch: {str(exc).splitlines()[0]} (fix: check the options of "
                              f"torch.nn.{type(self.criterion).__name__})") from None

    def __call__(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return self.loss(model, batch, self.forward(model, batch))


def build_loss(config: Config) -> LossComputer:
    """The loss of `[loss]`: a torch.nn loss class name, an import path, or a custom step."""
    where = f"{config.source}: [loss]"
    step_fn = None
    if config.loss.step:
        step_fn = import_object(config.loss.step, config.base_dir, f"{where} step")
        if not callable(step_fn):
            raise ConfigError(f"{where} step: {config.loss.step} is not callable (fix: a function (model, batch))")
    criterion = None
    options: dict[str, Any] = {}  # a torch loss class's options: torch checks some only when the loss runs
    name, kwargs = config.loss.name, config.loss.kwargs
    if name:
        if ":" in name:
            obj = import_object(name, config.base_dir, f"{where} name")
        else:
            losses = [n for n in dir(nn) if n.endswith("Loss") and not n.startswith("_")]
            obj = getattr(nn, name, None)
            if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
                raise ConfigError(f"{where} name: {name!r} is not a torch.nn loss{did_you_mean(name, losses)} "
                                  "(fix: e.g. MSELoss, CrossEntropyLoss, or an import path)")
        if inspect.isclass(obj) and obj.__module__.startswith("torch."):
            criterion = _torch_loss(obj, kwargs, config.source)
            options = dict(kwargs)
        elif inspect.isclass(obj):
            _check_kwargs(obj.__init__, kwargs, f"{where} name = {name}", skip=1)
            with user_code("the loss class"):
                criterion = obj(**kwargs)
        elif callable(obj):
            if kwargs:
                import functools

                criterion = functools.partial(obj, **kwargs)
            else:
                criterion = obj
        else:
            raise ConfigError(f"{where} name: {name} is not callable")
    elif kwargs:
        raise ConfigError(f"{where}: {', '.join(kwargs)} given without a loss name (fix: add name, or remove them)")
    return LossComputer(criterion, step_fn, config.source, options)


def _torch_loss(cls: type, kwargs: dict[str, Any], source: str) -> Any:
    """A torch.nn loss from `[loss]` options: whatever its constructor refuses is the config's mistake (exit 2).
    A list given for a tensor option (CrossEntropyLoss's weight, BCEWithLogitsLoss's pos_weight) becomes one."""
    check_options(cls, kwargs, source, "loss", skip=1)
    reduction = kwargs.get("reduction")
    if reduction is not None and reduction not in REDUCTIONS:  # torch only checks it in forward()
        raise ConfigError(f"{source}: [loss] reduction must be one of {', '.join(REDUCTIONS)}, "
                          f"got {reduction!r}{did_you_mean(reduction, REDUCTIONS)}")
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = dict(kwargs)
    for key, value in kwargs.items():
        wants_tensor = key in params and "Tensor" in str(params[key].annotation)
        if wants_tensor and isinstance(value, list) and all(isinstance(v, int | float) for v in value):
            kwargs[key] = torch.tensor(value, dtype=torch.float32)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:
        raise ConfigError(f"{source}: [loss] {cls.__name__}: {exc} (fix: check the options of "
                          f"torch.nn.{cls.__name__})") from None


def build_optimizer(config: Config, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer of `[optimizer]` over the model's parameters; every other key is an optimizer option."""
    where = f"{config.source}: [optimizer]"
    name, options = config.optimizer.name, config.optimizer.options
    if ":" in name:
        cls = import_object(name, config.base_dir, f"{where} name")
    else:
        names = [n for n in dir(torch.optim) if inspect.isclass(getattr(torch.optim, n))
                 and issubclass(getattr(torch.optim, n), torch.optim.Optimizer) and n != "Optimizer"]
        if name not in names:
            raise ConfigError(f"{where} name: {name!r} is not a torch.optim optimizer{did_you_mean(name, names)} "
                              "(fix: e.g. SGD, Adam, AdamW, or an import path)")
        cls = getattr(torch.optim, name)
    if inspect.isclass(cls) and cls.__module__.startswith("torch."):
        check_options(cls, options, config.source, "optimizer", skip=2)
        _check_no_closure(cls, where, name)
    else:
        init = cls.__init__ if inspect.isclass(cls) else cls
        _check_kwargs(init, options, f"{where} {name}", skip=2 if inspect.isclass(cls) else 1)
    if not (inspect.isclass(cls) and cls.__module__.startswith("torch.")):
        with user_code(f"your optimizer {name}"):
            return cls(model.parameters(), **options)
    try:
        return cls(model.parameters(), **options)
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # torch's own checks of the options
        raise ConfigError(f"{where} {name}: {exc or type(exc).__name__} (fix: check the options of "
                          f"torch.optim.{name})") from None


def _check_no_closure(cls: type, where: str, name: str) -> None:
    """gradscope's loop calls `optimizer.step()`: an optimizer that needs a closure (LBFGS) cannot run in it."""
    try:
        closure = inspect.signature(cls.step).parameters.get("closure")
    except (TypeError, ValueError, AttributeError):
        return
    if closure is not None and closure.default is closure.empty:
        raise ConfigError(f"{where} name: {name} needs a closure in step(), which gradscope's loop does not "
                          "pass (fix: a first-order optimizer such as SGD, Adam or AdamW)")


def move_to(batch: Any, device: torch.device) -> Any:
    """`batch` with every tensor in it on `device` (tuples, lists and dicts are walked)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple | list):
        return type(batch)(move_to(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    return batch
