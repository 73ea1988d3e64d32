"""The agents of one community, drawn from the plan: attributes, households, firms' legal
representatives.

Agents are indices, never people: every attribute is a counter-based draw keyed by the agent's
global index, so one community can be regenerated alone and community size never changes who
an agent is.
"""

from __future__ import annotations

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
