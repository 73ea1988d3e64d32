"""The package's import graph has no cycle, counting every import: at module level, inside
functions and under ``if TYPE_CHECKING``. A cycle that only type checkers follow still ties two
modules together (neither can be understood, moved or tested without the other), so it fails too.

Edges are read with ``ast``, nothing is imported. ``from credsim import x`` is an edge to module
``x`` when ``x`` is a module, else to the package ``credsim`` itself (its ``__init__``); relative
imports are resolved. The implicit import of a module's parent packages is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "credsim"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE


def module_names(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted name of every module under ``root`` (``pkg/__init__.py`` is ``pkg``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports_of(name: str, path: Path, known: set[str], package: str = PACKAGE) -> set[str]:
    """The package modules that module ``name`` imports, anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = name if _is_package(path) else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):  # every node: function bodies and TYPE_CHECKING blocks too
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    out.add(_nearest_module(alias.name, known))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: up level-1 packages from this one
                up = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            if base != package and not base.startswith(package + "."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else _nearest_module(base, known))
    out.discard(name)
    return out


def _nearest_module(dotted: str, known: set[str]) -> str:
    """``dotted`` if it is a module, else its longest prefix that is one."""
    parts = dotted.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = SRC, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    mods = module_names(root, package)
    known = set(mods)
    return {m: imports_of(m, p, known, package) for m, p in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles to spell out (first module repeated at the end): for every import that lies on
    a cycle, a shortest cycle through it, each cycle once."""
    out: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for comp in _components(graph):
        for v in sorted(comp):
            for w in sorted(graph[v] & comp):
                cyc = [v, *_shortest_path(graph, comp, w, v)[:-1]]  # v, w, ..., back to v
                i = cyc.index(min(cyc))  # one rotation per cycle
                key = tuple(cyc[i:] + cyc[:i])
                if key not in seen:
                    seen.add(key)
                    out.append([*key, key[0]])
    return out


def _components(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            components.append(comp)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def _shortest_path(graph: dict[str, set[str]], comp: set[str], src: str, dst: str) -> list[str]:
    """A shortest import path from ``src`` to ``dst`` within a component (breadth first)."""
    prev = {src: src}
    frontier = [src]
    while dst not in prev:
        assert frontier, f"no path {src} -> {dst} in {sorted(comp)}"
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    path = [dst]
    while path[-1] != src:
        path.append(prev[path[-1]])
    return path[::-1]


def _spelled(cycle: list[str]) -> str:
    return " -> ".join(cycle)


# ------------------------------------------------------------------------------------ tests
def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(_spelled(c) for c in found)


def test_layout_is_a_leaf() -> None:
    assert import_graph()[f"{PACKAGE}.layout"] == set()


def test_graph_sees_every_kind_of_import() -> None:
    """The parser is not blind: module-level, in-function and TYPE_CHECKING imports all count."""
    g = import_graph()
    assert "credsim.engine" in g["credsim.checkpoint"]  # module level, ``from credsim.x import``
    assert "credsim.jitcache" in g["credsim.kernel"]  # ``from credsim import x``
    assert "credsim.sim" in g["credsim.cli"]  # inside a function
    assert "credsim.results" in g["credsim"]  # under TYPE_CHECKING


def test_a_cycle_is_found_and_spelled_out(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg import b\n")
    (pkg / "b.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    from .sub.c import X\n")
    (pkg / "sub" / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from pkg import sub\nfrom pkg.a import f\n")
    g = import_graph(pkg, "pkg")
    assert g["pkg.d"] == {"pkg.sub", "pkg.a"}
    assert cycles(g) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]
    assert _spelled(cycles(g)[0]) == "pkg.a -> pkg.b -> pkg.sub.c -> pkg.a"
    (pkg / "sub" / "c.py").write_text("import os\n")
    assert cycles(import_graph(pkg, "pkg")) == []


@pytest.mark.parametrize("level_source", ["from . import b\n", "from .b import g\n"])
def test_relative_imports(tmp_path: Path, level_source: str) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(level_source)
    (pkg / "b.py").write_text("def g():\n    from pkg.a import x\n")
    assert cycles(import_graph(pkg, "pkg")) == [["pkg.a", "pkg.b", "pkg.a"]]
