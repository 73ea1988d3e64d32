"""The agents of one community, drawn from the plan: attributes, households, firms' legal
representatives.

Agents are indices, never people: every attribute is a counter-based draw keyed by the agent's
global index, so one community can be regenerated alone and community size never changes who
an agent is.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
from numba import njit, prange

from credsim import (
    jitcache,  # noqa: F401  (before any @njit: cache keyed by the package)
    rng,
)
from credsim.layout import FIRM_GROUP

if TYPE_CHECKING:  # pragma: no cover
    from credsim.population import Community


@njit(parallel=True, cache=True)
def synthesize(seed, person_offset, n_persons, firm_offset, n_firms, shares, trait_sigma,
               trait_stream, group, age, traits, panel_rate=0.0, panel=None):
    """Fill ``group`` (0-3 sex x place, 4 firm), ``age`` band (0 minor, 1 adult, 2 aged 60+;
    firms 1) and trait multipliers for a community; with ``panel`` (one per agent), also
    sample the anonymous panel: an agent's local index if drawn (rate ``panel_rate``, keyed by
    its global index), else -1."""
    n = n_persons + n_firms
    T = trait_sigma.shape[0]
    sample = panel is not None and panel.shape[0] > 0
    for i in prange(n):
        if i < n_persons:
            key = rng.agent_key(seed, person_offset + i)
            u_sex, u_age, u_place = rng.uniform3(key, rng.S_ATTR, 0)
            male = u_sex < shares[0]
            rural = u_place >= shares[3]
            group[i] = 2 * np.int8(male) + np.int8(rural)
            age[i] = 0 if u_age < shares[1] else (1 if u_age < shares[1] + shares[2] else 2)
        else:
            key = rng.agent_key(seed, firm_offset + (i - n_persons))
            group[i] = FIRM_GROUP
            age[i] = 1
        if sample:
            panel[i] = i if rng.uniform(key, rng.S_ATTR + 3, 0) < panel_rate else -1
        if age[i] == 0:
            for t in range(T):
                traits[i, t] = 1.0  # minors commit no act: no draw needed
            continue
        # each trait a lognormal multiplier exp(sigma z), z from the ziggurat on the trait's stream
        for t in range(T):
            z = rng.standard_normal(key, rng.S_TRAIT + trait_stream[t], 0)
            traits[i, t] = np.exp(np.float32(trait_sigma[t] * z))


def households(seed: int, c: Community, household_size: float, age: np.ndarray,
               out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None):
    """Households as contiguous runs of persons (sizes geometric with the census mean).

    Returns (hh_start, hh_of, elder): household boundaries, each person's household, and whether
    a person aged 18-59 lives with someone aged 60+ (the link 'neglecting elderly parents' needs).
    ``out`` may give the three arrays to fill (sizes persons + 1, persons, agents).
    """
    n = c.persons
    if out is None:
        out = (np.empty(n + 1, np.int64), np.empty(n, np.int32), np.empty(c.agents, np.bool_))
    hh_start, hh_of, elder = out
    starts = np.empty(n, np.bool_)
    _household_starts(seed, c.person_offset, 1.0 / max(household_size, 1.0), starts)
    nh = _household_links(starts, age, hh_start, hh_of, elder)
    return hh_start[: nh + 1], hh_of, elder


@njit(parallel=True, cache=True)
def _household_starts(seed, person_offset, p_start, starts):
    """Whether each person starts a new household (the first person always does)."""
    for i in prange(starts.shape[0]):
        u = rng.uniform(rng.agent_key(seed, person_offset + i), rng.S_ATTR + 4, 0)
        starts[i] = i == 0 or u < p_start


@njit(cache=True)
def _household_links(starts, age, hh_start, hh_of, elder):
    """Household boundaries and membership from the starts; elder flags. Returns the number of
    households."""
    n = starts.shape[0]
    h = -1
    for i in range(n):
        if starts[i]:
            h += 1
            hh_start[h] = i
        hh_of[i] = h
    nh = h + 1
    hh_start[nh] = n
    elder[:] = False
    for k in range(nh):
        old = False
        for m in range(hh_start[k], hh_start[k + 1]):
            if age[m] == 2:
                old = True
                break
        if old:
            for m in range(hh_start[k], hh_start[k + 1]):
                if age[m] == 1:
                    elder[m] = True
    return nh


TRIES = 8  # keyed tries to find an adult for a firm's role


def legal_representatives(seed: int, c: Community, age: np.ndarray, per_firm: int = 1):
    """Each firm's responsible persons: ``per_firm`` distinct adults of the community (a few
    keyed tries each), the first its legal representative (drawn as when a firm had one).

    Returns (rep, rf_start, rf): rep[f, j] the j-th responsible person of firm f (the legal
    representative again if no other adult was found); the firms person p is responsible for
    are rf[rf_start[p]:rf_start[p + 1]].
    """
    nf, n = c.firms, c.persons
    gids = np.arange(c.firm_offset, c.firm_offset + nf, dtype=np.int64)
    rep = np.zeros((nf, per_firm), np.int64)
    if n == 0:
        return rep, np.zeros(1, np.int64), np.zeros(0, np.int64)
    for j in range(per_firm):
        if j:
            rep[:, j] = rep[:, 0]
        left = np.arange(nf)  # firms without their j-th responsible person yet
        for k in range(TRIES):
            stream = rng.S_ATTR + 5 + k if j == 0 else rng.S_ATTR + 5 + TRIES * j + k
            cand = np.minimum((rng.uniforms(seed, gids[left], stream, 0) * n).astype(np.int64),
                              n - 1)
            ok = age[cand] > 0
            if j:
                ok &= ~(rep[left, :j] == cand[:, None]).any(axis=1)
            rep[left[ok], j] = cand[ok]
            left = left[~ok]
            if not len(left):
                break
    # the firms of each person, each once (a firm's fallback repeats are one link)
    person = rep.ravel()
    firm = np.repeat(np.arange(nf, dtype=np.int64), per_firm)
    pairs = np.unique(person * max(nf, 1) + firm)
    person, firm = pairs // max(nf, 1), pairs % max(nf, 1)
    rf_start = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(person, minlength=n), out=rf_start[1:])
    return rep, rf_start, firm.astype(np.int64)


class Populations:
    """A bounded cache of synthesized communities in this process, for sweeps: the points of
    one seed whose factors do not touch the population (seed, size, marginals, community
    size, traits, panel) draw the same agents, so all but the first copy them from here.

    Keyed on everything synthesis depends on, the seed first; off (``max_bytes`` 0) unless an
    experiment's run turns it on. Only the populations of the last ``SEEDS`` seeds are kept
    (tasks are seed-major: an earlier seed does not come back), so a long sweep of small runs
    does not fill the cache with seeds it is done with; least recently used entries go first
    once ``max_bytes`` is exceeded."""

    SEEDS = 2

    def __init__(self, max_bytes: int = 0):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, tuple[np.ndarray, ...]] = OrderedDict()
        self._bytes = 0
        self._seeds: list = []  # the most recent seeds put, newest last
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> tuple[np.ndarray, ...] | None:
        if not self.max_bytes:
            return None
        with self._lock:
            got = self._entries.get(key)
            if got is None:
                self.misses += 1
            else:
                self._entries.move_to_end(key)
                self.hits += 1
            return got

    def put(self, key: tuple, arrays: tuple[np.ndarray, ...]) -> None:
        """Keep copies of ``arrays`` (the caller's may be scratch memory, reused next)."""
        size = sum(a.nbytes for a in arrays)
        if not self.max_bytes or size > self.max_bytes:
            return
        kept = tuple(a.copy() for a in arrays)
        with self._lock:
            if key[0] not in self._seeds:
                self._seeds = [*self._seeds, key[0]][-self.SEEDS:]
                for k in [k for k in self._entries if k[0] not in self._seeds]:
                    self._bytes -= sum(a.nbytes for a in self._entries.pop(k))
            old = self._entries.pop(key, None)
            self._bytes -= sum(a.nbytes for a in old) if old else 0
            self._entries[key] = kept
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, gone = self._entries.popitem(last=False)
                self._bytes -= sum(a.nbytes for a in gone)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._seeds = []
            self.hits = self.misses = 0


POPULATIONS = Populations()  # this process's cache (off until a sweep's run turns it on)
