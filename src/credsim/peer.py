"""Peer ratings ("Nosedive"): agents rate the contacts they meet, weighted by their own rating.

The contact network costs nothing to store: contact ``s`` of agent ``i`` is a keyed hash of
(i, s) into the agent's community. Ratings update synchronously at epoch boundaries from the
ratings at the epoch's start, so the result never depends on the order agents are visited.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from credsim import (
    jitcache,  # noqa: F401  (before any @njit: cache keyed by the package)
    rng,
)
from credsim.atomic import fetch_add
from credsim.kernel import COUNT_FULL, _mark, _standing, _transition, on_threads

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


def peer_round(span, epoch, n_meet, peer, R, X, ms, agents, st, out) -> None:
    """One round of ratings among the persons of a community, applied on ``span.d0`` (the
    boundary after ``epoch``). ``peer`` = (contacts, memory, quality mean, quality sd, noise sd).
    Blocks of persons run on the kernel's threads (``kernel.on_threads``)."""
    rating = (epoch, n_meet) + tuple(peer)
    nt = out.diff.shape[0]
    work = (np.zeros(1, np.int64), st.score.copy(),  # the next block; the ratings as it starts
            np.empty((nt, max(n_meet, 1))), np.empty((nt, max(n_meet, 1))))  # raters, stars
    on_threads(_rate_blocks, nt, work, span, rating, R, X, ms, agents, st, out)


@njit(nogil=True, cache=True, _nrt=False)  # no reference counting: see kernel.run_blocks
def _rate_blocks(tid, work, span, rating, R, X, ms, agents, st, out):
    """One thread's blocks of a rating round (``work``: the block counter, the ratings as the
    round starts, each thread's scratch rows)."""
    epoch, n_meet, contacts, memory, quality_mean, quality_sd, noise_sd = rating
    counter, old, raters_all, stars_all = work
    raters = raters_all[tid]
    stars = stars_all[tid]
    day, n_persons = span.d0, span.n_persons
    sm = (np.uint64(X.restrict_mask), R.ticket_block, R.ticket_shape, R.ticket_any)  # _emit
    K = R.band_min.shape[0]
    od = max(day - span.burn, 0)
    block = (n_persons + span.n_blocks - 1) // span.n_blocks
    while True:
        b = fetch_add(counter, 0, 1)
        if b >= span.n_blocks:
            break
        for i in range(b * block, min(n_persons, (b + 1) * block)):
            if agents.age[i] == 0 or not R.covers_person:
                continue
            akey = rng.agent_key(span.seed, span.person_offset + i)
            m = 0
            for r in range(n_meet):
                slot = int(rng.uniform(akey, S_SLOT, epoch * PER_EPOCH + r) * contacts)
                j = int(rng.uniform(akey, S_CONTACT, slot) * n_persons)
                if j == i or agents.age[j] == 0:
                    continue
                raters[m] = old[j]
                stars[m] = _stars(akey, quality_mean, quality_sd, noise_sd, epoch * PER_EPOCH + r)
                m += 1
            new = peer_update(old[i], raters[:m], stars[:m], memory)
            new = min(max(new, R.score_min), R.score_max)
            if new == old[i]:
                continue
            rest = (st.lists[i], st.lfalse[i])
            sd0 = _standing(R, True, R.held[0], old[i], st.strue[i], rest[0], rest[1], st.spill[i])
            st.score[i] = new
            st.strue[i] = new
            st.due[i] = day
            sd1 = _standing(R, True, R.held[0], new, new, rest[0], rest[1], st.spill[i])
            _transition(out.diff, (tid, od, agents.group[i], akey, day >= span.burn), COUNT_FULL,
                        (sd0, np.int64(old[i])) + rest, (sd1, np.int64(new)) + rest, True, ms, sm)
            _mark(st.flags, i, K, sd1, st.spill[i], sm, sd0[1], day > span.burn)
