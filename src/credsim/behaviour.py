"""The acts people and firms commit, with base rates and heterogeneity, whatever regime scores them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from credsim import limits as L
from credsim.config import Strict, read_toml, validate
from credsim.provenance import Sourced
from credsim.refs import resolve
from credsim.regime import shipped_regimes

Subject = Literal["person", "firm"]
ActKind = Literal["good_deed", "incivility", "fault", "speech", "traffic", "financial", "judicial", "firm"]


class Trait(Sourced):
    """A per-agent propensity multiplier ~ LogNormal(0, sigma), shared by the acts that name it."""

    name: str
    sigma: float = Field(ge=0, le=L.TRAIT_SIGMA)


class Act(Sourced):
    """One kind of act. Each agent commits it as a Poisson process of ``rate_per_year x
    multiplier`` a year (the multiplier from the act's trait), resolved to days.

    ``rate_basis``: ``gross`` (default) is the rate before the behaviour response thins it;
    ``net`` is a recorded flow, observed under the regime ``observed_under``: the engine turns it
    into the gross rate that gives that flow with that regime's response on
    (``mechanisms.response.net_to_base``). A net act must always be recorded (a sensor with
    detection 1 in town and country), so the conversion is exact."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    kind: ActKind
    subject: Subject = "person"
    rate_per_year: float = Field(ge=0, le=L.RATE)
    trait: str | None = None
    lawful: bool = False
    needs: Literal["elderly_parent"] | None = None
    sensors: list[str] = Field(default_factory=list)
    rate_basis: Literal["gross", "net"] = "gross"
    observed_under: str | None = None


class Sensor(Sourced):
    """A data source that can put an act on record (cameras, ticketing, banks, courts...)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    p_urban: float = Field(ge=0, le=1)
    p_rural: float = Field(ge=0, le=1)
    fpir: float = Field(default=0.0, ge=0, le=1)
    probes_per_year: float = Field(default=0.0, ge=0, le=L.PROBES)
    female_multiplier: float = Field(default=1.0, ge=0, le=L.FEMALE_MULTIPLIER)
    errors_source: str | None = None

    @property
    def false_records_per_year(self) -> float:
        """False matches written on an innocent agent per person-year (male baseline)."""
        return self.fpir * self.probes_per_year


class Catalogue(Strict):
    """The behaviour catalogue: traits, acts and sensors (a validated TOML file)."""

    description: str = ""
    traits: list[Trait] = Field(default_factory=list, max_length=L.TRAITS)
    acts: list[Act] = Field(max_length=L.ACTS)
    sensors: list[Sensor] = Field(default_factory=list, max_length=L.SENSORS)

    @model_validator(mode="after")
    def _references(self):
        problems = []
        for kind, items in (("traits", self.traits), ("acts", self.acts), ("sensors", self.sensors)):
            seen = set()
            for item in items:
                if item.name in seen:
                    problems.append(f"{kind}: name {item.name!r} is used twice")
                seen.add(item.name)
        traits = {t.name for t in self.traits}
        sensors = {s.name for s in self.sensors}
        for i, act in enumerate(self.acts):
            if act.trait is not None and act.trait not in traits:
                problems.append(
                    f"acts[{i}].trait: {act.trait!r} is not a declared trait "
                    f"(known: {sorted(traits)})"
                )
            for j, s in enumerate(act.sensors):
                if s not in sensors:
                    problems.append(
                        f"acts[{i}].sensors[{j}]: {s!r} is not a declared sensor "
                        f"(known: {sorted(sensors)})"
                    )
        problems += net_rate_problems(self)
        problems += rate_problems(self)
        if problems:
            raise ValueError(" | ".join(problems))
        return self

    def act(self, name: str) -> Act:
        for a in self.acts:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def act_names(self) -> list[str]:
        return [a.name for a in self.acts]


def net_rate_problems(cat: Catalogue) -> list[str]:
    """A net rate names the shipped regime it was observed under and is always recorded."""
    p = []
    sensors = {s.name: s for s in cat.sensors}
    for i, act in enumerate(cat.acts):
        if act.rate_basis == "gross":
            if act.observed_under is not None:
                p.append(f"acts[{i}].observed_under: only a net rate (rate_basis = \"net\") is "
                         "observed under a regime")
            continue
        if act.observed_under not in shipped_regimes():
            p.append(f"acts[{i}].observed_under: {act.observed_under!r} must name the shipped "
                     f"regime the net flow was recorded under ({', '.join(shipped_regimes())})")
        certain = [s for s in act.sensors if s in sensors
                   and sensors[s].p_urban == 1.0 and sensors[s].p_rural == 1.0]
        if not certain:
            p.append(f"acts[{i}].rate_basis: a net rate needs a sensor that records every act "
                     f"(p_urban = p_rural = 1); {act.name!r} has {act.sensors}")
    return p


def rate_problems(cat: Catalogue) -> list[str]:
    """Event rates that would not stay finite: all of a subject's acts, and all false records of
    a person (women's multiplier applied), at most ``limits.RATE`` a year (one a day)."""
    p = []
    for subject in ("person", "firm"):
        total = sum(a.rate_per_year for a in cat.acts if a.subject == subject)
        if total > L.RATE:
            p.append(f"acts: the rate_per_year of the {subject} acts adds up to {total:g}; at most "
                     f"{L.RATE:g} (one act a day on average)")
    false = sum(s.false_records_per_year * max(1.0, s.female_multiplier) for s in cat.sensors)
    if false > L.RATE:
        p.append(f"sensors: fpir x probes_per_year x female_multiplier adds up to {false:g} false "
                 f"records per person-year; at most {L.RATE:g}")
    return p


def load_catalogue(ref: str | Path = "default", base: Path | None = None) -> Catalogue:
    """Load a shipped catalogue by name (``default``) or a catalogue file by path."""
    path = catalogue_path(ref, base)
    return validate(Catalogue, read_toml(path), str(path))


def catalogue_path(ref: str | Path, base: Path | None = None) -> Path:
    """The file of a shipped catalogue (by name) or of a catalogue path relative to ``base``."""
    return resolve(ref, base, "catalogue", "catalogue")
