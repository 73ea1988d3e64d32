"""A run request from the page: regime (shipped or uploaded), size, days, seeds and up to a few
arms of slider values, checked against the server's limits into plain, picklable run specs.

Uploaded text is parsed as TOML and validated like a file; it is written under a fixed name in
a fresh temporary folder (never used as a path) and file references are not trusted there, so a
scenario can name shipped files or the uploaded regime only. An arm may set only the sliders the
explorer offers for its regime (``credsim.web.controls``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from credsim.errors import ConfigError
from credsim.web.limits import ServeLimits

UPLOAD_NAME = {"regime": "regime.toml", "scenario": "scenario.toml"}  # fixed names in the temp folder


class RequestError(ValueError):
    """Bad input: ``errors`` maps a form field (``persons``, ``upload``, ``arms[1]``...) to its problems."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {m}" for k, ms in errors.items() for m in ms))


class Upload(BaseModel):
    name: str = Field(default="upload.toml", max_length=200)
    text: str


class ArmIn(BaseModel):
    label: str = Field(min_length=1, max_length=40)
    set: dict[str, float | int] = Field(default_factory=dict)


class RunIn(BaseModel):
    """The JSON body of ``POST /api/runs`` (and what a share link carries)."""

    regime: str = "seed-national-score"
    upload: Upload | None = None
    persons: int = 10_000
    days: int = 365
    seeds: int = 1
    seed: int = Field(default=1, ge=0, lt=2**63)
    chilling: bool = True  # measure the chilling index (reruns each arm with chilling off)
    arms: list[ArmIn] = Field(default_factory=lambda: [ArmIn(label="A")])


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to build one arm's scenario (plain data, picklable)."""

    scenario: dict[str, Any]
    upload_kind: str | None
    upload_text: str | None
    overrides: dict[str, Any]
    source: str
    upload_name: str = "upload.toml"  # what errors call the uploaded file (never a path)


def parse(body: dict[str, Any]) -> RunIn:
    try:
        return RunIn.model_validate(body)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for e in exc.errors():
            loc = [str(p) for p in e["loc"]]
            field = loc[0] if loc else "request"
            if field == "arms" and len(loc) > 1:
                field = f"arms[{loc[1]}]"
            errors.setdefault(field, []).append(f"{'.'.join(loc)}: {e['msg']}")
        raise RequestError(errors) from None


def upload_kind(up: Upload, limits: ServeLimits) -> tuple[str, dict[str, Any]]:
    """The uploaded file's kind (regime or scenario) and its TOML data, or RequestError."""
    size = len(up.text.encode("utf-8"))
    if size > limits.max_upload_bytes:
        raise RequestError({"upload": [f"{up.name}: {size:,} bytes; an upload is at most "
                                       f"{limits.max_upload_bytes:,} bytes"]})
    try:
        data = tomllib.loads(up.text)
    except tomllib.TOMLDecodeError as exc:
        raise RequestError({"upload": [f"{up.name}: not valid TOML ({exc})"]}) from None
    if {"score", "bands"} & data.keys():
        return "regime", data
    if {"population", "regime"} & data.keys():
        return "scenario", data
    raise RequestError({"upload": [f"{up.name}: (top level): neither a regime (it has 'score' and "
                                   "'bands') nor a scenario (it has 'population' and 'regime')"]})


def base_scenario(req: RunIn, limits: ServeLimits) -> tuple[dict[str, Any], str | None]:
    """The scenario dict every arm starts from (size, days and seed from the form) and the
    upload's kind; checks the form's caps."""
    from credsim.web.controls import base_settings

    errors: dict[str, list[str]] = {}
    if not 100 <= req.persons <= limits.max_agents:
        errors["persons"] = [f"{req.persons:,} persons: between 100 and {limits.max_agents:,} "
                             "(the server's --max-agents)"]
    if not 1 <= req.days <= limits.max_days:
        errors["days"] = [f"{req.days:,} days: between 1 and {limits.max_days:,} (--max-days)"]
    if not 1 <= req.seeds <= limits.max_seeds:
        errors["seeds"] = [f"{req.seeds} seeds: between 1 and {limits.max_seeds} (--max-seeds)"]
    if not 1 <= len(req.arms) <= limits.max_arms:
        errors["arms"] = [f"{len(req.arms)} arms: between 1 and {limits.max_arms} (--max-arms)"]
    labels = [a.label for a in req.arms]
    if len(set(labels)) != len(labels):
        errors["arms"] = [*errors.get("arms", []), f"two arms have the same label: {labels}"]
    if errors:
        raise RequestError(errors)
    base = base_settings()
    kind = None
    if req.upload is not None:
        kind, data = upload_kind(req.upload, limits)
    if kind == "scenario":
        sc = dict(data)
        sc["population"] = {k: v for k, v in dict(sc.get("population") or {}).items()
                            if k not in ("scale", "persons")}
    else:
        sc = {"name": "explorer", "population": {"community_size": base["community_size"]},
              "regime": {"file": UPLOAD_NAME["regime"]} if kind == "regime" else {"use": req.regime}}
    sc.pop("threads", None)
    sc["population"]["persons"] = req.persons
    sc["days"], sc["seed"] = req.days, req.seed
    sc["output"] = {"report": False, "panel_agents": base["panel_agents"],
                    "chilling_baseline": bool(req.chilling)}
    return sc, kind


@contextlib.contextmanager
def folder(kind: str | None, text: str | None) -> Iterator[Path]:
    """A fresh temporary folder holding the upload under its fixed name (the folder a scenario's
    file references are resolved in, and kept inside)."""
    with tempfile.TemporaryDirectory(prefix="credsim-serve-") as d:
        if kind is not None and text is not None:
            (Path(d) / UPLOAD_NAME[kind]).write_text(text, encoding="utf-8")
        yield Path(d)


@contextlib.contextmanager
def scenario_of(spec: RunSpec) -> Iterator[Any]:
    """The validated scenario of ``spec``, file references untrusted, inside its temp folder
    (kept for as long as the block runs: a run re-reads the regime when it derives scenarios)."""
    from credsim.refs import trusted_paths
    from credsim.scenario import Scenario

    with trusted_paths(False), folder(spec.upload_kind, spec.upload_text) as d:
        try:
            sc = Scenario.from_dict(spec.scenario, base=d)
            sc = sc.with_overrides(spec.overrides, source=spec.source)
            _ = sc.regime_model, sc.catalogue, sc.marginals_model
        except ConfigError as exc:  # errors name the uploaded file, not the temporary folder
            raise ConfigError(_named(exc.source, d, spec.upload_name),
                              [_named(p, d, spec.upload_name) for p in exc.problems]) from None
        yield sc


def _named(text: str, folder: Path, name: str) -> str:
    for fixed in UPLOAD_NAME.values():
        text = text.replace(str(folder / fixed), name)
    return text.replace(str(folder), "<upload folder>")


def plan(body: dict[str, Any], limits: ServeLimits) -> tuple[RunIn, list[RunSpec], dict[str, Any]]:
    """Check a request; its arms' specs and the controls of its regime, or RequestError naming
    the field. Every arm's scenario is validated here, before anything is queued."""
    from credsim.web.controls import controls_for, expand

    req = parse(body)
    sc, kind = base_scenario(req, limits)
    text = req.upload.text if req.upload is not None else None
    field = "upload" if kind is not None else "regime"
    specs: list[RunSpec] = []
    name = req.upload.name if req.upload else "explorer"
    base = RunSpec(sc, kind, text, {}, f"<{name}>", name)
    try:
        with scenario_of(base) as scenario:
            from credsim.sim import Sim

            agents = _agents(Sim(scenario))
            controls = controls_for(scenario)
    except ConfigError as exc:
        msg = str(exc)
        raise RequestError({field: [msg if kind is None or name in msg else f"{name}: {msg}"]}) from None
    if agents > limits.max_agents:
        raise RequestError({"persons": [f"{req.persons:,} persons make {agents:,} agents with their "
                                        f"firms: at most {limits.max_agents:,} (--max-agents)"]})
    allowed = {c["path"]: c for c in controls["sliders"]}
    for i, arm in enumerate(req.arms):
        bad = [k for k in arm.set if k not in allowed]
        if bad:
            raise RequestError({f"arms[{i}]": [f"{k}: not a slider of the explorer for this regime"
                                               for k in bad]})
        spec = RunSpec(sc, kind, text, expand(arm.set, allowed), f"arms[{i}] ({arm.label})", name)
        try:
            with scenario_of(spec):
                pass
        except ConfigError as exc:
            raise RequestError({f"arms[{i}]": exc.problems}) from None
        specs.append(spec)
    return req, specs, controls


def _agents(sim: Any) -> int:
    return sim.plan.persons + sim.plan.firms


def request_key(req: RunIn) -> str:
    """Identical requests (same numbers) share this key: the cache's and the share link's."""
    blob = json.dumps(req.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]
