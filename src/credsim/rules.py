"""Rule application, shared by the engine and ``explain`` (one code path).

An agent's record lives in arrays indexed by agent ``i``, reached by name through ``st`` (a
``Record``, or the engine's ``State``, which has the same fields and more): ``score``, ``lists``
(bit mask), ``lexp``/``lrem`` (day a listing expires / is removed after performance), and ``rec``
(columns ``layout.REC_*``: last deduction day, its points, the worst offence class since the
points were last whole, next recovery stage, a pending reversal). ``R`` is the regime's
``RegimeTables`` (compile.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from credsim import (
    jitcache,  # noqa: F401  (before any @njit: cache keyed by the package)
    rng,
)
from credsim.layout import (
    ACC_CAP,
    ACC_CLASS,
    ACC_EXT,
    ACC_GAINED,
    ACC_LISTS,
    ACC_LOST,
    BIG,
    CAUSE_EXPIRY,
    CAUSE_RECOVERY,
    CAUSE_REMOVAL,
    CAUSE_REVERSAL,
    EXT_ACT,
    EXT_AGAIN,
    EXT_LISTING,
    NEVER,
    NO_SCORE,
    REC_CLS,
    REC_DAY,
    REC_PTS,
    REC_REV_DAY,
    REC_REV_LISTS,
    REC_REV_PTS,
    REC_STAGE,
)


class Record(NamedTuple):
    """The arrays the rules act on (``explain`` holds one agent's)."""

    score: np.ndarray  # int32[n]
    lists: np.ndarray  # uint16[n] bit mask
    lexp: np.ndarray  # int32[n, L] day each listing expires
    lrem: np.ndarray  # int32[n, L] day each listing is removed after performance
    rec: np.ndarray  # int32[n, W] (W = 0, 4 or 7: layout.REC_*)


@njit(forceinline=True, _nrt=False, cache=True)
def grade(R, score):
    """The grade of ``score`` (0 = best band), from the regime's table of every score: one way to
    grade, no band search."""
    k = score - R.score_min
    if k < 0:
        k = 0
    if k >= R.grade_lut.shape[0]:
        k = R.grade_lut.shape[0] - 1
    return np.int64(R.grade_lut[k])


@njit(forceinline=True, _nrt=False, cache=True)
def sanctions_of(R, g, lists):
    """The sanctions of grade ``g`` and of the lists in ``lists`` (a bit mask)."""
    s = R.grade_sanc[g]
    if lists:
        for l in range(R.list_sanc.shape[0]):
            if (lists >> l) & 1:
                s |= R.list_sanc[l]
    return s


@njit(forceinline=True, _nrt=False, cache=True)
def next_recovery(i, R, st):
    """(day, rule index) of the next recovery due, or (BIG, -1)."""
    rec = st.rec
    if rec.shape[1] <= REC_STAGE or rec[i, REC_DAY] == NEVER or st.score[i] >= R.score_init:
        return BIG, -1
    for r in range(rec[i, REC_STAGE], R.rec_after.shape[0]):
        if (rec[i, REC_PTS] <= R.rec_pts_max[r] and rec[i, REC_CLS] <= R.rec_cls_max[r]
                and rec[i, REC_CLS] >= R.rec_cls_min[r]):
            return rec[i, REC_DAY] + R.rec_after[r], r
    return BIG, -1


@njit(forceinline=True, _nrt=False, cache=True)
def next_timer(i, R, st):
    """Day of the agent's next timed event (reversal, listing end, removal, recovery), or BIG."""
    t = BIG
    if st.rec.shape[1] > REC_REV_DAY and st.rec[i, REC_REV_DAY] < t:
        t = st.rec[i, REC_REV_DAY]
    for l in range(st.lexp.shape[1]):
        if (st.lists[i] >> l) & 1:
            e = min(st.lexp[i, l], st.lrem[i, l])
            if e < t:
                t = e
    d, _ = next_recovery(i, R, st)
    return min(t, d)


@njit(forceinline=True, _nrt=False, cache=True)
def fire_timers(i, day, akey, randomize, R, st, causes):
    """Fire every timer due on ``day``. Writes (cause, index) pairs to ``causes``; returns count.
    A listing that runs out puts the agent on its ``then_list`` (``put_on_list``: ``akey`` and
    ``randomize`` as there)."""
    score, lists, lexp, lrem, rec = st.score, st.lists, st.lexp, st.lrem, st.rec
    nc = 0
    L = lexp.shape[1]
    if rec.shape[1] > REC_REV_DAY and rec[i, REC_REV_DAY] <= day:
        # appealed erroneous records are removed: their points come back, their listings lift
        score[i] = min(R.score_max, score[i] + rec[i, REC_REV_PTS])
        lift = rec[i, REC_REV_LISTS]
        for l in range(L):
            if (lift >> l) & 1 and (lists[i] >> l) & 1:
                lists[i] &= ~np.uint16(1 << l)
                lexp[i, l] = BIG
                lrem[i, l] = BIG
        rec[i, REC_REV_DAY] = BIG
        rec[i, REC_REV_PTS] = 0
        rec[i, REC_REV_LISTS] = 0
        if nc < causes.shape[0]:
            causes[nc, 0] = CAUSE_REVERSAL
            causes[nc, 1] = lift
            nc += 1
    for l in range(L):
        if (lists[i] >> l) & 1:
            if lrem[i, l] <= day or lexp[i, l] <= day:
                removed = lrem[i, l] <= lexp[i, l]
                lists[i] &= ~np.uint16(1 << l)
                lexp[i, l] = BIG
                lrem[i, l] = BIG
                if R.list_on_rem[l] != NO_SCORE:
                    score[i] = R.list_on_rem[l]
                if nc < causes.shape[0]:
                    causes[nc, 0] = CAUSE_REMOVAL if removed else CAUSE_EXPIRY
                    causes[nc, 1] = l
                    nc += 1
                nxt = R.list_then[l]
                if not removed and nxt >= 0:
                    put_on_list(i, nxt, day, akey, randomize,
                                extension_condition(i, nxt, False, R, st), R, st)
    while True:
        d, r = next_recovery(i, R, st)
        if r < 0 or d > day:
            break
        if R.rec_restore[r] < 0:
            target = R.score_init
        else:
            target = min(score[i] + R.rec_restore[r], R.score_init)
        if target > score[i]:
            score[i] = min(target, R.score_max)
        rec[i, REC_STAGE] = r + 1
        if nc < causes.shape[0]:
            causes[nc, 0] = CAUSE_RECOVERY
            causes[nc, 1] = r
            nc += 1
    return nc


@njit(forceinline=True, _nrt=False, cache=True)
def put_on_list(i, l, day, akey, randomize, cond, R, st):
    """List agent ``i`` on list ``l`` from ``day``. ``cond``: the list's extension condition is
    met (``extension_condition``). With ``randomize``, draw the extension (with the list's
    probability, a whole number of days in [min, max]) and the day of performance (removal) from
    the agent's counter-based streams. An agent listed again while listed keeps the later of
    its current end and a full period from ``day``, plus any extension (never shorter)."""
    ext = 0
    perf = BIG
    if randomize:
        if (cond and R.list_ext_p[l] > 0.0
                and rng.uniform(akey, rng.S_EXTEND + l, day) < R.list_ext_p[l]):
            span = R.list_ext_max[l] - R.list_ext_min[l] + 1
            ext = R.list_ext_min[l] + int(rng.uniform(akey, rng.S_EXTEND + l, day + 100000) * span)
        if R.list_rem_rate[l] > 0.0:
            w = rng.exponential(akey, rng.S_REMOVE + l, day, R.list_rem_rate[l])
            if w < 1e8:
                perf = day + 1 + int(w) + R.list_rem_delay[l]
    end = day + R.list_dur[l]
    bit = np.uint16(1 << l)
    if st.lists[i] & bit:
        st.lexp[i, l] = max(st.lexp[i, l], end) + ext
    else:
        st.lists[i] |= bit
        st.lexp[i, l] = end + ext
        if R.list_early[l] > 0:
            perf = min(perf, day + R.list_early[l])
        st.lrem[i, l] = perf
    for m in range(R.list_void.shape[0]):  # an incident: listings it concerns run their course
        if (R.list_void[m] >> l) & 1 and (st.lists[i] >> m) & 1:
            st.lrem[i, m] = BIG


@njit(forceinline=True, _nrt=False, cache=True)
def extension_condition(i, l, aggravated, R, st):
    """Whether listing agent ``i`` on list ``l`` now meets the list's extension condition: any
    listing, a listing of an agent already listed (multiple acts), or an aggravating act."""
    when = R.list_ext_when[l]
    return ((when & EXT_LISTING) != 0
            or ((when & EXT_AGAIN) != 0 and (st.lists[i] >> l) & 1 != 0)
            or ((when & EXT_ACT) != 0 and aggravated))


@njit(forceinline=True, _nrt=False, cache=True)
def perform(i, l, day, R, st):
    """The listed agent performs (repays, regularises) on ``day``: removal after the delay."""
    if (st.lists[i] >> l) & 1:
        st.lrem[i, l] = min(st.lrem[i, l], day + R.list_rem_delay[l])


@njit(forceinline=True, _nrt=False, cache=True)
def reset_day(acc):
    acc[ACC_GAINED] = 0
    acc[ACC_LOST] = 0
    acc[ACC_LISTS] = 0
    acc[ACC_CAP] = BIG
    acc[ACC_CLASS] = 0
    acc[ACC_EXT] = 0


@njit(forceinline=True, _nrt=False, cache=True)
def add_act(acc, a, R):
    """Add one recorded act's rule to the day's accumulator."""
    p = R.act_points[a]
    if p > 0:
        acc[ACC_GAINED] += p
    elif p < 0:
        acc[ACC_LOST] += p
        if R.act_class[a] > acc[ACC_CLASS]:
            acc[ACC_CLASS] = R.act_class[a]
    acc[ACC_LISTS] |= R.act_lists[a]
    acc[ACC_EXT] |= R.act_ext[a]
    if R.act_cap[a] < acc[ACC_CAP]:
        acc[ACC_CAP] = R.act_cap[a]


@njit(forceinline=True, _nrt=False, cache=True)
def day_changes(acc):
    return acc[ACC_GAINED] != 0 or acc[ACC_LOST] != 0 or acc[ACC_LISTS] != 0 or acc[ACC_CAP] < BIG


@njit(forceinline=True, _nrt=False, cache=True)
def close_day(i, day, acc, akey, randomize, R, st):
    """Apply the day's accumulated recorded acts to agent ``i``: points gained (>= 0) and lost
    (<= 0), lists to join, the lowest score cap and the highest offence class of deductions.
    The record keeps the worst class since the points were last whole (Code de la route
    L223-6: the longer wait applies if ANY offence since then was of a higher class)."""
    lost = acc[ACC_LOST]
    whole = st.score[i] >= R.score_init
    s = shift_score(st.score[i], acc[ACC_GAINED], lost, acc[ACC_CAP], R)
    st.score[i] = s
    rec = st.rec
    if lost < 0 and rec.shape[1] > REC_STAGE:  # the record of deductions: recoveries need it
        if whole or rec[i, REC_DAY] == NEVER or acc[ACC_CLASS] > rec[i, REC_CLS]:
            rec[i, REC_CLS] = acc[ACC_CLASS]
        rec[i, REC_DAY] = day
        rec[i, REC_PTS] = -lost
        rec[i, REC_STAGE] = 0
    listmask = acc[ACC_LISTS]
    if listmask:
        for l in range(st.lexp.shape[1]):
            if (listmask >> l) & 1:
                cond = extension_condition(i, l, (acc[ACC_EXT] >> l) & 1 != 0, R, st)
                put_on_list(i, l, day, akey, randomize, cond, R, st)
    for t in range(R.thr_list.shape[0]):
        l = R.thr_list[t]
        if s <= R.thr_at_most[t] and not (st.lists[i] >> l) & 1:
            put_on_list(i, l, day, akey, randomize, extension_condition(i, l, False, R, st), R, st)


@njit(forceinline=True, _nrt=False, cache=True)
def shift_score(s, gained, lost, cap, R):
    """A score after one day's points, with the regime's daily cap, grade cap and bounds."""
    if R.max_ded > 0 and -lost > R.max_ded:
        lost = -R.max_ded
    s = s + gained + lost
    if cap < BIG and s > cap:
        s = cap
    if s < R.score_min:
        s = R.score_min
    if s > R.score_max:
        s = R.score_max
    return s


@njit(forceinline=True, _nrt=False, cache=True)
def threshold_lists(s, R):
    """Lists whose score threshold ``s`` meets."""
    m = 0
    for t in range(R.thr_list.shape[0]):
        if s <= R.thr_at_most[t]:
            m |= 1 << R.thr_list[t]
    return m
