"""Rule application, shared by the engine and ``explain`` (one code path).

Agent state lives in arrays indexed by agent ``i``:
``score``, ``lists`` (bit mask), ``lexp``/``lrem`` (day a listing expires / is removed after
performance), and ``rec`` = [last deduction day, its points, its class, next recovery stage].
``R`` is a ``RegimeTables`` tuple (see compile.py); its fields are unpacked by position.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from credsim import (
    jitcache,  # noqa: F401  (before any @njit: cache keyed by the package)
    rng,
)
from credsim.layout import (
    ACC_CAP,
    ACC_CLASS,
    ACC_GAINED,
    ACC_LISTS,
    ACC_LOST,
    BIG,
    CAUSE_EXPIRY,
    CAUSE_RECOVERY,
    CAUSE_REMOVAL,
    CAUSE_REVERSAL,
    NEVER,
    REC_CLS,
    REC_DAY,
    REC_PTS,
    REC_REV_DAY,
    REC_REV_LISTS,
    REC_REV_PTS,
    REC_STAGE,
)


@njit(inline="always", cache=True)
def grade_of(score, band_min):
    K = band_min.shape[0]
    for k in range(K):
        if score >= band_min[k]:
            return k
    return K - 1


@njit(inline="always", cache=True)
def sanctions_of(grade, lists, grade_sanc, list_sanc):
    s = grade_sanc[grade]
    if lists:
        for l in range(list_sanc.shape[0]):
            if (lists >> l) & 1:
                s |= list_sanc[l]
    return s


@njit(inline="always", cache=True)
def next_recovery(rec, i, score, score_init, rec_after, rec_pts_max, rec_cls_max, rec_cls_min):
    """(day, rule index) of the next recovery due, or (BIG, -1)."""
    if rec.shape[1] <= REC_STAGE or rec[i, REC_DAY] == NEVER or score >= score_init:
        return BIG, -1
    for r in range(rec[i, REC_STAGE], rec_after.shape[0]):
        if (rec[i, REC_PTS] <= rec_pts_max[r] and rec[i, REC_CLS] <= rec_cls_max[r]
                and rec[i, REC_CLS] >= rec_cls_min[r]):
            return rec[i, REC_DAY] + rec_after[r], r
    return BIG, -1


@njit(inline="always", cache=True)
def next_timer(i, score, lists, lexp, lrem, rec, score_init, rec_after, rec_pts_max,
               rec_cls_max, rec_cls_min):
    """Day of the agent's next timed event (listing end, removal, recovery), or BIG."""
    t = BIG
    if rec.shape[1] > REC_REV_DAY and rec[i, REC_REV_DAY] < t:
        t = rec[i, REC_REV_DAY]
    L = lexp.shape[1]
    for l in range(L):
        if (lists[i] >> l) & 1:
            e = min(lexp[i, l], lrem[i, l])
            if e < t:
                t = e
    d, _ = next_recovery(rec, i, score[i], score_init, rec_after, rec_pts_max, rec_cls_max,
                         rec_cls_min)
    return min(t, d)


@njit(inline="always", cache=True)
def fire_timers(i, day, score, lists, lexp, lrem, rec, score_init, score_max, list_on_rem,
                rec_after, rec_restore, rec_pts_max, rec_cls_max, rec_cls_min, causes):
    """Fire every timer due on ``day``. Writes (cause, index) pairs to ``causes``; returns count."""
    nc = 0
    L = lexp.shape[1]
    if rec.shape[1] > REC_REV_DAY and rec[i, REC_REV_DAY] <= day:
        # appealed erroneous records are removed: their points come back, their listings lift
        score[i] = min(score_max, score[i] + rec[i, REC_REV_PTS])
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
                if list_on_rem[l] != -(2**31):
                    score[i] = list_on_rem[l]
                if nc < causes.shape[0]:
                    causes[nc, 0] = CAUSE_REMOVAL if removed else CAUSE_EXPIRY
                    causes[nc, 1] = l
                    nc += 1
    while True:
        d, r = next_recovery(rec, i, score[i], score_init, rec_after, rec_pts_max, rec_cls_max,
                             rec_cls_min)
        if r < 0 or d > day:
            break
        if rec_restore[r] < 0:
            target = score_init
        else:
            target = min(score[i] + rec_restore[r], score_init)
        if target > score[i]:
            score[i] = min(target, score_max)
        rec[i, REC_STAGE] = r + 1
        if nc < causes.shape[0]:
            causes[nc, 0] = CAUSE_RECOVERY
            causes[nc, 1] = r
            nc += 1
    return nc


@njit(inline="always", cache=True)
def put_on_list(i, l, day, akey, randomize, lists, lexp, lrem, list_dur, list_ext_p, list_ext_min,
                list_ext_max, list_rem_rate, list_rem_delay):
    """List agent ``i`` on list ``l`` from ``day``. With ``randomize``, draw the aggravation
    extension and the day of performance (removal) from the agent's counter-based streams."""
    ext = 0
    perf = BIG
    if randomize:
        if list_ext_p[l] > 0.0 and rng.uniform(akey, rng.S_EXTEND + l, day) < list_ext_p[l]:
            span = list_ext_max[l] - list_ext_min[l] + 1
            ext = list_ext_min[l] + int(rng.uniform(akey, rng.S_EXTEND + l, day + 100000) * span)
        if list_rem_rate[l] > 0.0:
            w = rng.exponential(akey, rng.S_REMOVE + l, day, list_rem_rate[l])
            if w < 1e8:
                perf = day + 1 + int(w) + list_rem_delay[l]
    end = day + list_dur[l] + ext
    bit = np.uint16(1 << l)
    if lists[i] & bit:
        if end > lexp[i, l]:
            lexp[i, l] = end
    else:
        lists[i] |= bit
        lexp[i, l] = end
        lrem[i, l] = perf


@njit(inline="always", cache=True)
def perform(i, l, day, lists, lrem, list_rem_delay):
    """The listed agent performs (repays, regularises) on ``day``: removal after the delay."""
    if (lists[i] >> l) & 1:
        lrem[i, l] = min(lrem[i, l], day + list_rem_delay[l])


@njit(inline="always", cache=True)
def apply_day(i, day, gained, lost, listmask, cap, cls, akey, randomize, score, lists, lexp, lrem,
              rec, score_min, score_max, max_ded, list_dur, list_ext_p, list_ext_min, list_ext_max,
              list_rem_rate, list_rem_delay, thr_list, thr_at_most):
    """Apply one day's recorded acts, already summed: points ``gained`` (>= 0) and ``lost``
    (<= 0), lists to join, the lowest score cap and the highest offence class of deductions."""
    s = shift_score(score[i], gained, lost, cap, score_min, score_max, max_ded)
    score[i] = s
    if lost < 0 and rec.shape[1] > REC_STAGE:  # the record of deductions: recoveries need it
        rec[i, REC_DAY] = day
        rec[i, REC_PTS] = -lost
        rec[i, REC_CLS] = cls
        rec[i, REC_STAGE] = 0
    L = lexp.shape[1]
    if listmask:
        for l in range(L):
            if (listmask >> l) & 1:
                put_on_list(i, l, day, akey, randomize, lists, lexp, lrem, list_dur, list_ext_p,
                            list_ext_min, list_ext_max, list_rem_rate, list_rem_delay)
    for t in range(thr_list.shape[0]):
        l = thr_list[t]
        if s <= thr_at_most[t] and not (lists[i] >> l) & 1:
            put_on_list(i, l, day, akey, randomize, lists, lexp, lrem, list_dur, list_ext_p,
                        list_ext_min, list_ext_max, list_rem_rate, list_rem_delay)


@njit(inline="always", cache=True)
def reset_day(acc):
    acc[ACC_GAINED] = 0
    acc[ACC_LOST] = 0
    acc[ACC_LISTS] = 0
    acc[ACC_CAP] = BIG
    acc[ACC_CLASS] = 0


@njit(inline="always", cache=True)
def add_act(acc, a, act_points, act_lists, act_cap, act_class):
    """Add one recorded act's rule to the day's accumulator."""
    p = act_points[a]
    if p > 0:
        acc[ACC_GAINED] += p
    elif p < 0:
        acc[ACC_LOST] += p
        if act_class[a] > acc[ACC_CLASS]:
            acc[ACC_CLASS] = act_class[a]
    acc[ACC_LISTS] |= act_lists[a]
    if act_cap[a] < acc[ACC_CAP]:
        acc[ACC_CAP] = act_cap[a]


@njit(inline="always", cache=True)
def day_changes(acc):
    return acc[ACC_GAINED] != 0 or acc[ACC_LOST] != 0 or acc[ACC_LISTS] != 0 or acc[ACC_CAP] < BIG


@njit(inline="always", cache=True)
def close_day(i, day, acc, akey, randomize, score, lists, lexp, lrem, rec, score_min, score_max,
              max_ded, list_dur, list_ext_p, list_ext_min, list_ext_max, list_rem_rate,
              list_rem_delay, thr_list, thr_at_most):
    """Apply the day's accumulated recorded acts to agent ``i``."""
    apply_day(i, day, acc[ACC_GAINED], acc[ACC_LOST], acc[ACC_LISTS], acc[ACC_CAP],
              acc[ACC_CLASS], akey, randomize, score, lists, lexp, lrem, rec, score_min,
              score_max, max_ded, list_dur, list_ext_p, list_ext_min, list_ext_max,
              list_rem_rate, list_rem_delay, thr_list, thr_at_most)


@njit(inline="always", cache=True)
def shift_score(s, gained, lost, cap, score_min, score_max, max_ded):
    """A score after one day's points, with the regime's daily cap, grade cap and bounds."""
    if max_ded > 0 and -lost > max_ded:
        lost = -max_ded
    s = s + gained + lost
    if cap < BIG and s > cap:
        s = cap
    if s < score_min:
        s = score_min
    if s > score_max:
        s = score_max
    return s


@njit(inline="always", cache=True)
def threshold_lists(s, thr_list, thr_at_most):
    """Lists whose score threshold ``s`` meets."""
    m = 0
    for t in range(thr_list.shape[0]):
        if s <= thr_at_most[t]:
            m |= 1 << thr_list[t]
    return m
