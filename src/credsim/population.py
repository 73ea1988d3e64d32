"""Synthetic populations from census marginals, cut into communities (the shards of a run).
The agents of a community are drawn by ``synthesis``.

Agents are indices, never people: every attribute is a counter-based draw keyed by the agent's
global index, so one community can be regenerated alone and community size never changes who
an agent is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from credsim.marginals import Marginals

FIRM_ID_BASE = 1 << 40  # firms' global indices start here, persons' at 0

AGE_BANDS = ["0-17", "18-59", "60+"]


@dataclass(frozen=True)
class Community:
    """A shard: persons and firms of one province, with all their links inside it."""

    index: int
    province: int
    persons: int
    firms: int
    person_offset: int
    firm_offset: int

    @property
    def agents(self) -> int:
        return self.persons + self.firms


@dataclass(frozen=True)
class PopulationPlan:
    provinces: list[str]
    regions: list[str]  # region of each province
    communities: list[Community]
    scale: float  # simulated persons / persons of the provinces simulated
    shares: np.ndarray  # male, minors, adults (18-59), urban

    @property
    def persons(self) -> int:
        return sum(c.persons for c in self.communities)

    @property
    def firms(self) -> int:
        return sum(c.firms for c in self.communities)


def plan_population(
    m: Marginals,
    *,
    scale: float | None,
    persons: int | None,
    community_size: int,
    provinces: list[str] | None = None,
    firms: bool = True,
) -> PopulationPlan:
    """Cut the (scaled) population into communities. Fixed by the scenario, never by workers."""
    table = m.province_table
    chosen = [(n, p, r) for n, p, r in table if not provinces or n in provinces]
    pops = np.array([p for _, p, _ in chosen], dtype=np.float64)
    if persons is None:
        assert scale is not None
        target = pops * scale
    else:
        target = pops / pops.sum() * persons
    counts = np.floor(target).astype(np.int64)
    # largest remainder, so the total is exact
    total = int(round(target.sum()))
    rem = total - counts.sum()
    if rem > 0:
        order = np.argsort(-(target - counts), kind="stable")
        counts[order[:rem]] += 1
    comms: list[Community] = []
    poff = 0
    foff = 0
    fpp = m.firms_per_person.value if firms else 0.0
    all_names = [n for n, _, _ in table]
    for (name, _, _), n in zip(chosen, counts, strict=True):
        k = max(1, math.ceil(n / community_size))
        sizes = [n // k + (1 if j < n % k else 0) for j in range(k)]
        for size in sizes:
            nf = int(round(size * fpp))
            comms.append(
                Community(len(comms), all_names.index(name), int(size), nf, poff, FIRM_ID_BASE + foff)
            )
            poff += size
            foff += nf
    sim_persons = int(counts.sum())
    shares = np.array(
        [
            m.male_share.value,
            m.age_shares.minors,
            m.age_shares.adults,
            m.urban_share.value,
        ]
    )
    return PopulationPlan(
        provinces=all_names,
        regions=[r for _, _, r in table],
        communities=comms,
        scale=sim_persons / float(pops.sum()),
        shares=shares,
    )
