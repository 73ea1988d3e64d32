"""References from one file to another: a shipped name (``rongcheng``) or a file path, resolved
against the referring file's folder, and the trusted-paths switch.

With trusted paths (the default, for a user's own files) a file reference may point anywhere.
Without (``trusted_paths(False)``, ``credsim --no-trusted-paths``; what a server accepting
uploads uses), a file reference must stay inside the referring file's folder: no absolute
paths, no ``..`` and no symbolic link leading out.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from credsim.data import data_path
from credsim.errors import ReferenceProblem

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # a shipped name, also a run's name
_TRUSTED: ContextVar[bool] = ContextVar(
    "credsim_trusted_paths", default=os.environ.get("CREDSIM_TRUSTED_PATHS", "1") != "0")


def paths_trusted() -> bool:
    return _TRUSTED.get()


@contextlib.contextmanager
def trusted_paths(on: bool) -> Iterator[None]:
    """Within the block, file references may (``on``) or may not leave their file's folder."""
    token = _TRUSTED.set(on)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def is_name(text: str) -> bool:
    """A name, not a path: letters, digits, ``.``, ``_``, ``-``; no ``/``, not ``.`` or ``..``."""
    return bool(NAME.match(text)) and text not in (".", "..")


def resolve(ref: str | Path, base: Path | None, folder: str, kind: str) -> Path:
    """The file a reference names: ``<name>`` is ``data/<folder>/<name>.toml``; ``*.toml`` is a
    file relative to ``base`` (the referring file's folder)."""
    ref_s = str(ref)
    if ref_s.endswith(".toml"):
        return _file(ref_s, base, kind)
    shipped = sorted(p.stem for p in data_path(folder).glob("*.toml"))
    if not is_name(ref_s) or not data_path(folder, f"{ref_s}.toml").is_file():
        raise ReferenceProblem(ref_s, [f"no shipped {kind} of that name (shipped: "
                                       f"{', '.join(shipped)}; or a file ending in .toml)"])
    return data_path(folder, f"{ref_s}.toml")


def _file(ref: str, base: Path | None, kind: str) -> Path:
    p = Path(ref)
    full = base / p if base is not None and not p.is_absolute() else p
    if len(ref) > 1000:
        raise ReferenceProblem(ref[:60] + "...", [f"a file name of {len(ref):,} characters"])
    if base is not None and not paths_trusted():  # (a file named on the command line: base None)
        _inside(p, full, base, kind, ref)
    try:
        if full.is_dir():
            raise ReferenceProblem(ref, [f"{full} is a directory, not a {kind} file"])
        if not full.exists():
            raise ReferenceProblem(ref, [f"no such {kind} file (looked for {full})"])
    except OSError as exc:
        raise ReferenceProblem(ref[:60], [f"cannot be used as a file name: {exc.strerror}"]) from None
    return full


def _inside(p: Path, full: Path, base: Path, kind: str, ref: str) -> None:
    if p.is_absolute() or ".." in p.parts:
        raise ReferenceProblem(ref, [f"a {kind} file must be inside the scenario's folder "
                                     "(no absolute path, no '..'): file references are not trusted"])
    root = base.resolve()
    try:
        full.resolve().relative_to(root)
    except (ValueError, OSError):
        raise ReferenceProblem(ref, [f"a {kind} file must be inside the scenario's folder (it "
                                     "leads out through a symbolic link): file references are "
                                     "not trusted"]) from None
