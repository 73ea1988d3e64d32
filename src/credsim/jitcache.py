"""Numba's on-disk cache, keyed by the credsim sources that compiled code depends on.

Numba checks a cached kernel against its own source file only, not against the functions it
inlines from other modules (``rng``, ``rules``): edit ``rng.py`` and the kernel would load, stale,
from the cache. Importing this module (before any ``@njit(cache=True)``) makes every credsim
function's cache stamp a hash of the modules compiled code depends on, so a change to any of
them compiles afresh.
Functions of other packages keep Numba's own locators.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _imports(tree: ast.Module) -> set[str]:
    """The credsim modules a module imports at run time (not under ``if TYPE_CHECKING``)."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "credsim":
            if node.module == "credsim":
                out.update(a.name for a in node.names)
            else:
                out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("credsim."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def compiled_modules(root: Path = PACKAGE_DIR) -> list[str]:
    """The modules with Numba functions and, transitively, the package modules they import
    (constants such as group codes are frozen into compiled code too). Modules that only
    describe or validate (errors, config, regime...) are not among them: editing them compiles
    nothing."""
    trees = {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in root.glob("*.py")}
    todo = [m for m, t in trees.items()
            if any(isinstance(n, ast.Name) and n.id == "njit" for n in ast.walk(t))]
    seen: set[str] = set()
    while todo:
        m = todo.pop()
        if m in seen or m not in trees:
            continue
        seen.add(m)
        todo.extend(_imports(trees[m]))
    return sorted(seen)


def stamp(root: Path = PACKAGE_DIR) -> str:
    """sha256 of the compiled modules (names and contents) of the package at ``root``."""
    h = hashlib.sha256()
    for m in compiled_modules(root):
        h.update(m.encode())
        h.update((root / f"{m}.py").read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def package_stamp() -> str:
    """This package's ``stamp``, computed once per process."""
    return stamp(PACKAGE_DIR)


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
