"""Aggregate population statistics (census marginals) that synthetic populations are drawn from."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from credsim.config import Strict, read_toml, validate
from credsim.data import data_path
from credsim.errors import ConfigError
from credsim.provenance import Sourced


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


class Marginals(Strict):
    description: str = ""
    total: Figure
    male_share: Figure
    urban_share: Figure
    age_shares: AgeShares
    household_size: Figure
    firms_per_person: Figure
    provinces: dict[str, list[int | str] | str]

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
    ref_s = str(ref)
    if ref_s.endswith(".toml"):
        path = Path(ref_s)
        if base is not None and not path.is_absolute():
            path = base / path
    else:
        path = data_path("marginals", f"{ref_s}.toml")
        if not path.exists():
            raise ConfigError(ref_s, ["no shipped marginals of that name (shipped: china-2020)"])
    m = validate(Marginals, read_toml(path), str(path))
    problems = []
    for name, v in m.provinces.items():
        if name == "source":
            continue
        if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and isinstance(v[1], str)):
            problems.append(f"provinces.{name}: {v!r} should be [population, region]")
    if problems:
        raise ConfigError(str(path), problems)
    return m
