"""Loading TOML files into validated pydantic models, with errors that name file and key path."""

from __future__ import annotations

import copy
import errno
import os
import stat
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from credsim.errors import ConfigError, key_path

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every file model: unknown keys are refused, values are not coerced silently."""

    # finite floats only: an infinite rate or weight would hang or overflow a run
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)


MAX_FILE_BYTES = 16 * 2**20  # the shipped catalogue is 40 kB; anything this big is a mistake
MAX_NAME_CHARS = 255  # one path component (most file systems' limit)
MAX_PATH_CHARS = 4096


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of a regular file, or a ConfigError naming the file and what is wrong."""
    path = Path(path)
    src = _shown(path)
    if "\x00" in str(path):
        raise ConfigError(src, ["the file name contains a NUL character"])
    if len(str(path)) > MAX_PATH_CHARS or any(len(p) > MAX_NAME_CHARS for p in path.parts):
        raise ConfigError(src, [f"the file name is too long (at most {MAX_NAME_CHARS} characters "
                                f"a component, {MAX_PATH_CHARS} in all)"])
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(src, [f"is a directory, not a {what}"])
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(src, [f"is not a regular file (a device, pipe or socket), not a {what}"])
        if st.st_size > MAX_FILE_BYTES:
            raise ConfigError(src, [f"is {st.st_size:,} bytes; a {what} is at most "
                                    f"{MAX_FILE_BYTES:,} bytes"])
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(src, ["file not found"]) from None
    except PermissionError:
        raise ConfigError(src, ["permission denied (the file cannot be read)"]) from None
    except OSError as exc:
        reason = "the file name is too long" if exc.errno == errno.ENAMETOOLONG else exc.strerror
        raise ConfigError(src, [f"cannot be read: {reason}"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(src, [f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                                f"{exc.start}); save it as UTF-8"]) from None


def _shown(path: Path) -> str:
    return shorten(str(path), 200)


_parsed: dict[tuple[str, int, int], dict[str, Any]] = {}  # (path, mtime, size) -> parsed TOML


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict (a fresh copy); every problem (missing, not a file, not UTF-8, not
    TOML) is a ConfigError naming the file. Parsed once per process while the file is unchanged:
    an experiment validates its scenario, regime and catalogue once per point."""
    path = Path(path)
    try:
        st = os.stat(path)
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size) if stat.S_ISREG(st.st_mode) else None
    except (OSError, ValueError):
        key = None  # read_text names the problem
    data = _parsed.get(key) if key is not None else None
    if data is None:
        data = _parse(path)
        if key is not None:
            if len(_parsed) > 256:
                _parsed.clear()
            _parsed[key] = data
    return copy.deepcopy(data)


def _parse(path: Path) -> dict[str, Any]:
    text = read_text(path, "TOML file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_shown(Path(path)), [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(_shown(Path(path)), ["not valid TOML: nested too deeply"]) from None


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
    return f"{loc}: {shorten(repr(err.get('input')))}: {msg}"


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit - 20]}...({len(text):,} characters)"


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
