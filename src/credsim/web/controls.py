"""The explorer's controls for a scenario: its sliders, each with the unit, the scenario's value
as default and where that value comes from (mechanisms.toml, the catalogue, the regime), and the
harm metrics with one plain sentence each. What is offered is data (``explorer.toml``); the
regime's band cut-offs and rule points are read from the regime itself."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field

from credsim.config import Strict, validate
from credsim.experiment.metrics import LABELS
from credsim.provenance import Sourced

DATA = Path(__file__).with_name("explorer.toml")


class Base(Sourced):
    community_size: int = Field(ge=100, le=20_000_000)
    panel_agents: int = Field(ge=0, le=1_000_000)


class SliderSpec(Strict):
    path: str
    label: str
    unit: str
    min: float
    max: float
    step: float = Field(gt=0)
    help: str
    with_: dict[str, float] = Field(default_factory=dict, alias="with")
    with_assumption: str | None = None


class HarmSpec(Strict):
    metric: str
    group: str
    sentence: str


class ExplorerData(Strict):
    base: Base
    sliders: list[SliderSpec]
    harms: list[HarmSpec]


@cache
def explorer_data() -> ExplorerData:
    return validate(ExplorerData, tomllib.loads(DATA.read_text(encoding="utf-8")), str(DATA))


def base_settings() -> dict[str, Any]:
    b = explorer_data().base
    return {"community_size": b.community_size, "panel_agents": b.panel_agents}


def _value_and_source(sc: Any, path: str) -> tuple[float, str]:
    """A slider's current value in ``sc`` and its provenance."""
    from credsim.mechanisms import registry

    parts = path.split(".")
    if parts[:2] == ["detection", "errors"]:
        sensor = next(s for s in sc.catalogue.sensors if s.name == parts[2])
        value = getattr(sensor, parts[3])
        if value == 0 and sensor.errors_source is None:
            return value, "not modelled by the shipped catalogue: no source gives a rate (0 = off)"
        return value, sensor.errors_source or sensor.provenance
    section, key = parts
    value = getattr(getattr(sc, section), key)
    shipped = registry.default(section).get(key)
    if value != shipped:
        return value, f"set by the scenario (the shipped default {shipped} comes from: " \
                      f"{registry.provenance(section, key)})"
    return value, registry.provenance(section, key)


def _slider(s: SliderSpec, sc: Any, group: str) -> dict[str, Any]:
    value, source = _value_and_source(sc, s.path)
    out = {"path": s.path, "label": s.label, "unit": s.unit, "min": s.min, "max": max(s.max, value),
           "step": s.step, "default": value, "source": source, "help": s.help, "group": group,
           "integer": float(s.step).is_integer() and isinstance(value, int)}
    if s.with_:
        out["with"] = dict(s.with_)
        out["source"] += f"; when above 0 also sets {', '.join(s.with_)} (assumption: {s.with_assumption})"
    return out


def regime_sliders(regime: Any) -> list[dict[str, Any]]:
    """A slider for each band's cut-off (but the lowest band's) and each rule that moves points."""
    lo, hi = regime.score.min, regime.score.max
    out = []
    lowest = min(range(len(regime.bands)), key=lambda i: regime.bands[i].min)
    for i, b in enumerate(regime.bands):
        if i == lowest:
            continue
        out.append({"path": f"regime.bands[{i}].min", "label": f"Grade {b.label} from", "unit": "points",
                    "min": lo, "max": hi, "step": 1, "default": b.min, "source": b.provenance,
                    "help": f"The lowest score that still has grade {b.label}.",
                    "group": "regime: grade cut-offs", "integer": True})
    for i, r in enumerate(regime.rules):
        if r.points == 0:
            continue
        span = max(100, 3 * abs(r.points))
        out.append({"path": f"regime.rules[{i}].points", "label": f"Points for {r.act.replace('_', ' ')}",
                    "unit": "points per recorded act", "min": -span, "max": span, "step": 1,
                    "default": r.points, "source": r.provenance,
                    "help": f"What one recorded {r.act.replace('_', ' ')} adds (negative: deducts).",
                    "group": "regime: points", "integer": True})
    return out


def controls_for(sc: Any) -> dict[str, Any]:
    """The sliders and harm metrics the page shows for scenario ``sc``."""
    data = explorer_data()
    sliders = [_slider(s, sc, "mechanisms") for s in data.sliders]
    sliders += regime_sliders(sc.regime_model)
    harms = [{"metric": h.metric, "label": LABELS.get(h.metric, h.metric), "group": h.group,
              "sentence": h.sentence} for h in data.harms]
    return {"sliders": sliders, "harms": harms,
            "grades": [b.label for b in sc.regime_model.bands] + ["unscored"],
            "sanctions": [s.name for s in sc.regime_model.sanctions],
            "lists": [x.name for x in sc.regime_model.lists]}


def expand(values: dict[str, float], sliders: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An arm's slider values as key-path overrides (integers where the key is one, and the
    values a slider sets with it when above 0)."""
    out: dict[str, Any] = {}
    for path, v in values.items():
        s = sliders[path]
        out[path] = int(round(v)) if s["integer"] else float(v)
        if v > 0:
            out.update(s.get("with", {}))
    return out
