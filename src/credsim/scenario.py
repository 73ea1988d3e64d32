"""A scenario: which regime, on which synthetic population, with which behaviour, for how long."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PrivateAttr, model_validator

from credsim import limits as L
from credsim import overrides
from credsim.behaviour import Catalogue, load_catalogue
from credsim.calendar import Schedule, check_date, days_from_end, schedule_problems
from credsim.checks import RunName, scenario_checks
from credsim.config import Strict, read_toml, validate
from credsim.errors import ConfigError
from credsim.marginals import Marginals, load_marginals
from credsim.mechanisms import MechanismSections
from credsim.provenance import Calibrated
from credsim.regime import Regime, load_regime, regime_path, regime_problems
from credsim.tickets import TicketsSpec

Date = Annotated[dt.date, AfterValidator(check_date)]

# pairs of keys of which a scenario gives exactly one: an override of one clears the other
EXCLUSIVE_KEYS = (("population", "persons", "scale"), ("population", "scale", "persons"),
                  ("regime", "use", "file"), ("regime", "file", "use"))


class PopulationSpec(Strict):
    """Who is simulated. Give ``scale`` (1.0 = the whole nation) or ``persons``, not both."""

    marginals: str = "china-2020"
    scale: float | None = Field(default=None, gt=0, le=1)
    persons: int | None = Field(default=None, gt=0, le=L.PERSONS)
    provinces: list[str] = Field(default_factory=list)
    community_size: int = Field(default=100_000, ge=100, le=20_000_000)
    firms: bool = True

    @model_validator(mode="after")
    def _one_size(self):
        if (self.scale is None) == (self.persons is None):
            raise ValueError("give exactly one of 'scale' (1.0 = the nation) or 'persons'")
        return self


class RegimeRef(Strict):
    """The regime: a shipped one by name (``use``) or a file (``file``, relative to the scenario)."""

    use: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.use is None) == (self.file is None):
            raise ValueError("give exactly one of 'use' (a shipped regime) or 'file'")
        return self


class ActOverride(Strict):
    rate_per_year: float | None = Field(default=None, ge=0, le=365)
    trait: str | None = None
    sensors: list[str] | None = None


class TraitOverride(Strict):
    sigma: float = Field(ge=0, le=L.TRAIT_SIGMA)


class BehaviourSpec(Strict):
    """``unscored_acts = "skip"`` does not simulate acts the regime does not score (faster; their
    counts are then missing from the acts table)."""

    catalogue: str = "default"
    unscored_acts: Literal["simulate", "skip"] = "simulate"
    acts: dict[str, ActOverride] = Field(default_factory=dict)
    traits: dict[str, TraitOverride] = Field(default_factory=dict)


class SensorOverride(Strict):
    p_urban: float | None = Field(default=None, ge=0, le=1)
    p_rural: float | None = Field(default=None, ge=0, le=1)


class DetectionSpec(Strict):
    """``perfect = true`` records every act (no detection step)."""

    perfect: bool = False
    sensors: dict[str, SensorOverride] = Field(default_factory=dict)
    errors: dict[str, SensorErrorOverride] = Field(default_factory=dict)


class SensorErrorOverride(Strict):
    fpir: float | None = Field(default=None, ge=0, le=1)
    probes_per_year: float | None = Field(default=None, ge=0, le=L.PROBES)
    female_multiplier: float | None = Field(default=None, ge=0, le=L.FEMALE_MULTIPLIER)


class OutputSpec(Strict):
    """What a run writes. ``chilling_baseline`` reruns the scenario with chilling off (same seed)
    to measure the chilling index: it doubles the run time."""

    panel_agents: int = Field(default=500, ge=0, le=1_000_000)
    report: bool = True
    chilling_baseline: bool = False


class ScenarioTables(Strict):
    """The tables of a scenario other than the mechanisms'. ``start`` dates the run (day 0 is
    that date; burn-in days come before it); ``end`` (inclusive) gives ``days`` from the dates;
    ``schedule`` makes act rates piecewise constant by date (``credsim.calendar``)."""

    name: RunName = "scenario"
    description: str = ""
    seed: int = Field(default=1, ge=0, lt=2**63)
    start: Date | None = None
    end: Date | None = None
    days: int = Field(default=365, gt=0, le=L.HORIZON)
    burn_in_days: int = Field(default=0, ge=0, le=36600)
    epoch_days: int = Field(default=7, gt=0, le=365)
    threads: int | None = Field(default=None, gt=0, le=L.THREADS)
    population: PopulationSpec
    regime: RegimeRef
    behaviour: BehaviourSpec = Field(default_factory=BehaviourSpec)
    detection: DetectionSpec = Field(default_factory=DetectionSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    schedule: list[Schedule] = Field(default_factory=list, max_length=L.ACTS)
    # ticket purchase attempts of persons under blocking sanctions (credsim.tickets)
    tickets: TicketsSpec = Field(default_factory=TicketsSpec)
    # values fitted by ``credsim calibrate`` (key path -> value and its labels), applied on loading
    calibrated: dict[str, Calibrated] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _end(cls, data: Any) -> Any:
        return days_from_end(data)

    @model_validator(mode="after")
    def _dated(self):
        if self.end is not None and self.start is None:
            raise ValueError("end: an end date needs a 'start' date")
        return self

    @property
    def end_date(self) -> dt.date | None:
        """The last reported date (None: the run has no calendar)."""
        from credsim.calendar import end_date

        return None if self.start is None else end_date(self.start, self.days)


class Scenario(MechanismSections, ScenarioTables):
    """A complete, validated scenario: the tables of ``ScenarioTables``, then one per mechanism
    (``[errors]``, ``[surveillance]``...: ``credsim.mechanisms``; a table given in part takes
    its other keys from data/mechanisms.toml). ``Scenario.from_file`` reads a TOML file."""

    _base: Path | None = PrivateAttr(default=None)
    _source: str = PrivateAttr(default="<scenario>")
    # changes by key path to the regime, catalogue and marginals files (``with_overrides``)
    _patches: dict[str, list] = PrivateAttr(default_factory=dict)
    _patch_source: str = PrivateAttr(default="--set")
    # what was set by key path, with its provenance label: resolved() records it
    _overridden: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        path = Path(path)
        sc = validate(cls, read_toml(path), str(path))
        sc._base = path.resolve().parent
        sc._source = str(path)
        sc.check()
        return sc._with_calibrated(str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Path | None = None) -> Scenario:
        sc = validate(cls, data, "<scenario>")
        sc._base = base
        sc.check()
        return sc._with_calibrated("<scenario>")

    def _with_calibrated(self, source: str) -> Scenario:
        """This scenario with its ``[calibrated]`` values applied at their key paths."""
        if not self.calibrated:
            return self
        return self.with_overrides({k: c.value for k, c in self.calibrated.items()},
                                   source=f"{source} [calibrated]", origin="calibrated")

    # ---- resolved parts (regime, catalogue, marginals) -------------------------------------
    @cached_property
    def regime_model(self) -> Regime:
        ref = self.regime.use if self.regime.use is not None else self.regime.file
        changes = self._patches.get("regime")
        if not changes:
            return load_regime(ref, self._base)
        return self._patched(Regime, read_toml(regime_path(ref, self._base)), "regime")

    def _patched(self, model, data: dict[str, Any], doc: str):
        """``data`` with this scenario's changes to ``doc`` applied, validated as ``model``."""
        try:
            data = overrides.apply(data, self._patches[doc])
        except LookupError as exc:
            raise overrides.lookup_error(self._patch_source, doc, exc) from None
        return validate(model, data, self._patch_source, prefix=(doc,))

    @cached_property
    def _base_catalogue(self) -> Catalogue:
        if not self._patches.get("catalogue"):
            return load_catalogue(self.behaviour.catalogue, self._base)
        from credsim.behaviour import catalogue_path

        return self._patched(Catalogue, read_toml(catalogue_path(self.behaviour.catalogue, self._base)),
                             "catalogue")

    @cached_property
    def catalogue(self) -> Catalogue:
        base = self._base_catalogue
        acts = []
        for a in base.acts:
            o = self.behaviour.acts.get(a.name)
            if o is not None:
                a = a.model_copy(update={k: v for k, v in o.model_dump().items() if v is not None})
            acts.append(a)
        traits = []
        for t in base.traits:
            o = self.behaviour.traits.get(t.name)
            traits.append(t.model_copy(update={"sigma": o.sigma}) if o else t)
        sensors = []
        for s in base.sensors:
            for o in (self.detection.sensors.get(s.name), self.detection.errors.get(s.name)):
                if o is not None:
                    s = s.model_copy(update={k: v for k, v in o.model_dump().items() if v is not None})
            sensors.append(s)
        return Catalogue(description=base.description, traits=traits, acts=acts, sensors=sensors)

    @cached_property
    def marginals_model(self) -> Marginals:
        m = load_marginals(self.population.marginals, self._base)
        if not self._patches.get("marginals"):
            return m
        return self._patched(Marginals, m.model_dump(mode="json", by_alias=True), "marginals")

    def check(self) -> None:
        """Checks across files: every name a scenario or regime uses must exist."""
        scenario_checks(self)
        problems = []
        base_cat = self._base_catalogue
        acts = set(base_cat.act_names)
        traits = {t.name for t in base_cat.traits}
        sensors = {s.name for s in base_cat.sensors}
        for name, o in self.behaviour.acts.items():
            if name not in acts:
                problems.append(f"behaviour.acts.{name}: not an act of the catalogue (acts: {sorted(acts)})")
            if o.trait is not None and o.trait not in traits:
                problems.append(f"behaviour.acts.{name}.trait: {o.trait!r} is not a trait ({sorted(traits)})")
            for j, s in enumerate(o.sensors or []):
                if s not in sensors:
                    problems.append(f"behaviour.acts.{name}.sensors[{j}]: {s!r} is not a sensor")
        for name in self.behaviour.traits:
            if name not in traits:
                problems.append(f"behaviour.traits.{name}: not a trait of the catalogue ({sorted(traits)})")
        for table in ("sensors", "errors"):
            for name in getattr(self.detection, table):
                if name not in sensors:
                    problems.append(
                        f"detection.{table}.{name}: not a sensor of the catalogue ({sorted(sensors)})"
                    )
        provinces = {p for p, _, _ in self.marginals_model.province_table}
        for j, p in enumerate(self.population.provinces):
            if p not in provinces:
                problems.append(f"population.provinces[{j}]: {p!r} is not a province of the marginals")
        problems += schedule_problems(self)
        if problems:
            raise ConfigError(self._source, problems)
        regime = self.regime_model
        rp = regime_problems(regime, known_acts=acts)
        if rp:
            ref = self.regime.use or self.regime.file
            raise ConfigError(f"{self._source} (regime {ref})", rp)

    def with_changes(self, changes: dict[str, Any]) -> Scenario:
        """A copy with some tables changed (nested dicts merge), validated again."""
        data = self.model_dump(mode="json")
        for k, v in changes.items():
            if isinstance(v, dict) and isinstance(data.get(k), dict):
                data[k] = {**data[k], **v}
            else:
                data[k] = v
        return self._derived(data, self._patches)

    def _derived(self, data: dict[str, Any], patches: dict[str, list], source: str | None = None) -> Scenario:
        """A scenario from ``data`` that keeps this one's folder, name of origin and patches."""
        sc = validate(Scenario, data, source or self._source)
        # errors found across files after a change name the change's source, not the file's
        sc._base, sc._source = self._base, source or self._source
        sc._patches = patches
        sc._patch_source = source or self._patch_source
        sc._overridden = list(self._overridden)
        sc.check()
        return sc

    def with_overrides(self, changes: Mapping[str, Any], source: str = "--set",
                       origin: str | None = None) -> Scenario:
        """A copy with values changed by key path (``{"regime.bands[3].min": 900,
        "appeals.probability": 0.5}``: see ``credsim.overrides``), validated again. Errors name
        ``source`` and the path. Setting ``population.persons`` drops ``population.scale`` and
        the other way round; ``regime.use`` and ``regime.file`` likewise (``EXCLUSIVE_KEYS``).
        Each value set carries the provenance "override by key path ... (``origin``, default
        ``source``)" in ``resolved()`` ("calibrated" for ``origin="calibrated"``)."""
        if not changes:
            return self
        groups = overrides.split(changes, source)
        data = self.model_dump(mode="json")
        own = groups.pop("scenario", [])
        keys = {p[:2] for p, _ in own}
        # keys that exclude each other: setting one clears the other (unless both are set)
        for table, key, other in EXCLUSIVE_KEYS:
            if (table, key) in keys and (table, other) not in keys:
                own.append(((table, other), None))
        for key, other in (("days", "end"), ("end", "days")):  # days follow a new end date
            if (key,) in keys and (other,) not in keys and data.get(other) is not None:
                own.append(((other,), None))
        try:
            data = overrides.apply(data, own)
        except LookupError as exc:
            raise overrides.lookup_error(source, "scenario", exc) from None
        patches = {k: list(v) for k, v in self._patches.items()}
        for doc, ch in groups.items():
            patches.setdefault(doc, []).extend(ch)
        sc = self._derived(data, patches, source)
        _ = sc.regime_model, sc.catalogue, sc.marginals_model  # every patched file validates now
        sc._overridden = [e for e in self._overridden if e["path"] not in changes] + [
            {"path": k, "value": v, "assumption": "calibrated" if origin == "calibrated"
             else overrides.provenance(k, v, origin or source)} for k, v in changes.items()]
        return sc

    def resolved(self, provenance: bool = True) -> dict[str, Any]:
        """The scenario with its regime and catalogue resolved: what a run directory records.
        ``provenance=False`` leaves out the labels of values set by key path (what a run
        computes does not depend on them: checkpoints' fingerprints)."""
        out = {
            "scenario": self.model_dump(mode="json"),
            "regime": self.regime_model.model_dump(mode="json"),
            "catalogue": self.catalogue.model_dump(mode="json"),
            **({"marginals_changes": {overrides.show(p): v for p, v in self._patches["marginals"]}}
               if self._patches.get("marginals") else {}),
        }
        if provenance and self._overridden:  # values set by key path: their labels, the items changed
            out["overrides"] = [dict(e) for e in self._overridden]
            overrides.mark_overridden(out, self._overridden)
        return out
