"""``calibrated.toml``: the base scenario's own keys, the spec's fixed ``set`` and the fitted
values, a scenario ``credsim run`` accepts.

The fitted values go in the scenario's ``[calibrated."key.path"]`` tables (value, the spec and
the targets that gave it); ``Scenario.from_file`` applies them by key path and the run records
them in its resolved scenario JSON. The spec's ``set`` changes to the scenario itself are
written into its tables; those reaching into the regime, catalogue or marginals go in
``[calibrated]`` too, with no targets and a note saying they were fixed, not fitted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from credsim import overrides
from credsim.config import read_toml
from credsim.tomlw import dumps

FILE_KEYS = (("regime", "file"), ("behaviour", "catalogue"), ("population", "marginals"))


def scenario_document(base_file: str, fixed: dict[str, Any], fitted: dict[str, Any], spec: str,
                      targets: dict[str, list[str]], name: str | None = None,
                      notes: dict[str, str] | None = None) -> dict[str, Any]:
    """The calibrated scenario as a TOML document (see the module's docstring); ``notes``: the
    parameters' notes (an UNSOURCED fit says so there), kept with each fitted value."""
    base = Path(base_file).resolve()
    data = read_toml(base)
    for keys in FILE_KEYS:  # a file the base scenario names relative to itself: make it absolute
        v = data.get(keys[0], {}).get(keys[1])
        if isinstance(v, str) and v.endswith(".toml") and not Path(v).is_absolute():
            data[keys[0]][keys[1]] = str((base.parent / v).resolve())
    groups = overrides.split(fixed, "set")
    for path, value in groups.pop("scenario", []):
        if path[:1] == ("population",) and path[1:2] in (("persons",), ("scale",)):
            data.get("population", {}).pop("scale" if path[1] == "persons" else "persons", None)
        if path in (("days",), ("end",)):  # the other follows from it (Scenario.with_overrides)
            data.pop("end" if path == ("days",) else "days", None)
        overrides.set_path(data, path, value)
    cal = dict(data.get("calibrated", {}))
    for doc, changes in groups.items():
        for path, value in changes:
            key = f"{doc}.{overrides.show(path)}"
            cal[key] = {"value": value, "spec": spec, "targets": [],
                        "note": "fixed by the calibration's set, not fitted"}
    for path, value in fitted.items():
        cal[path] = {"value": value, "spec": spec, "targets": list(targets.get(path, []))}
        if notes and notes.get(path):
            cal[path]["note"] = notes[path]
    data["calibrated"] = cal
    if name:
        data["name"] = name
    return data


def write(path: Path, doc: dict[str, Any], header: str) -> Path:
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    text = comment + "\n" + dumps(doc) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
