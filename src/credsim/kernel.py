"""The Numba kernels: one epoch of every agent's event timeline in one community, and the
coupling between agents at epoch boundaries.

Each agent's acts form one Poisson process (ENGINE.md §2): the time to the next candidate act is
drawn, the act is chosen among the agent's acts in proportion to their rates, behaviour response
thins it (deterrence, chilling, gaming), a sensor may record it, and the regime's rules apply.
False matches are a second kind of event in the same process: a record on an innocent agent.
Timed events (listing ends, removals, recoveries, reversals after appeal) are due days.
Aggregates are difference arrays (§6): a change of state on day d adds the new state's
contribution and subtracts the old one at d; a prefix sum gives the daily series.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

from credsim import (
    jitcache,  # noqa: F401  (before any @njit: cache keyed by the package)
    rng,
)
from credsim.layout import (
    A_FALSE,
    A_TRUE,
    A_UNRECORDED,
    ACC_CAP,
    ACC_FIELDS,
    ACC_GAINED,
    ACC_LISTS,
    ACC_LOST,
    BIG,
    CAUSE_CODE,
    CAUSE_EXPIRY,
    CAUSE_RECOVERY,
    CAUSE_REMOVAL,
    F_FALSE_RESTRICTED,
    F_LEFT_LOWEST,
    F_LOWEST,
    F_RESTRICTED,
    F_SPILL,
    FEAT_ACTS,
    FEAT_ALL,
    FEAT_FALSE,
    FEAT_LINKS,
    FEAT_TIMERS,
    KIND_ACT,
    KIND_FALSE,
    KIND_LINK,
    KIND_START,
    KIND_TIMER,
    M_FALSE_RESTRICTED,
    M_PERSONS,
    M_RESTRICTED,
    M_SCORE_SUM,
    NEVER,
    NO_SCORE,
    P_AGENT,
    P_CODE,
    P_DAY,
    P_GRADE,
    P_KIND,
    P_LISTS,
    P_RECORDED,
    P_SANCTIONS,
    P_SCORE,
    P_SENSOR,
    REC_DAY,
    REC_REV_DAY,
    REC_REV_LISTS,
    REC_REV_PTS,
    REC_STAGE,
    measure_offsets,
)
from credsim.rules import (
    add_act,
    close_day,
    day_changes,
    fire_timers,
    grade_of,
    next_timer,
    reset_day,
    sanctions_of,
    shift_score,
    threshold_lists,
)

_ONE = np.uint64(1)
_offsets = njit(inline="always", cache=True)(measure_offsets)


@njit(inline="always", cache=True)
def _add_bits(diff, tid, od, grp, grade, bits, col, sign):
    """Add ``sign`` to the cell of each set bit k of ``bits``: measure ``col + k``."""
    k = 0
    while bits:
        if bits & _ONE:
            diff[tid, od, grp, grade, col + k] += sign
        bits >>= _ONE
        k += 1


@njit(inline="always", cache=True)
def _emit(diff, tid, od, grp, grade, score, lists, sanc, fsanc, lfalse, spill_only, sign, scored,
          S, L, restrict):
    """Add (sign=+1) or remove (-1) one agent's contribution to day ``od``'s cells.
    Measures: persons, score sum, under any restriction, under a false restriction, then per
    sanction (in force, false, through a link only), per list (listed, falsely listed)."""
    m_sanc, m_false, m_link, m_list, m_lfalse, _ = _offsets(S, L)
    diff[tid, od, grp, grade, M_PERSONS] += sign
    if scored:
        diff[tid, od, grp, grade, M_SCORE_SUM] += sign * score
    if sanc & restrict:
        diff[tid, od, grp, grade, M_RESTRICTED] += sign
    if fsanc & restrict:
        diff[tid, od, grp, grade, M_FALSE_RESTRICTED] += sign
    _add_bits(diff, tid, od, grp, grade, sanc, m_sanc, sign)
    _add_bits(diff, tid, od, grp, grade, fsanc, m_false, sign)
    _add_bits(diff, tid, od, grp, grade, spill_only, m_link, sign)
    m = lists
    k = 0
    while m:
        if m & 1:
            diff[tid, od, grp, grade, m_list + k] += sign
        m >>= 1
        k += 1
    m = lfalse
    k = 0
    while m:
        if m & 1:
            diff[tid, od, grp, grade, m_lfalse + k] += sign
        m >>= 1
        k += 1


@njit(inline="always", cache=True)
def _state(covered, score, strue, lists, lfalse, spill, K, band_min, grade_sanc, list_sanc):
    """(grade, sanctions in force, false sanctions, sanctions held only through a link)."""
    if not covered:
        return K, spill, np.uint64(0), spill
    g = grade_of(score, band_min)
    own = sanctions_of(g, lists, grade_sanc, list_sanc)
    gt = grade_of(strue, band_min)
    own_true = sanctions_of(gt, lists & ~lfalse, grade_sanc, list_sanc)
    return g, own | spill, own & ~own_true, spill & ~own


@njit(inline="always", cache=True)
def _emit_link(diff, tid, od, grp, grade, sanc, spill_only, sign, S, restrict):
    """Add or remove what links add to one agent's contribution (``_emit`` with ``sanc`` less
    the same without the sanctions held only through a link, ``spill_only``)."""
    m_sanc, _, m_link, _, _, _ = _offsets(S, 0)
    if (sanc & restrict) and not (sanc & ~spill_only & restrict):
        diff[tid, od, grp, grade, M_RESTRICTED] += sign
    _add_bits(diff, tid, od, grp, grade, spill_only, m_sanc, sign)  # in force
    _add_bits(diff, tid, od, grp, grade, spill_only, m_link, sign)  # through a link only


@njit(inline="always", cache=True)
def _grade(score, score_min, grade_lut):
    """``grade_of`` by table lookup: no band search, no branch to mispredict."""
    k = score - score_min
    if k < 0:
        k = 0
    if k >= grade_lut.shape[0]:
        k = grade_lut.shape[0] - 1
    return np.int64(grade_lut[k])


@njit(inline="always", cache=True)
def _state_lut(covered, score, strue, lists, lfalse, spill, K, score_min, grade_lut, grade_sanc,
               list_sanc):
    """``_state`` with grades from the regime's table; the true state is derived only when it
    can differ from the recorded one."""
    if not covered:
        return K, spill, np.uint64(0), spill
    g = _grade(score, score_min, grade_lut)
    own = sanctions_of(g, lists, grade_sanc, list_sanc)
    own_true = own
    if strue != score or lfalse != 0:
        gt = _grade(strue, score_min, grade_lut)
        own_true = sanctions_of(gt, lists & ~lfalse, grade_sanc, list_sanc)
    return g, own | spill, own & ~own_true, spill & ~own


@njit(inline="always", cache=True)
def _panel_row(pbuf, pn, tid, pid, day, kind, code, rec, false):
    n = pn[tid]
    if n < pbuf.shape[1]:
        pbuf[tid, n, P_AGENT] = pid
        pbuf[tid, n, P_DAY] = day
        pbuf[tid, n, P_KIND] = kind
        pbuf[tid, n, P_CODE] = code
        pbuf[tid, n, P_RECORDED] = rec
        pbuf[tid, n, P_SENSOR] = false
    pn[tid] = n + 1


@njit(inline="always", cache=True)
def agent_rate(i, subj, female, watched, surv_mult, traits, grp_subject, grp_trait, grp_rate,
               grp_false, grp_female, wbuf):
    """Total event rate per day of agent i; fills ``wbuf`` with each group's term."""
    lam = 0.0
    for g in range(grp_rate.shape[0]):
        w = 0.0
        if grp_subject[g] == subj:
            w = grp_rate[g]
            if grp_trait[g] >= 0:
                w *= traits[i, grp_trait[g]]
            if grp_false[g] >= 0:
                if female:
                    w *= grp_female[g]
                if watched:
                    w *= surv_mult
        wbuf[g] = w
        lam += w
    return lam


@njit(inline="always", cache=True)
def _near_threshold(score, g, band_min, window):
    K = band_min.shape[0]
    if g > 0 and band_min[g - 1] - score <= window:
        return True
    return g < K - 1 and score - band_min[g] < window


def _compile_kernel(features: int):
    """``run_epoch`` with the code of the mechanisms in ``features`` only. ``features`` is a
    closure constant: the compiler drops the branches of the mechanisms left out, and Numba's
    cache keys each kernel by it."""

    @njit(parallel=True, cache=True)
    def run_epoch(
        seed, n_persons, person_offset, firm_offset, d0, d1, burn, days, n_blocks,
        # regime tables
        score_init, score_min, score_max, score_sd, covers_person, covers_firm, max_ded, band_min,
        act_points, act_lists, act_cap, act_class, act_rule, list_dur, list_ext_p, list_ext_min,
        list_ext_max, list_rem_rate, list_rem_delay, list_on_rem, thr_list, thr_at_most, grade_sanc,
        list_sanc, rec_after, rec_restore, rec_pts_max, rec_cls_max, rec_cls_min, grade_lut,
        # behaviour tables
        trait_sigma, trait_stream, grp_subject, grp_trait, grp_rate, grp_start, grp_acts, grp_cum,
        p_detect, act_subject, grp_false, grp_female,
        # mechanism tables
        surv_mult, surv_grades, surv_lists, appeal_p, appeal_delay, act_accept, act_deter, act_game,
        act_parent, game_window, reach_children, reach_rep, reach_firms, restrict_mask, households,
        legal_reps,
        # agents
        group, age, elder, traits, panel, bound, d_end,
        # agents to run (empty: all); agents run without output in a first pass, in full when
        # rerun (``relink``; the other rerun agents add only what links add); each run agent's link
        # changes: days and bits, by visit index (empty: none)
        visit, quiet, relink, sp_ptr, sp_day, sp_bits,
        # state
        score, strue, lists, lfalse, lexp, lrem, rec, next_t, nev, flags, nbad, spill, dirty, due,
        # reach log (households replayed after the run): day-0 state, changes, count per thread
        rstate, rlog, rbits, rn, log_reach,
        # outputs
        diff, acts_day, acts_grade, pbuf, pn,
    ):
        """Run days [d0, d1) for every agent of a community: fixed blocks of agents in parallel.
        Agents that no link can reach or be reached from (``bound`` 0) run on to ``d_end`` in the
        first epoch: epochs exist for links only, and revisiting an agent costs cache misses.
        With ``log_reach``, each change of an agent's sanctions that reach others is logged (agent,
        day, bits) so that links can be replayed after one pass: to children by ``couple``, between
        adults by rerunning (``relink``) the firms and representatives that links reach (``visit``)
        with the sanctions that reach them put on at each boundary (``sp_*``, from
        ``link_schedule``): they add only what the links add to the first pass's counts, except the
        ``quiet`` ones (panel agents), which the first pass ran without output.
        The block body stays inside the parallel loop: moved to a function of its own, it pays
        atomic reference counts on shared arrays at every helper, and two threads run slower
        than one. Compiled for the mechanisms ``features`` (``FEAT_*`` bits) names: see
        ``kernel_for``."""
        n = group.shape[0]
        K = band_min.shape[0]
        L = lexp.shape[1]
        S = (diff.shape[4] - _offsets(0, L)[5]) // 3
        G = grp_rate.shape[0]
        reach = np.uint64(reach_children | reach_rep | reach_firms)
        restrict = np.uint64(restrict_mask)
        # state a scenario does not use is passed empty (no memory, no stores): link state (spill,
        # dirty, due) without links or peer ratings, next event times in a single pass, the panel,
        # elder links, bound flags, and the record columns of recoveries (4) and appeals (7)
        linked = spill.shape[0] > 0
        has_due = due.shape[0] > 0
        has_panel = panel.shape[0] > 0
        has_elder = elder.shape[0] > 0
        has_bound = bound.shape[0] > 0
        has_next = next_t.shape[0] > 0  # a single pass keeps the next event time in a local
        has_visit = visit.shape[0] > 0
        has_quiet = quiet.shape[0] > 0
        has_sched = sp_ptr.shape[0] > 0
        nv = visit.shape[0] if has_visit else n
        W = rec.shape[1]
        # detection probability and acceptance of a scored act by (act, place, watched): computed
        # once here rather than a power and an exponential per event
        A = p_detect.shape[0]
        pd_tab = np.empty((A, 2, 2))
        f_tab = np.empty((A, 2, 2))
        for x in range(A):  # (names not reused inside the parallel loop)
            for pl in range(2):
                for wt in range(2):
                    pdx = p_detect[x, pl]
                    if wt == 1 and pdx < 1.0:
                        pdx = 1.0 - (1.0 - pdx) ** surv_mult
                    fx = act_accept[x]
                    if act_deter[x] > 0.0:
                        fx *= np.exp(-act_deter[x] * pdx)
                    pd_tab[x, pl, wt] = pdx
                    f_tab[x, pl, wt] = fx
        block = (nv + n_blocks - 1) // n_blocks
        for b in prange(n_blocks):
            tid = get_thread_id()
            # the mechanisms compiled in (closure constants: the code of the others is dropped)
            f_acts = (features & FEAT_ACTS) != 0
            f_false = (features & FEAT_FALSE) != 0
            f_timers = (features & FEAT_TIMERS) != 0
            f_links = (features & FEAT_LINKS) != 0
            b_linked = f_links and linked
            b_due = f_links and has_due
            b_bound = f_links and has_bound
            b_visit = f_links and has_visit
            b_quiet = f_links and has_quiet
            b_sched = f_links and has_sched
            b_relink = f_links and relink
            b_log = f_links and log_reach
            strue_ = strue if f_false else score  # without false records the two never differ
            wbuf = np.empty(max(G, 1))
            causes = np.empty((2 * L + rec_after.shape[0] + 3, 2), np.int64)
            acc = np.empty(ACC_FIELDS, np.int64)
            acc_t = np.empty(ACC_FIELDS, np.int64)
            lo = b * block
            hi = min(nv, lo + block)
            for ii in range(lo, hi):
                i = visit[ii] if b_visit else ii
                if d0 > 0 and b_due and due[i] >= d1:
                    continue  # nothing happens to this agent in this epoch: one compare, no hashing
                is_firm = i >= n_persons
                gid = (firm_offset + i - n_persons) if is_firm else (person_offset + i)
                akey = rng.agent_key(seed, gid)
                grp = group[i]
                subj = 1 if is_firm else 0
                acting = age[i] > 0
                covered = acting and ((covers_firm and is_firm) or (covers_person and not is_firm))
                urban = 0 if (grp == 4 or grp % 2 == 0) else 1  # column of p_detect: 0 urban, 1 rural
                female = grp < 2
                qi = b_quiet and quiet[i] != 0
                out = qi if b_relink else not qi  # counted in full (a quiet agent only logs)
                corr = b_relink and not qi  # counts only what links add to the first pass
                pid = panel[i] if has_panel and out else -1
                k_sp = sp_ptr[ii] if b_sched else 0  # the agent's next link change
                k_end = sp_ptr[ii + 1] if b_sched else 0
                d_sp = sp_day[k_sp] if k_sp < k_end else BIG
                end = d1 if b_bound and bound[i] else d_end
                # score and lists as the visit starts, in locals: on day 0 from the values just set
                # (no load waiting on the stores), later from the arrays
                s_i = 0
                l_i = np.uint16(0)
                if d0 == 0:
                    if b_linked:
                        spill[i] = 0
                        dirty[i] = 0
                    s0 = score_init
                    if score_sd > 0.0 and covered:
                        s0 = int(np.rint(score_init + score_sd * rng.normal(akey, rng.S_SCORE0, 0)))
                        s0 = min(max(s0, score_min), score_max)
                    score[i] = s0
                    strue[i] = s0
                    lists[i] = 0
                    lfalse[i] = 0
                    for l in range(L):
                        lexp[i, l] = BIG
                        lrem[i, l] = BIG
                    if W > REC_STAGE:
                        rec[i, REC_DAY] = NEVER
                        for x_rec in range(REC_DAY + 1, REC_STAGE + 1):
                            rec[i, x_rec] = 0
                    if W > REC_REV_LISTS:
                        rec[i, REC_REV_DAY] = BIG
                        rec[i, REC_REV_PTS] = 0
                        rec[i, REC_REV_LISTS] = 0
                    nev[i] = 0
                    flags[i] = 0
                    nbad[i] = 0
                    s_i = s0
                else:
                    s_i = score[i]
                    l_i = lists[i]
                # links change it between visits only (and none has reached the agent on day 0)
                sp_i = spill[i] if b_linked and d0 > 0 else np.uint64(0)
                g0 = _grade(s_i, score_min, grade_lut) if covered else K
                watched = f_acts and covered and (surv_grades[g0] or (l_i & surv_lists) != 0)
                lam = -1.0  # the agent's rates, computed when first needed
                inv_lam = 0.0  # 1 / lam: waiting times multiply instead of dividing at every event
                t = next_t[i] if d0 > 0 else 0.0
                # the agent's current (grade, sanctions, false sanctions, link-only), once known
                have = False
                cg = K
                csc = np.uint64(0)
                cfs = np.uint64(0)
                csp = np.uint64(0)
                if d0 == 0:
                    sc0 = np.uint64(0)
                    fs0 = np.uint64(0)
                    sp0 = np.uint64(0)
                    g0, sc0, fs0, sp0 = _state_lut(covered, s_i, s_i, l_i, np.uint16(0), sp_i, K,
                                                   score_min, grade_lut, grade_sanc, list_sanc)
                    have = True
                    cg, csc, cfs, csp = g0, sc0, fs0, sp0
                    if b_log:
                        rstate[i] = sc0 & reach
                    lam = 0.0
                    if acting:
                        lam = agent_rate(i, subj, female, watched, surv_mult, traits, grp_subject,
                                         grp_trait, grp_rate, grp_false, grp_female, wbuf)
                    t = np.inf
                    if lam > 0.0:
                        inv_lam = 1.0 / lam
                        t = rng.standard_exponential(akey, rng.S_WAIT, 0) * inv_lam
                    if out:
                        _emit(diff, tid, 0, grp, g0, s_i, l_i, sc0, fs0, np.uint16(0), sp0, 1,
                              covered, S, L, restrict)
                    if covered and g0 == K - 1:
                        flags[i] |= F_LOWEST
                    if sc0 & restrict:
                        flags[i] |= F_RESTRICTED
                    if pid >= 0:
                        p_first = pn[tid]
                        _panel_row(pbuf, pn, tid, pid, 0 - burn, KIND_START, 0, 0, 0)
                        _fill_panel(pbuf, pn, tid, p_first, score[i], g0, lists[i], sc0)
                td = BIG
                if f_timers and covered and d0 > 0:  # a fresh agent (day 0) has no timer running
                    td = next_timer(i, score, lists, lexp, lrem, rec, score_init, rec_after,
                                    rec_pts_max, rec_cls_max, rec_cls_min)
                while True:
                    ad = int(t) if t < 1e15 else BIG
                    day = min(td, ad, d_sp)
                    if day >= end:
                        break
                    od = day - burn
                    if od < 0:
                        od = 0
                    if b_sched and day == d_sp:
                        # sanctions through a link change at a boundary, before the day's events
                        # (as ``couple`` at the end of an epoch): nothing else changes
                        new = sp_bits[k_sp]
                        k_sp += 1
                        d_sp = sp_day[k_sp] if k_sp < k_end else BIG
                        if not have:
                            cg, csc, cfs, csp = _state_lut(covered, score[i], strue_[i], lists[i],
                                                           lfalse[i], sp_i, K, score_min, grade_lut,
                                                           grade_sanc, list_sanc)
                        g1, sc1, fs1, sp1 = _state_lut(covered, score[i], strue_[i], lists[i],
                                                       lfalse[i], new, K, score_min, grade_lut,
                                                       grade_sanc, list_sanc)
                        if out:
                            _emit(diff, tid, od, grp, cg, score[i], lists[i], csc, cfs, lfalse[i],
                                  csp, -1, covered, S, L, restrict)
                            _emit(diff, tid, od, grp, g1, score[i], lists[i], sc1, fs1, lfalse[i],
                                  sp1, 1, covered, S, L, restrict)
                        elif corr:
                            _emit_link(diff, tid, od, grp, cg, csc, csp, -1, S, restrict)
                            _emit_link(diff, tid, od, grp, g1, sc1, sp1, 1, S, restrict)
                        sp_i = new
                        have = True
                        cg, csc, cfs, csp = g1, sc1, fs1, sp1
                        if new:
                            flags[i] |= F_SPILL
                        if new & restrict:
                            flags[i] |= F_RESTRICTED
                        if pid >= 0:
                            p_first = pn[tid]
                            _panel_row(pbuf, pn, tid, pid, day - burn, KIND_LINK, np.int64(new), 0, 0)
                            _fill_panel(pbuf, pn, tid, p_first, score[i], g1, lists[i], sc1)
                        if td != day and ad != day:
                            continue
                    s_old = score[i]
                    st_old = strue_[i]
                    l_old = lists[i]
                    lf_old = lfalse[i]
                    p_first = pn[tid]
                    changed = False
                    if f_timers and covered and td == day:
                        nc = fire_timers(i, day, score, lists, lexp, lrem, rec, score_init, score_max,
                                         list_on_rem, rec_after, rec_restore, rec_pts_max,
                                         rec_cls_max, rec_cls_min, causes)
                        changed = True
                        for c in range(nc):
                            cause = causes[c, 0]
                            k = causes[c, 1]
                            if cause == CAUSE_RECOVERY:
                                if rec_restore[k] < 0:
                                    strue[i] = max(strue_[i], score_init)
                                else:
                                    strue[i] = max(strue_[i], min(strue_[i] + rec_restore[k], score_init))
                            elif cause == CAUSE_EXPIRY or cause == CAUSE_REMOVAL:
                                if list_on_rem[k] != NO_SCORE and not (lfalse[i] >> k) & 1:
                                    strue[i] = list_on_rem[k]
                            if pid >= 0:
                                _panel_row(pbuf, pn, tid, pid, day - burn, KIND_TIMER,
                                           cause * CAUSE_CODE + k, 0, 0)
                        lfalse[i] &= lists[i]
                    if ad == day:
                        if lam < 0.0:
                            lam = 0.0
                            if acting:
                                lam = agent_rate(i, subj, female, watched, surv_mult, traits, grp_subject,
                                                 grp_trait, grp_rate, grp_false, grp_female, wbuf)
                            if lam > 0.0:
                                inv_lam = 1.0 / lam
                        reset_day(acc)
                        reset_day(acc_t)
                        rev_pts = 0
                        rev_lists = 0
                        g_now = cg if have else (_grade(s_old, score_min, grade_lut) if covered else K)
                        while int(t) == day:
                            c = nev[i]
                            nev[i] = c + 1
                            # group (high half) and act within the group (low half): one hash
                            u, u2 = rng.halves(rng.draw(akey, rng.S_CHOICE, c))
                            u *= lam
                            g = 0
                            cw = wbuf[0]
                            while cw < u and g < G - 1:
                                g += 1
                                cw += wbuf[g]
                            j = grp_start[g]
                            if grp_start[g + 1] - j > 1:  # one act in the group: no choice
                                while grp_cum[j] < u2 and j < grp_start[g + 1] - 1:
                                    j += 1
                            a = grp_acts[j]
                            t += rng.standard_exponential(akey, rng.S_WAIT, c + 1) * inv_lam
                            fs = grp_false[g] if f_acts else -1
                            scored = covered and act_rule[a] >= 0
                            if fs >= 0:
                                # a false match: a record of act a on this innocent agent
                                if day >= burn and out:
                                    acts_day[tid, od, grp, a, A_FALSE] += 1
                                    acts_grade[tid, od, grp, g_now, A_FALSE] += 1
                                if scored:
                                    add_act(acc, a, act_points, act_lists, act_cap, act_class)
                                    if (f_timers and appeal_p > 0.0
                                            and rng.uniform(akey, rng.S_ACCEPT + 1, c) < appeal_p):
                                        rev_pts -= act_points[a]
                                        rev_lists |= act_lists[a]
                                if pid >= 0:
                                    _panel_row(pbuf, pn, tid, pid, day - burn, KIND_FALSE, a, 1, fs + 1)
                                continue
                            # a candidate true act: behaviour response thins it
                            wi = 1 if watched else 0
                            pd = pd_tab[a, urban, wi] if f_acts else 1.0
                            f = (f_tab[a, urban, wi] if scored else act_accept[a]) if f_acts else 1.0
                            if f_acts and act_game[a] > 1.0:
                                if not (scored and _near_threshold(score[i], g_now, band_min,
                                                                   game_window)):
                                    f /= act_game[a]
                            if f_acts and act_parent[a] and not (has_elder and elder[i]):
                                f = 0.0
                            # thinning (high half) and detection (low half): one hash
                            u_acc = 0.0
                            u_det = 0.0
                            if f < 1.0 or pd < 1.0:
                                u_acc, u_det = rng.halves(rng.draw(akey, rng.S_ACCEPT, c))
                            if f < 1.0 and u_acc >= f:
                                continue
                            recorded = pd >= 1.0 or u_det < pd
                            if day >= burn and out:
                                acts_day[tid, od, grp, a, A_TRUE] += 1
                                acts_grade[tid, od, grp, g_now, A_TRUE] += 1
                                if not recorded:
                                    acts_day[tid, od, grp, a, A_UNRECORDED] += 1
                                    acts_grade[tid, od, grp, g_now, A_UNRECORDED] += 1
                            if scored and (act_points[a] < 0 or act_lists[a] != 0
                                           or act_cap[a] < BIG):
                                nbad[i] += 1
                            if recorded and scored:
                                add_act(acc, a, act_points, act_lists, act_cap, act_class)
                                if f_false:
                                    add_act(acc_t, a, act_points, act_lists, act_cap, act_class)
                            if pid >= 0:
                                _panel_row(pbuf, pn, tid, pid, day - burn, KIND_ACT, a, recorded, 0)
                        if covered and day_changes(acc):
                            changed = True
                            l_before = lists[i]
                            close_day(i, day, acc, akey, True, score, lists, lexp, lrem, rec,
                                      score_min, score_max, max_ded, list_dur, list_ext_p,
                                      list_ext_min, list_ext_max, list_rem_rate, list_rem_delay,
                                      thr_list, thr_at_most)
                            # the shadow state: what true records alone would give
                            if f_false:
                                strue[i] = shift_score(strue_[i], acc_t[ACC_GAINED], acc_t[ACC_LOST],
                                                       acc_t[ACC_CAP], score_min, score_max, max_ded)
                                true_bits = acc_t[ACC_LISTS] | threshold_lists(strue_[i], thr_list,
                                                                               thr_at_most)
                                new_bits = lists[i] & ~l_before
                                lfalse[i] = (lfalse[i] | (new_bits & ~true_bits)) & ~true_bits & lists[i]
                            if f_timers and (rev_pts != 0 or rev_lists != 0) and W > REC_REV_LISTS:
                                rec[i, REC_REV_DAY] = day + appeal_delay
                                rec[i, REC_REV_PTS] += rev_pts
                                rec[i, REC_REV_LISTS] |= rev_lists & lfalse[i]
                    if changed:
                        if have:
                            g_old, sc_old, fs_old, sp_old = cg, csc, cfs, csp
                        else:
                            g_old, sc_old, fs_old, sp_old = _state_lut(
                                covered, s_old, st_old, l_old, lf_old, sp_i, K, score_min,
                                grade_lut, grade_sanc, list_sanc)
                        if f_timers:
                            td = next_timer(i, score, lists, lexp, lrem, rec, score_init, rec_after,
                                            rec_pts_max, rec_cls_max, rec_cls_min)
                        g_new, sc_new, fs_new, sp_new = _state_lut(
                            covered, score[i], strue_[i], lists[i], lfalse[i], sp_i, K, score_min,
                            grade_lut, grade_sanc, list_sanc)
                        have = True
                        cg, csc, cfs, csp = g_new, sc_new, fs_new, sp_new
                        if (lists[i] != l_old or g_new != g_old or sc_new != sc_old
                                or fs_new != fs_old or sp_new != sp_old or lfalse[i] != lf_old):
                            if out:
                                _emit(diff, tid, od, grp, g_old, s_old, l_old, sc_old, fs_old,
                                      lf_old, sp_old, -1, True, S, L, restrict)
                                _emit(diff, tid, od, grp, g_new, score[i], lists[i], sc_new, fs_new,
                                      lfalse[i], sp_new, 1, True, S, L, restrict)
                            elif corr and (sp_old or sp_new):
                                _emit_link(diff, tid, od, grp, g_old, sc_old, sp_old, -1, S, restrict)
                                _emit_link(diff, tid, od, grp, g_new, sc_new, sp_new, 1, S, restrict)
                            # the agent's own reaching sanctions (a link's may hide a change)
                            own_new = sc_new & ~sp_new & reach
                            if own_new != (sc_old & ~sp_old & reach):
                                if b_linked:
                                    dirty[i] = 1
                                if b_log:
                                    k = rn[tid]
                                    if k < rlog.shape[1]:
                                        rlog[tid, k, 0] = i
                                        rlog[tid, k, 1] = day
                                        rbits[tid, k] = own_new
                                    rn[tid] = k + 1  # past the capacity: the caller reruns
                        elif score[i] != s_old and out:
                            # same grade and sanctions: only the score sum moves
                            diff[tid, od, grp, g_new, 1] += score[i] - s_old
                        if g_new == K - 1:
                            flags[i] |= F_LOWEST
                        elif flags[i] & F_LOWEST:
                            flags[i] |= F_LEFT_LOWEST
                        if sc_new & restrict:
                            flags[i] |= F_RESTRICTED
                        if fs_new & restrict:
                            flags[i] |= F_FALSE_RESTRICTED
                        w_new = f_acts and (surv_grades[g_new] or (lists[i] & surv_lists) != 0)
                        if w_new != watched:
                            # a watched agent's detection changes: redraw (Poisson: memoryless)
                            watched = w_new
                            lam = agent_rate(i, subj, female, watched, surv_mult, traits, grp_subject,
                                             grp_trait, grp_rate, grp_false, grp_female, wbuf)
                            inv_lam = 1.0 / lam if lam > 0.0 else 0.0
                            t = day + 1 + rng.exponential(akey, rng.S_EPOCH, day, lam)
                        g_now = g_new
                    if pid >= 0 and pn[tid] > p_first:
                        if not have:
                            have = True
                            cg, csc, cfs, csp = _state_lut(covered, score[i], strue_[i], lists[i],
                                                           lfalse[i], sp_i, K, score_min,
                                                           grade_lut, grade_sanc, list_sanc)
                        _fill_panel(pbuf, pn, tid, p_first, score[i], cg, lists[i], csc)
                if has_next:
                    next_t[i] = t
                if b_sched:
                    spill[i] = sp_i
                if b_due:
                    due[i] = min(td, int(t) if t < 1e9 else BIG)

    return run_epoch


run_epoch = _compile_kernel(FEAT_ALL)  # every mechanism in: the kernel of almost every scenario
_KERNELS = {FEAT_ALL: run_epoch}


def kernel_for(features: int):
    """The kernel compiled for the mechanisms in ``features`` (``F_*`` bits; see
    ``engine.mechanism_features``). Each set is a kernel of its own, compiled at its first call
    and cached on disk like the others: the engine asks for two sets only."""
    k = _KERNELS.get(features)
    if k is None:
        k = _KERNELS[features] = _compile_kernel(features)
    return k


@njit(inline="always", cache=True)
def _fill_panel(pbuf, pn, tid, p_first, score, grade, lists, sanc):
    """The state after the day, on every row the day logged."""
    for r in range(p_first, min(pn[tid], pbuf.shape[1])):
        pbuf[tid, r, P_SCORE] = score
        pbuf[tid, r, P_GRADE] = grade
        pbuf[tid, r, P_LISTS] = lists
        pbuf[tid, r, P_SANCTIONS] = np.int64(sanc)


@njit(inline="always", cache=True)
def _own(x, n_persons, covers_person, covers_firm, age, score, lists, band_min, grade_sanc,
         list_sanc):
    """Sanctions agent x holds from its own state (not through links)."""
    is_firm = x >= n_persons
    if age[x] == 0 or not ((covers_firm and is_firm) or (covers_person and not is_firm)):
        return np.uint64(0)
    return sanctions_of(grade_of(score[x], band_min), lists[x], grade_sanc, list_sanc)


MAX_TARGETS = 63  # agents one agent's links reach at a boundary, at most (the rest are dropped)


@njit(inline="always", cache=True)
def _firm_targets(i, n_persons, rep, rf_start, rf, cand, nc):
    """Append to ``cand`` (from ``nc``) the agents linked to ``i`` through firms: the firms a
    person represents, or a firm's legal representative, up to ``MAX_TARGETS`` in all. Returns
    the new count. ``couple`` and ``link_schedule`` reach the same agents through it."""
    if i < n_persons:
        for k in range(rf_start[i], rf_start[i + 1]):
            if nc < MAX_TARGETS:
                cand[nc] = n_persons + rf[k]
                nc += 1
    elif nc < MAX_TARGETS:
        cand[nc] = rep[i - n_persons]
        nc += 1
    return nc


@njit(cache=True)
def couple(
    day, burn, todo, n_persons, S, L, band_min, grade_sanc, list_sanc, covers_person, covers_firm,
    reach_children, reach_rep, reach_firms, households, legal_reps, restrict_mask,
    group, age, hh_start, hh_of, rep, rf_start, rf, panel,
    score, strue, lists, lfalse, flags, spill, due, diff, pbuf, pn, rstate, use_rstate,
):
    """Joint punishment through links, applied at an epoch boundary (``day``, the first day of the
    next epoch): sanctions that reach a household's children or a firm's legal representative
    (and back, to the firms a person represents) are put on them, or lifted. Only the links of
    the agents in ``todo`` (whose reaching sanctions changed during the epoch) are visited.
    With ``use_rstate``, household members' reaching sanctions are read from ``rstate`` (their
    state at ``day``, replayed from the reach log) instead of their current records."""
    K = band_min.shape[0]
    od = max(day - burn, 0)
    restrict = np.uint64(restrict_mask)
    cand = np.empty(MAX_TARGETS, np.int64)
    for q in range(todo.shape[0]):
        i = todo[q]
        nc = 0
        if i < n_persons and households:
            h = hh_of[i]
            for m in range(hh_start[h], hh_start[h + 1]):
                if age[m] == 0 and nc < MAX_TARGETS:
                    cand[nc] = m
                    nc += 1
        if legal_reps:
            nc = _firm_targets(i, n_persons, rep, rf_start, rf, cand, nc)
        for c in range(nc):
            m = cand[c]
            new = np.uint64(0)
            if m < n_persons:
                if households and age[m] == 0:
                    h = hh_of[m]
                    for x in range(hh_start[h], hh_start[h + 1]):
                        if use_rstate:
                            new |= rstate[x] & reach_children
                        else:
                            new |= _own(x, n_persons, covers_person, covers_firm, age, score,
                                        lists, band_min, grade_sanc, list_sanc) & reach_children
                if legal_reps:
                    for k in range(rf_start[m], rf_start[m + 1]):
                        f = n_persons + rf[k]
                        new |= _own(f, n_persons, covers_person, covers_firm, age, score, lists,
                                    band_min, grade_sanc, list_sanc) & reach_rep
            elif legal_reps:
                new |= _own(rep[m - n_persons], n_persons, covers_person, covers_firm, age, score,
                            lists, band_min, grade_sanc, list_sanc) & reach_firms
            if new == spill[m]:
                continue
            covered = age[m] > 0 and ((covers_firm and m >= n_persons)
                                      or (covers_person and m < n_persons))
            g0, sc0, fs0, sp0 = _state(covered, score[m], strue[m], lists[m], lfalse[m], spill[m],
                                       K, band_min, grade_sanc, list_sanc)
            spill[m] = new
            due[m] = day
            g1, sc1, fs1, sp1 = _state(covered, score[m], strue[m], lists[m], lfalse[m], new,
                                       K, band_min, grade_sanc, list_sanc)
            _emit(diff, 0, od, group[m], g0, score[m], lists[m], sc0, fs0, lfalse[m], sp0, -1,
                  covered, S, L, restrict)
            _emit(diff, 0, od, group[m], g1, score[m], lists[m], sc1, fs1, lfalse[m], sp1, 1,
                  covered, S, L, restrict)
            if new:
                flags[m] |= F_SPILL
            if new & restrict:
                flags[m] |= F_RESTRICTED
            if panel.shape[0] > 0 and panel[m] >= 0:
                p_first = pn[0]
                _panel_row(pbuf, pn, 0, panel[m], day - burn, KIND_LINK, np.int64(new), 0, 0)
                _fill_panel(pbuf, pn, 0, p_first, score[m], g1, lists[m], sc1)


def recorded_columns(acts: np.ndarray) -> np.ndarray:
    """Act counters (true, unrecorded, false) as kept by the kernel -> (true, recorded, false),
    in place: recorded = true - unrecorded + false."""
    acts[..., A_UNRECORDED] = acts[..., A_TRUE] - acts[..., A_UNRECORDED] + acts[..., A_FALSE]
    return acts


def thread_count() -> int:
    return get_num_threads()


@njit(cache=True)
def link_schedule(day, todo, n_persons, rep, rf_start, rf, rstate, reach_rep, reach_firms, cur,
                  out_agent, out_bits):
    """The links between adults at boundary ``day``, replayed: for each firm or legal
    representative linked to an agent of ``todo`` (whose reaching sanctions changed in the
    epoch), the sanctions that reach it from its links' state on ``day`` (``rstate``). Each
    change from ``cur`` is appended to ``out_*``; returns how many. Same targets and the same
    sanctions as ``couple`` without households."""
    cand = np.empty(MAX_TARGETS, np.int64)
    n_out = 0
    for q in range(todo.shape[0]):
        nc = _firm_targets(todo[q], n_persons, rep, rf_start, rf, cand, 0)
        for c in range(nc):
            m = cand[c]
            new = np.uint64(0)
            if m < n_persons:
                for k in range(rf_start[m], rf_start[m + 1]):
                    new |= rstate[n_persons + rf[k]] & reach_rep
            else:
                new |= rstate[rep[m - n_persons]] & reach_firms
            if new != cur[m]:
                cur[m] = new
                out_agent[n_out] = m
                out_bits[n_out] = new
                n_out += 1
    return n_out


@njit(cache=True)
def set_in_order(state, agents, bits):
    """state[agents[k]] = bits[k] in order, so an agent's last change wins (the reach log
    replayed up to a boundary)."""
    for k in range(agents.shape[0]):
        state[agents[k]] = bits[k]
