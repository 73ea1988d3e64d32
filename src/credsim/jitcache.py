"""Numba's on-disk cache, keyed by all of credsim's sources.

Numba checks a cached kernel against its own source file only, not against the functions it
inlines from other modules (``rng``, ``rules``): edit ``rng.py`` and the kernel would load, stale,
from the cache. Importing this module (before any ``@njit(cache=True)``) makes every credsim
function's cache stamp a hash of the modules compiled code depends on, so a change to any of
them compiles afresh.
Functions of other packages keep Numba's own locators.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


_IMPORT = re.compile(r"^\s*from credsim(?:\.(\w+))? import ([\w, ]+)", re.M)


def compiled_modules() -> list[str]:
    """The modules with Numba functions and, transitively, the package modules they import
    (constants such as group codes are frozen into compiled code too)."""
    src = {p.stem: p.read_text() for p in PACKAGE_DIR.glob("*.py")}
    todo = [m for m, text in src.items() if "@njit" in text]
    seen: set[str] = set()
    while todo:
        m = todo.pop()
        if m in seen or m not in src:
            continue
        seen.add(m)
        for sub, names in _IMPORT.findall(src[m]):
            todo.extend([sub] if sub else [x.strip() for x in names.split(",")])
    return sorted(seen)


@functools.lru_cache(maxsize=1)
def package_stamp() -> str:
    """sha256 of the compiled modules (names and contents)."""
    h = hashlib.sha256()
    for m in compiled_modules():
        h.update(m.encode())
        h.update((PACKAGE_DIR / f"{m}.py").read_bytes())
    return h.hexdigest()


def _in_package(py_file: str) -> bool:
    try:
        return Path(py_file).resolve().parent == PACKAGE_DIR
    except OSError:
        return False


def _keyed(base: type) -> type:
    class Locator(base):
        @classmethod
        def from_function(cls, py_func, py_file):
            if not _in_package(py_file):
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return package_stamp()

    Locator.__name__ = Locator.__qualname__ = f"Package{base.__name__}"
    return Locator


def register() -> None:
    """Put package-keyed locators first in Numba's list (once; a no-op if Numba's caching
    internals differ from those this was written against)."""
    try:
        from numba.core import caching
    except ImportError:  # pragma: no cover
        return
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    names = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")
    bases = [getattr(caching, n, None) for n in names]
    classes = getattr(impl, "_locator_classes", None)
    if not isinstance(classes, list) or any(b is None for b in bases):
        return  # pragma: no cover
    if any(getattr(c, "__name__", "").startswith("Package") for c in classes):
        return
    classes[:0] = [_keyed(b) for b in bases]


register()
