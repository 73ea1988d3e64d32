"""The Numba kernel: one epoch of every agent's event timeline in one community.

Each agent's acts form one Poisson process (ENGINE.md §2): the time to the next act is drawn,
the act is chosen among the agent's acts in proportion to their rates, a sensor may record it,
and the regime's rules apply. Timed events (listing ends, removals, recoveries) are due days.
Aggregates are difference arrays (§6): a change of state on day d adds the new state's
contribution and subtracts the old one at d; a prefix sum gives the daily series.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

from credsim import rng
from credsim.rules import (
    BIG,
    NEVER,
    add_act,
    close_day,
    day_changes,
    fire_timers,
    grade_of,
    next_timer,
    reset_day,
    sanctions_of,
)

PANEL_COLS = 9  # agent, day, kind, code, recorded, score, grade, lists, sanctions
KIND_START, KIND_ACT, KIND_TIMER = 0, 1, 2


@njit(inline="always", cache=True)
def _emit(diff, tid, od, grp, grade, score, lists, sanc, sign, scored, S):
    diff[tid, od, grp, grade, 0] += sign
    if scored:
        diff[tid, od, grp, grade, 1] += sign * score
    s = sanc
    k = 0
    while s:
        if s & np.uint64(1):
            diff[tid, od, grp, grade, 2 + k] += sign
        s >>= np.uint64(1)
        k += 1
    m = lists
    k = 0
    while m:
        if m & 1:
            diff[tid, od, grp, grade, 2 + S + k] += sign
        m >>= 1
        k += 1


@njit(inline="always", cache=True)
def _panel_row(pbuf, pn, tid, pid, day, kind, code, rec, score, grade, lists, sanc):
    n = pn[tid]
    if n < pbuf.shape[1]:
        pbuf[tid, n, 0] = pid
        pbuf[tid, n, 1] = day
        pbuf[tid, n, 2] = kind
        pbuf[tid, n, 3] = code
        pbuf[tid, n, 4] = rec
        pbuf[tid, n, 5] = score
        pbuf[tid, n, 6] = grade
        pbuf[tid, n, 7] = lists
        pbuf[tid, n, 8] = np.int64(sanc)
    pn[tid] = n + 1


@njit(inline="always", cache=True)
def agent_rate(i, subj, traits, grp_subject, grp_trait, grp_rate, wbuf):
    """Total act rate per day of agent i; fills ``wbuf`` with each group's term."""
    lam = 0.0
    for g in range(grp_rate.shape[0]):
        w = 0.0
        if grp_subject[g] == subj:
            w = grp_rate[g]
            if grp_trait[g] >= 0:
                w *= traits[i, grp_trait[g]]
        wbuf[g] = w
        lam += w
    return lam


@njit(parallel=True, cache=True)
def run_epoch(
    seed, n_persons, person_offset, firm_offset, d0, d1, burn, days, n_blocks,
    # regime tables
    score_init, score_min, score_max, score_sd, covers_person, covers_firm, max_ded, band_min,
    act_points, act_lists, act_cap, act_class, act_rule, list_dur, list_ext_p, list_ext_min,
    list_ext_max, list_rem_rate, list_rem_delay, list_on_rem, thr_list, thr_at_most, grade_sanc,
    list_sanc, rec_after, rec_restore, rec_pts_max, rec_cls_max, rec_cls_min,
    # behaviour tables
    trait_sigma, grp_subject, grp_trait, grp_rate, grp_start, grp_acts, grp_cum, p_detect,
    act_subject,
    # agents
    group, adult, traits, panel,
    # state
    score, lists, lexp, lrem, rec, next_t, nev,
    # outputs
    diff, acts_day, acts_grade, pbuf, pn,
):
    n = group.shape[0]
    K = band_min.shape[0]
    S = diff.shape[4] - 2 - lexp.shape[1]
    G = grp_rate.shape[0]
    block = (n + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        tid = get_thread_id()
        wbuf = np.empty(max(G, 1))
        causes = np.empty((2 * lexp.shape[1] + rec_after.shape[0] + 2, 2), np.int64)
        acc = np.empty(5, np.int64)
        lo = b * block
        hi = min(n, lo + block)
        for i in range(lo, hi):
            is_firm = i >= n_persons
            gid = (firm_offset + i - n_persons) if is_firm else (person_offset + i)
            akey = rng.agent_key(seed, gid)
            grp = group[i]
            subj = 1 if is_firm else 0
            covered = adult[i] and ((covers_firm and is_firm) or (covers_person and not is_firm))
            acting = adult[i]
            urban = 0 if (grp == 4 or grp % 2 == 0) else 1  # column of p_detect: 0 urban, 1 rural
            lam = 0.0
            if acting:
                lam = agent_rate(i, subj, traits, grp_subject, grp_trait, grp_rate, wbuf)
            pid = panel[i]
            if d0 == 0:
                # start: initial score, first event time, initial contribution at day 0
                s0 = score_init
                if score_sd > 0.0 and covered:
                    s0 = int(np.rint(score_init + score_sd * rng.normal(akey, rng.S_SCORE0, 0)))
                    s0 = min(max(s0, score_min), score_max)
                score[i] = s0
                lists[i] = 0
                for l in range(lexp.shape[1]):
                    lexp[i, l] = BIG
                    lrem[i, l] = BIG
                rec[i, 0] = NEVER
                rec[i, 1] = 0
                rec[i, 2] = 0
                rec[i, 3] = 0
                nev[i] = 0
                next_t[i] = rng.exponential(akey, rng.S_WAIT, 0, lam)
                gr = grade_of(s0, band_min) if covered else K
                _emit(diff, tid, 0, grp, gr, s0, 0, grade_sanc[gr] if covered else np.uint64(0),
                      1, covered, S)
                if pid >= 0:
                    _panel_row(pbuf, pn, tid, pid, 0 - burn, KIND_START, 0, 0, s0, gr, 0,
                               grade_sanc[gr] if covered else np.uint64(0))
            t = next_t[i]
            td = BIG
            if covered and d0 > 0:
                td = next_timer(i, score, lists, lexp, lrem, rec, score_init, rec_after,
                                rec_pts_max, rec_cls_max, rec_cls_min)
            while True:
                ad = int(t) if t < 1e15 else BIG
                day = min(td, ad)
                if day >= d1:
                    break
                od = day - burn
                if od < 0:
                    od = 0
                s_old = score[i]
                l_old = lists[i]
                g_old = grade_of(s_old, band_min) if covered else K
                p_first = pn[tid]
                if covered and td == day:
                    nc = fire_timers(i, day, score, lists, lexp, lrem, rec, score_init, score_max,
                                     list_on_rem, rec_after, rec_restore, rec_pts_max,
                                     rec_cls_max, rec_cls_min, causes)
                    if pid >= 0:
                        for c in range(nc):
                            _panel_row(pbuf, pn, tid, pid, day - burn, KIND_TIMER,
                                       causes[c, 0] * 100 + causes[c, 1], 0, 0, 0, 0,
                                       np.uint64(0))
                if ad == day:
                    reset_day(acc)
                    while int(t) == day:
                        c = nev[i]
                        # choose the group, then the act within it
                        u = rng.uniform(akey, rng.S_CHOICE, c) * lam
                        g = 0
                        cw = wbuf[0]
                        while cw < u and g < G - 1:
                            g += 1
                            cw += wbuf[g]
                        u2 = rng.uniform(akey, rng.S_CHOICE + 1000, c)
                        j = grp_start[g]
                        while grp_cum[j] < u2 and j < grp_start[g + 1] - 1:
                            j += 1
                        a = grp_acts[j]
                        pd = p_detect[a, urban]
                        recorded = pd >= 1.0 or rng.uniform(akey, rng.S_DETECT, c) < pd
                        gr_now = grade_of(score[i], band_min) if covered else K
                        if day >= burn:
                            acts_day[tid, od, grp, a, 0] += 1
                            acts_grade[tid, od, grp, gr_now, 0] += 1
                            if recorded:
                                acts_day[tid, od, grp, a, 1] += 1
                                acts_grade[tid, od, grp, gr_now, 1] += 1
                        if recorded and covered and act_rule[a] >= 0:
                            add_act(acc, a, act_points, act_lists, act_cap, act_class)
                        if pid >= 0:
                            _panel_row(pbuf, pn, tid, pid, day - burn, KIND_ACT, a, recorded,
                                       0, 0, 0, np.uint64(0))
                        nev[i] = c + 1
                        t += rng.exponential(akey, rng.S_WAIT, c + 1, lam)
                    if covered and day_changes(acc):
                        close_day(i, day, acc, akey, True, score, lists, lexp, lrem, rec,
                                  score_min, score_max, max_ded, list_dur, list_ext_p,
                                  list_ext_min, list_ext_max, list_rem_rate, list_rem_delay,
                                  thr_list, thr_at_most)
                if covered:
                    # the state changed (or may have): when is the next timer due?
                    if td == day or (ad == day and day_changes(acc)):
                        td = next_timer(i, score, lists, lexp, lrem, rec, score_init, rec_after,
                                        rec_pts_max, rec_cls_max, rec_cls_min)
                    s_new = score[i]
                    l_new = lists[i]
                    g_new = grade_of(s_new, band_min)
                    if s_new != s_old or l_new != l_old or g_new != g_old:
                        _emit(diff, tid, od, grp, g_old, s_old, l_old,
                              sanctions_of(g_old, l_old, grade_sanc, list_sanc), -1, True, S)
                        _emit(diff, tid, od, grp, g_new, s_new, l_new,
                              sanctions_of(g_new, l_new, grade_sanc, list_sanc), 1, True, S)
                if pid >= 0:
                    # the state after the day, on every row this day logged
                    gr = grade_of(score[i], band_min) if covered else K
                    sn = sanctions_of(gr, lists[i], grade_sanc, list_sanc) if covered else 0
                    for r in range(p_first, min(pn[tid], pbuf.shape[1])):
                        pbuf[tid, r, 5] = score[i]
                        pbuf[tid, r, 6] = gr
                        pbuf[tid, r, 7] = lists[i]
                        pbuf[tid, r, 8] = np.int64(sn)
            next_t[i] = t


def thread_count() -> int:
    return get_num_threads()
