"""Loading TOML files into validated pydantic models, with errors that name file and key path."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from credsim.errors import ConfigError, key_path

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every file model: unknown keys are refused, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_parsed: dict[tuple[str, int, int], dict[str, Any]] = {}  # (path, mtime, size) -> parsed TOML


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict (a fresh copy). Parsed once per process while the file is unchanged:
    an experiment validates its scenario, regime and catalogue once per point."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    data = _parsed.get(key)
    if data is None:
        data = _parse(path)
        if len(_parsed) > 256:
            _parsed.clear()
        _parsed[key] = data
    return copy.deepcopy(data)


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None


def _describe(err: dict[str, Any]) -> str:
    loc = key_path(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown key (check the spelling; see docs/reference.md)"
    if kind == "missing":
        return f"{loc}: required key is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if isinstance(err.get("input"), dict):
        # a check across several keys of one table: its message names the keys itself
        base = "" if not err["loc"] else loc + "."
        return "\n".join(
            (base + m) if ":" in m.split(" ")[0] else f"{loc}: {m}" for m in msg.split(" | ")
        )
    return f"{loc}: {err.get('input')!r}: {msg}"


def validate(model: type[M], data: dict[str, Any], source: str, prefix: tuple = ()) -> M:
    """Validate ``data`` as ``model``; on failure raise ConfigError naming every bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            err = dict(err)
            err["loc"] = tuple(prefix) + tuple(err["loc"])
            problems.extend(_describe(err).split("\n"))
        raise ConfigError(source, problems) from None
