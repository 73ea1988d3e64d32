"""Run one community: synthesize its agents, run its epochs, return its aggregates.

A community's result depends only on the scenario, the seed and the community: never on the
thread count, the worker or the executor (integer aggregates, counter-based randomness).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from credsim import rng
from credsim.compile import GROUPS, BehaviourTables, RegimeTables
from credsim.kernel import PANEL_COLS, run_epoch, thread_count
from credsim.population import Community, synthesize

N_BLOCKS = 64  # work units per community: fixed, so results never depend on threads


@dataclass(frozen=True)
class EngineSpec:
    """Everything a worker needs to run any community of a scenario (picklable)."""

    seed: int
    days: int
    burn_in: int
    epoch_days: int
    coupled: bool
    shares: np.ndarray
    regime: RegimeTables
    behaviour: BehaviourTables
    n_sanctions: int
    n_lists: int
    n_grades: int  # bands; index n_grades = unscored
    panel_rate: float
    panel_cap: int


@dataclass
class CommunityResult:
    """Aggregates of one community. ``diff`` is a difference array over days (prefix-sum it)."""

    index: int
    province: int
    persons: int
    firms: int
    diff: np.ndarray  # int64[days+1, groups, grades+1, 2+S+L]
    acts_day: np.ndarray  # int64[days, groups, acts, 2] (true, recorded)
    acts_grade: np.ndarray  # int64[days, groups, grades+1, 2]
    score_hist: np.ndarray  # int64[score_max-score_min+1] final scores of scored agents
    panel: np.ndarray  # int64[rows, 9] with global agent index in column 0
    events: int

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "meta": np.array([self.index, self.province, self.persons, self.firms, self.events]),
            "diff": self.diff,
            "acts_day": self.acts_day,
            "acts_grade": self.acts_grade,
            "score_hist": self.score_hist,
            "panel": self.panel,
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> CommunityResult:
        m = a["meta"]
        return cls(int(m[0]), int(m[1]), int(m[2]), int(m[3]), a["diff"], a["acts_day"],
                   a["acts_grade"], a["score_hist"], a["panel"], int(m[4]))


def run_community(spec: EngineSpec, c: Community) -> CommunityResult:
    n = c.agents
    R = spec.regime
    B = spec.behaviour
    T = B.trait_sigma.shape[0]
    L = spec.n_lists
    A = B.p_detect.shape[0]
    K1 = spec.n_grades + 1
    M = 2 + spec.n_sanctions + L
    G = len(GROUPS)
    nt = thread_count()

    group = np.empty(n, np.int8)
    adult = np.empty(n, np.bool_)
    traits = np.empty((n, max(T, 1)), np.float32)
    synthesize(spec.seed, c.person_offset, c.persons, c.firm_offset, c.firms, spec.shares,
               B.trait_sigma, group, adult, traits)
    panel = _panel_ids(spec, c)

    score = np.empty(n, np.int32)
    lists = np.zeros(n, np.uint16)
    lexp = np.empty((n, L), np.int32)
    lrem = np.empty((n, L), np.int32)
    rec = np.empty((n, 4), np.int32)
    next_t = np.empty(n, np.float64)
    nev = np.zeros(n, np.int32)

    diff = np.zeros((nt, spec.days + 1, G, K1, M), np.int64)
    acts_day = np.zeros((nt, spec.days, G, A, 2), np.int32)
    acts_grade = np.zeros((nt, spec.days, G, K1, 2), np.int32)
    n_panel = int((panel >= 0).sum())
    cap = max(16, min(spec.panel_cap, 64 * n_panel + 16))
    pbuf = np.zeros((nt, cap if n_panel else 1, PANEL_COLS), np.int64)
    pn = np.zeros(nt, np.int64)

    total = spec.burn_in + spec.days
    step = spec.epoch_days if spec.coupled else total
    for d0 in range(0, total, step):
        d1 = min(total, d0 + step)
        run_epoch(spec.seed, c.persons, c.person_offset, c.firm_offset, d0, d1, spec.burn_in,
                  spec.days, N_BLOCKS, *R.as_tuple(), *B.as_tuple(), group, adult, traits, panel,
                  score, lists, lexp, lrem, rec, next_t, nev, diff, acts_day, acts_grade, pbuf, pn)

    covered = adult & np.where(group == 4, R.covers_firm, R.covers_person)
    hist = np.bincount((score[covered] - R.score_min).astype(np.int64),
                       minlength=R.score_max - R.score_min + 1).astype(np.int64)
    rows = [pbuf[t, : min(pn[t], pbuf.shape[1])] for t in range(nt)]
    prow = np.concatenate(rows) if rows else np.zeros((0, PANEL_COLS), np.int64)
    if len(prow):
        local = prow[:, 0]
        prow = prow[np.argsort(local, kind="stable")]
        loc = prow[:, 0]
        prow[:, 0] = np.where(loc < c.persons, c.person_offset + loc,
                              c.firm_offset + (loc - c.persons))
    return CommunityResult(
        index=c.index,
        province=c.province,
        persons=c.persons,
        firms=c.firms,
        diff=diff.sum(axis=0),
        acts_day=acts_day.sum(axis=0, dtype=np.int64),
        acts_grade=acts_grade.sum(axis=0, dtype=np.int64),
        score_hist=hist,
        panel=prow,
        events=int(nev.sum()),
    )


def _panel_ids(spec: EngineSpec, c: Community) -> np.ndarray:
    """Local index of each sampled panel agent (>= 0), -1 for the rest. Keyed by global index."""
    panel = np.full(c.agents, -1, np.int32)
    if spec.panel_rate <= 0:
        return panel
    gids = np.concatenate([
        np.arange(c.person_offset, c.person_offset + c.persons, dtype=np.int64),
        np.arange(c.firm_offset, c.firm_offset + c.firms, dtype=np.int64),
    ])
    u = rng.uniforms(spec.seed, gids, rng.S_ATTR + 3, 0)
    sel = np.nonzero(u < spec.panel_rate)[0]
    panel[sel] = sel
    return panel
