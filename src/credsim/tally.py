"""The end of a community's run: final scores and the harm table, in one parallel pass."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from credsim import jitcache  # noqa: F401  (before any @njit: cache keyed by the package)
from credsim.layout import (
    F_FALSE_RESTRICTED,
    F_LEFT_LOWEST,
    F_LOWEST,
    F_RESTRICTED,
    F_SPILL,
    F_TRAVEL,
    FIRM_GROUP,
)
from credsim.rules import grade, sanctions_of

TALLY_BLOCKS = 8  # fixed blocks: integer sums in a fixed order, the same on any thread count


@njit(parallel=True, cache=True)
def tally(group, age, flags, nbad, score, nev, R, lists, spill, hist, out):
    """One pass over a finished community: the final scores of scored agents (``hist``), and per
    group and true-behaviour bucket how many agents were ever restricted, falsely restricted,
    reached the lowest grade, left it, were sanctioned through a link, or were under a
    ticket-blocking sanction on a counted day (persons: flagged when such a sanction ended after
    the first counted day, or in force at the end; ``out``). Returns the number of events.
    Fixed blocks, each with its own counts, summed in order: integer sums, the same on any
    number of threads."""
    covers_person, covers_firm, score_min = R.covers_person, R.covers_firm, R.score_min
    travel = np.uint64(0)
    for k in range(R.ticket_block.shape[0]):
        travel |= R.ticket_block[k]
    n = group.shape[0]
    nb = TALLY_BLOCKS
    block = (n + nb - 1) // nb
    hists = np.zeros((nb, hist.shape[0]), np.int64)
    outs = np.zeros((nb,) + out.shape, np.int64)
    evs = np.zeros(nb, np.int64)
    for b in prange(nb):
        bits = (F_RESTRICTED, F_FALSE_RESTRICTED, F_LOWEST, F_LEFT_LOWEST, F_SPILL)
        events = 0
        for i in range(b * block, min(n, (b + 1) * block)):
            events += nev[i]
            f = flags[i]
            if age[i] == 0:
                # children (unscored) sanctioned through their household: the spill column
                if f & F_SPILL:
                    outs[b, group[i], 0, 5] += 1
                continue
            if (covers_firm and group[i] == FIRM_GROUP) or (covers_person and group[i] != FIRM_GROUP):
                hists[b, score[i] - score_min] += 1
            k = min(nbad[i], 2)
            outs[b, group[i], k, 0] += 1
            for j in range(5):
                if f & bits[j]:
                    outs[b, group[i], k, j + 1] += 1
            if travel and group[i] != FIRM_GROUP:
                held = spill[i]
                if covers_person:
                    held |= sanctions_of(R, grade(R, score[i]), lists[i])
                if (f & F_TRAVEL) or (held & travel):
                    outs[b, group[i], k, 6] += 1
        evs[b] = events
    for b in range(nb):
        hist += hists[b]
        out += outs[b]
    return evs.sum()
