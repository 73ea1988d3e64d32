"""Peer ratings ("Nosedive"): agents rate the contacts they meet, weighted by their own rating.

The contact network costs nothing to store: contact ``s`` of agent ``i`` is a keyed hash of
(i, s) into the agent's community. Ratings update synchronously at epoch boundaries from the
ratings at the epoch's start, so the result never depends on the order agents are visited.
"""

from __future__ import annotations

import numpy as np
from numba import get_thread_id, njit, prange

from credsim import (
    jitcache,  # noqa: F401  (before any @njit: cache keyed by the package)
    rng,
)
from credsim.kernel import _emit, _state
from credsim.layout import F_LEFT_LOWEST, F_LOWEST, F_RESTRICTED

S_CONTACT = 900  # which agent fills a contact slot
S_QUALITY = 901  # the stars an agent earns on average
S_STARS = 902  # the noise of one rating
S_SLOT = 903  # which contact slot one meeting uses
PER_EPOCH = 1_000_000  # counter space of one epoch's meetings


@njit(cache=True)
def peer_update(old, rater_ratings, stars, memory):
    """New rating (x100) after ratings ``stars`` (1-5) from raters whose own ratings (x100) are
    ``rater_ratings``: a weighted mean of the old rating (weight ``memory``) and the stars, each
    star weighted by its rater's rating / 500."""
    num = old * memory
    den = memory
    for k in range(stars.shape[0]):
        w = rater_ratings[k] / 500.0
        num += w * stars[k] * 100.0
        den += w
    return int(np.rint(num / den))


@njit(cache=True)
def _stars(akey, quality_mean, quality_sd, noise_sd, counter):
    q = quality_mean + quality_sd * rng.normal(akey, S_QUALITY, 0)
    s = np.rint(q + noise_sd * rng.normal(akey, S_STARS, counter))
    return min(5.0, max(1.0, s))


@njit(parallel=True, cache=True)
def peer_round(seed, epoch, day, burn, n_persons, person_offset, n_meet, contacts, memory,
               quality_mean, quality_sd, noise_sd, score_min, score_max, band_min, grade_sanc,
               list_sanc, covers_person, group, age, score, strue, lists, lfalse, spill, due, flags,
               diff, S, L, n_blocks, restrict_mask):
    """One round of ratings among the persons of a community, applied on ``day``."""
    old = score.copy()
    restrict = np.uint64(restrict_mask)
    K = band_min.shape[0]
    od = max(day - burn, 0)
    block = (n_persons + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        tid = get_thread_id()
        raters = np.empty(max(n_meet, 1))
        stars = np.empty(max(n_meet, 1))
        for i in range(b * block, min(n_persons, (b + 1) * block)):
            if age[i] == 0 or not covers_person:
                continue
            akey = rng.agent_key(seed, person_offset + i)
            m = 0
            for r in range(n_meet):
                slot = int(rng.uniform(akey, S_SLOT, epoch * PER_EPOCH + r) * contacts)
                j = int(rng.uniform(akey, S_CONTACT, slot) * n_persons)
                if j == i or age[j] == 0:
                    continue
                raters[m] = old[j]
                stars[m] = _stars(akey, quality_mean, quality_sd, noise_sd, epoch * PER_EPOCH + r)
                m += 1
            new = peer_update(old[i], raters[:m], stars[:m], memory)
            new = min(max(new, score_min), score_max)
            if new == old[i]:
                continue
            g0, sc0, fs0, sp0 = _state(True, old[i], strue[i], lists[i], lfalse[i], spill[i], K,
                                       band_min, grade_sanc, list_sanc)
            score[i] = new
            strue[i] = new
            due[i] = day
            g1, sc1, fs1, sp1 = _state(True, new, new, lists[i], lfalse[i], spill[i], K,
                                       band_min, grade_sanc, list_sanc)
            _emit(diff, tid, od, group[i], g0, old[i], lists[i], sc0, fs0, lfalse[i], sp0, -1,
                  True, S, L, restrict)
            _emit(diff, tid, od, group[i], g1, new, lists[i], sc1, fs1, lfalse[i], sp1, 1, True,
                  S, L, restrict)
            if sc1 & restrict:
                flags[i] |= F_RESTRICTED
            if g1 == K - 1:
                flags[i] |= F_LOWEST
            elif flags[i] & F_LOWEST:
                flags[i] |= F_LEFT_LOWEST
