"""Errors a user can act on: each names the file, the key path, the value and what was expected."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def key_path(loc: Iterable[str | int]) -> str:
    """Render a location tuple as ``a.b[2].c``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


class ConfigError(ValueError):
    """A scenario, regime or history file is invalid. ``problems`` holds one line per error."""

    def __init__(self, source: str, problems: Sequence[str]):
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class ReferenceProblem(ConfigError):
    """A name or file a scenario refers to cannot be used (no shipped file of that name, no such
    file, outside the scenario's folder...). ``source`` is the reference itself; the scenario
    re-raises it naming its own file and the key that holds the reference."""


class RunDirError(ConfigError):
    """The run directory cannot be written (``source`` is the directory)."""


def problem(loc: Iterable[str | int], message: str, value: object = ...) -> str:
    """One error line: ``key.path: value is wrong because ...``."""
    where = key_path(loc)
    if value is ...:
        return f"{where}: {message}"
    return f"{where}: {value!r} {message}"


class ResourceError(ConfigError):
    """A run would not fit in the memory available (``source`` is the scenario's name); nothing
    was allocated. ``credsim run --force`` (``Sim.run(force=True)``) runs it anyway."""
