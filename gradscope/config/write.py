"""Write a chosen clip setting into the user's config, keeping their comments and layout (tomlkit)."""

from __future__ import annotations

from pathlib import Path

from gradscope.errors import ConfigError


def write_clip(path: Path, mode: str, threshold: float) -> Path:
    """Set `[clip] norm` or `value` in `path` (a gradscope TOML or a pyproject's [tool.gradscope]).

    The other clip keys (the other mode, `adaptive`) are removed (a config may only have one kind of clipping);
    everything else is left byte for byte.
    """
    import tomlkit

    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read for --write ({exc.strerror})") from None
    root = document
    if path.name == "pyproject.toml":
        root = document.setdefault("tool", tomlkit.table()).setdefault("gradscope", tomlkit.table())
    if "clip" not in root:
        table = tomlkit.table()
        table.add(tomlkit.comment(f"written by gradscope recommend --mode {mode}"))
        root["clip"] = table
    clip = root["clip"]
    for other in ("value" if mode == "norm" else "norm", "adaptive"):
        if other in clip:
            del clip[other]
    clip[mode] = float(f"{threshold:.3g}")
    try:
        path.write_text(tomlkit.dumps(document), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be written for --write ({exc.strerror})") from None
    return path
