"""Overrides by key path: ``--set regime.bands[3].min=900`` on any scenario, regime, catalogue or
marginals value, validated like the files themselves.

A path starts at the scenario (``population.persons``, ``appeals.probability``,
``detection.errors.cameras.fpir``); ``regime.``, ``catalogue.`` and ``marginals.`` reach into the
files a scenario refers to (``regime.use`` and ``regime.file`` stay the scenario's own keys). A
list item is chosen by position (``bands[3]``) or by its name (``rules[littering]``,
``bands[D]``: the item whose ``name``, ``label``, ``act`` or ``grade`` is that name).
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from credsim.errors import ConfigError

TARGETS = ("regime", "catalogue", "marginals")  # files a scenario refers to; the rest is the scenario
SCENARIO_REGIME_KEYS = ("use", "file")  # regime.<these> are the scenario's reference, not the regime's
SELECTOR_KEYS = ("name", "label", "act", "grade")  # a list item chosen by name matches one of these
Path_ = tuple[str | int, ...]

_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[([^\[\]]+)\]")


def parse_path(text: str) -> Path_:
    """``"a.b[3].c"`` -> ``("a", "b", 3, "c")``; ``"rules[littering]"`` -> ``("rules", "littering")``
    where the selector is kept as a string (a name) unless it is an integer."""
    parts: list[str | int] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None or (pos == 0 and text.startswith(".")):
            raise ValueError(f"{text!r} is not a key path (expected keys joined by '.', list items as "
                             f"[3] or [name], e.g. regime.bands[3].min)")
        key, sel = m.groups()
        if key is not None:
            parts.append(key)
        else:
            s = sel.strip().strip("\"'")
            parts.append(int(s) if re.fullmatch(r"-?\d+", s) else _Name(s))
        pos = m.end()
    if not parts or not isinstance(parts[0], str) or isinstance(parts[0], _Name):
        raise ValueError(f"{text!r} is not a key path (it must start with a key)")
    return tuple(parts)


class _Name(str):
    """A list selector by name (``rules[littering]``), told apart from a table key."""


def parse_value(text: str) -> Any:
    """A ``--set`` value read as a TOML value (``0.03``, ``true``, ``[1, 2]``, ``"x"``); anything
    that is not valid TOML is taken as a plain string (``--set regime.use=rongcheng``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"key.path=value"`` -> ``("key.path", value)``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{text!r}: expected KEY.PATH=VALUE (e.g. appeals.probability=0.5)")
    return key.strip(), parse_value(value.strip())


def target_of(path: Path_) -> tuple[str, Path_]:
    """Which document a path changes (``scenario``, ``regime``, ``catalogue``, ``marginals``) and
    the path inside it."""
    head = path[0]
    if head in TARGETS and len(path) > 1 and not (head == "regime" and path[1] in SCENARIO_REGIME_KEYS):
        return str(head), path[1:]
    return "scenario", path


def show(path: Path_) -> str:
    """A path as the user writes it: ``regime.rules[littering].points``."""
    out = ""
    for step in path:
        if isinstance(step, (int, _Name)):
            out += f"[{step}]"
        else:
            out += ("." if out else "") + step
    return out or "(top level)"


def _index(items: list, sel: str | int, where: Path_) -> int:
    if isinstance(sel, _Name):
        for i, item in enumerate(items):
            if isinstance(item, Mapping) and any(item.get(k) == sel for k in SELECTOR_KEYS):
                return i
        names = [next((item.get(k) for k in SELECTOR_KEYS if isinstance(item, Mapping) and k in item), None)
                 for item in items]
        raise LookupError(f"{show(where)}: no item named {str(sel)!r} "
                          f"(items: {[n for n in names if n is not None]})")
    if not -len(items) <= sel < len(items):
        raise LookupError(f"{show(where)}: index {sel} is out of range (the list has {len(items)} "
                          f"items, 0..{len(items) - 1})")
    return sel % len(items)


def set_path(doc: dict[str, Any], path: Path_, value: Any) -> None:
    """Set ``value`` at ``path`` in the nested dicts and lists ``doc`` (in place). Missing table
    keys are created (validation then says whether the key exists); a list index must exist."""
    node: Any = doc
    for depth, step in enumerate(path):
        last = depth == len(path) - 1
        where = path[: depth + 1]
        if isinstance(node, list):
            if isinstance(step, str) and not isinstance(step, _Name):
                raise LookupError(f"{show(path[:depth])}: is a list; choose an item with [index] "
                                  f"or [name] before .{step}")
            i = _index(node, step, path[:depth])
            if last:
                node[i] = value
            else:
                node = node[i]
            continue
        if not isinstance(node, dict):
            raise LookupError(f"{show(path[:depth])}: is a value ({node!r}), not a table: "
                              f"{show(where)} cannot be set")
        if isinstance(step, int) or isinstance(step, _Name):
            raise LookupError(f"{show(path[:depth])}: is a table, not a list: use .key, not [{step}]")
        if last:
            node[step] = value
        else:
            if node.get(step) is None:
                node[step] = {}
            node = node[step]


def apply(doc: Mapping[str, Any], changes: Iterable[tuple[Path_, Any]]) -> dict[str, Any]:
    """A deep copy of ``doc`` with every change applied, in order."""
    out = copy.deepcopy(dict(doc))
    for path, value in changes:
        set_path(out, path, value)
    return out


def split(overrides: Mapping[str, Any], source: str) -> dict[str, list[tuple[Path_, Any]]]:
    """Parse ``{"key.path": value}`` and group the changes by document. Bad paths raise a
    ConfigError naming ``source`` and each bad path."""
    groups: dict[str, list[tuple[Path_, Any]]] = {}
    problems = []
    for text, value in overrides.items():
        try:
            path = parse_path(text)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        doc, rest = target_of(path)
        groups.setdefault(doc, []).append((rest, value))
    if problems:
        raise ConfigError(source, problems)
    return groups


def provenance(path: str, value: Any, origin: str) -> str:
    """The assumption label of a value set by key path: a value changed by ``--set`` or an
    experiment no longer rests on the source or assumption its file gave it."""
    return f"override by key path {path} = {value!r} ({origin})"


# scenario tables that change a catalogue item, and the item's provenance field they overrule
CATALOGUE_ITEMS = {("detection", "errors"): ("sensors", "errors_source"),
                   ("detection", "sensors"): ("sensors", "source"),
                   ("behaviour", "acts"): ("acts", "source"), ("behaviour", "traits"): ("traits", "source")}


def mark_overridden(resolved: dict[str, Any], entries: Iterable[dict[str, Any]]) -> None:
    """In a resolved scenario (``Scenario.resolved``), replace the provenance of each item an
    override changed by the override's (the innermost table on its path with a ``source`` or
    an ``assumption``; a sensor's ``errors_source`` for ``detection.errors``), keeping the old
    text after "was:"."""
    for e in entries:
        try:
            path = parse_path(e["path"])
        except ValueError:
            continue
        doc, rest = target_of(path)
        node, field = None, "source"
        if doc == "scenario" and tuple(rest[:2]) in CATALOGUE_ITEMS and len(rest) > 2:
            items, field = CATALOGUE_ITEMS[tuple(rest[:2])]
            node = next((x for x in resolved.get("catalogue", {}).get(items, [])
                         if x.get("name") == rest[2]), None)
        elif doc in resolved and doc != "scenario":
            cur: Any = resolved[doc]
            for step in rest:
                if isinstance(cur, list):
                    try:
                        cur = cur[_index(cur, step, ())]
                    except LookupError:
                        break
                elif isinstance(cur, dict) and step in cur:
                    cur = cur[step]
                else:
                    break
                if isinstance(cur, dict) and ("source" in cur or "assumption" in cur):
                    node = cur
        if node is None:
            continue
        if field == "errors_source":
            node[field] = f"{e['assumption']}; was: {node.get(field)}"
            continue
        was = node.get("source") or (f"assumption: {node['assumption']}" if node.get("assumption") else None)
        node["source"], node["assumption"] = None, e["assumption"] + (f"; was: {was}" if was else "")


def lookup_error(source: str, doc: str, exc: LookupError) -> ConfigError:
    """A ConfigError for a path that does not fit its document, named from the scenario."""
    return ConfigError(source, [("" if doc == "scenario" else f"{doc}.") + str(exc)])
