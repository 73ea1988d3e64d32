"""The acts people and firms commit, with base rates and heterogeneity, whatever regime scores them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from credsim.config import Strict, read_toml, validate
from credsim.data import data_path
from credsim.errors import ConfigError
from credsim.provenance import Sourced

Subject = Literal["person", "firm"]
ActKind = Literal["good_deed", "incivility", "fault", "speech", "traffic", "financial", "judicial", "firm"]


class Trait(Sourced):
    """A per-agent propensity multiplier ~ LogNormal(0, sigma), shared by the acts that name it."""

    name: str
    sigma: float = Field(ge=0, le=5)


class Act(Sourced):
    """One kind of act. Each agent commits it as a Poisson process of ``rate_per_year x
    multiplier`` a year (the multiplier from the act's trait), resolved to days."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    kind: ActKind
    subject: Subject = "person"
    rate_per_year: float = Field(ge=0, le=365)
    trait: str | None = None
    lawful: bool = False
    needs: Literal["elderly_parent"] | None = None
    sensors: list[str] = Field(default_factory=list)


class Sensor(Sourced):
    """A data source that can put an act on record (cameras, ticketing, banks, courts...)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    p_urban: float = Field(ge=0, le=1)
    p_rural: float = Field(ge=0, le=1)
    fpir: float = Field(default=0.0, ge=0, le=1)
    probes_per_year: float = Field(default=0.0, ge=0)
    female_multiplier: float = Field(default=1.0, ge=0)
    errors_source: str | None = None

    @property
    def false_records_per_year(self) -> float:
        """False matches written on an innocent agent per person-year (male baseline)."""
        return self.fpir * self.probes_per_year


class Catalogue(Strict):
    """The behaviour catalogue: traits, acts and sensors (a validated TOML file)."""

    description: str = ""
    traits: list[Trait] = Field(default_factory=list)
    acts: list[Act]
    sensors: list[Sensor] = Field(default_factory=list)

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
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def act(self, name: str) -> Act:
        for a in self.acts:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def act_names(self) -> list[str]:
        return [a.name for a in self.acts]


def load_catalogue(ref: str | Path = "default", base: Path | None = None) -> Catalogue:
    """Load a shipped catalogue by name (``default``) or a catalogue file by path."""
    path = catalogue_path(ref, base)
    return validate(Catalogue, read_toml(path), str(path))


def catalogue_path(ref: str | Path, base: Path | None = None) -> Path:
    """The file of a shipped catalogue (by name) or of a catalogue path relative to ``base``."""
    ref_s = str(ref)
    if ref_s.endswith(".toml"):
        p = Path(ref_s)
        if not p.is_absolute() and base is not None:
            p = base / p
        return p
    p = data_path("catalogue", f"{ref_s}.toml")
    if not p.exists():
        raise ConfigError(ref_s, ["no shipped catalogue of that name (shipped: default)"])
    return p
