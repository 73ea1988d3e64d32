"""Aggregate population statistics (census marginals) that synthetic populations are drawn from."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from credsim import limits as L
from credsim.config import Strict, read_toml, shorten, validate
from credsim.provenance import Sourced
from credsim.refs import resolve


class Figure(Sourced):
    value: float


class AgeShares(Sourced):
    minors: float = Field(ge=0, le=1)
    adults: float = Field(ge=0, le=1)
    older: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self):
        total = self.minors + self.adults + self.older
        if abs(total - 1) > 1e-3:
            raise ValueError(f"age_shares: minors + adults + older = {total:.4f}, expected 1")
        return self


FIGURES = {  # key: (lowest, highest, why) -- see docs/reference.md, "Bounds"
    "total": (1, L.PERSONS, "persons"),
    "male_share": (0.0, 1.0, "a share"),
    "urban_share": (0.0, 1.0, "a share"),
    "household_size": (1.0, 20.0, "persons per household"),
    "firms_per_person": (0.0, 1.0, "firms per person (China: 0.034)"),
}


class Marginals(Strict):
    description: str = ""
    total: Figure
    male_share: Figure
    urban_share: Figure
    age_shares: AgeShares
    household_size: Figure
    firms_per_person: Figure
    provinces: dict[str, list[int | str] | str] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _bounds(self):
        problems = []
        for key, (lo, hi, what) in FIGURES.items():
            v = getattr(self, key).value
            if not lo <= v <= hi:
                problems.append(f"{key}.value: {v!r} is outside [{lo:g}, {hi:g}] ({what})")
        for name, v in self.provinces.items():
            if name == "source":
                continue
            if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], int)
                    and isinstance(v[1], str)):
                problems.append(f"provinces.{name}: {shorten(repr(v))} should be [population, region]")
            elif not 0 <= v[0] <= L.PERSONS:
                problems.append(f"provinces.{name}[0]: {v[0]} persons is outside [0, {L.PERSONS:,}]")
        pops = [v[0] for n, v in self.provinces.items() if n != "source" and isinstance(v, list)
                and v and isinstance(v[0], int)]
        if not problems and not 0 < sum(pops) <= L.PERSONS:
            problems.append(f"provinces: the populations add up to {sum(pops):,}; expected 1 to "
                            f"{L.PERSONS:,}")
        if problems:
            raise ValueError(" | ".join(problems))
        return self

    @property
    def province_table(self) -> list[tuple[str, int, str]]:
        """(name, population, region) for every province, in file order."""
        out = []
        for name, v in self.provinces.items():
            if name == "source":
                continue
            out.append((name, int(v[0]), str(v[1])))
        return out

    @property
    def regions(self) -> list[str]:
        seen: list[str] = []
        for _, _, r in self.province_table:
            if r not in seen:
                seen.append(r)
        return seen


def load_marginals(ref: str | Path = "china-2020", base: Path | None = None) -> Marginals:
    path = resolve(ref, base, "marginals", "marginals")
    return validate(Marginals, read_toml(path), str(path))
