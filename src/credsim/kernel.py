"""The Numba kernels: every agent's event timeline in one community, and the coupling between
agents at epoch boundaries.

Each agent's acts form one Poisson process (ENGINE.md §2): the time to the next candidate act is
drawn, the act is chosen among the agent's acts in proportion to their rates, behaviour response
thins it (deterrence, chilling, gaming), a sensor may record it, and the regime's rules apply.
False matches are a second kind of event in the same process: a record on an innocent agent.
Timed events (listing ends, removals, recoveries, reversals after appeal) are due days.
Aggregates are difference arrays (§6): a change of state on day d adds the new state's
contribution and subtracts the old one at d; a prefix sum gives the daily series.

Every kernel takes named records (``state``: ``Span``, ``Agents``, ``Visit``, ``State``,
``ReachLog``, ``Outputs``, ``Links``; ``compile``: the regime, behaviour and mechanism tables;
``layout.Measures``): a field is read by name, never by position. The helpers are compiled on
their own, once per signature, without reference counting (``_nrt=False``: a call would otherwise
count a reference to every array it reads out of a record, an atomic add and subtract on memory
both threads share, at every event), and LLVM inlines them into the kernels
(``forceinline=True``, LLVM's ``alwaysinline``), so the compiled kernel has no call to a helper.
Numba's own ``inline="always"`` gave the same code but translated a helper again at every call
site, and everything it inlines with it: a cold compile took four times longer.

An agent's **standing** is ``(grade, sanctions in force, false sanctions, sanctions held only
through a link)``: what its contribution to the daily cells depends on besides its score and
lists. One helper (``_transition``) turns a change of standing into counts, and ``_mark`` into
the agent's ever-flags; ``run_epoch``, ``couple`` and ``peer.peer_round`` all use them. Each
caller builds ``sm`` (restrictions, ticket blocks, ticket shape) itself: a helper compiled
without reference counting must never return an array to a caller that counts them (``couple``
would free the regime's array when its tuple goes).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import get_num_threads, njit

from credsim import (
    jitcache,  # noqa: F401  (before any @njit: cache keyed by the package)
    rng,
)
from credsim.atomic import fetch_add
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
    CAUSE_REVERSAL,
    F_FALSE_RESTRICTED,
    F_LEFT_LOWEST,
    F_LOWEST,
    F_RESTRICTED,
    F_SPILL,
    F_TRAVEL,
    FEAT_ACTS,
    FEAT_ALL,
    FEAT_FALSE,
    FEAT_LINKS,
    FEAT_TIMERS,
    FIRM_GROUP,
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
    TICKET_FIX,
)
from credsim.rules import (
    add_act,
    close_day,
    day_changes,
    fire_timers,
    grade,
    next_timer,
    reset_day,
    sanctions_of,
    shift_score,
    threshold_lists,
)

_ONE = np.uint64(1)
_ZERO = np.uint64(0)
# how a visit counts its changes: in full, only what links add (an agent rerun after a first
# pass counted the rest), or not at all (a panel agent's quiet first pass)
COUNT_NONE, COUNT_FULL, COUNT_LINKS = 0, 1, 2
MAX_TARGETS = 63  # agents one agent's links reach at a boundary, at most (the rest are dropped)


# ---------------------------------------------------------------- standing and counts
@njit(forceinline=True, _nrt=False, cache=True)
def _standing(R, covered, held, score, strue, lists, lfalse, spill):
    """(grade, sanctions in force, false sanctions, sanctions held only through a link), of
    the sanctions the agent's subject can be under (``held``: ``R.held[subject]``; a firm is
    never under a person-only sanction its record passes on). The true state is derived only
    when it can differ from the recorded one."""
    spill = spill & held
    if not covered:
        return np.int64(R.band_min.shape[0]), spill, _ZERO, spill
    g = grade(R, score)
    own = sanctions_of(R, g, lists) & held
    own_true = own
    if strue != score or lfalse != 0:
        own_true = sanctions_of(R, grade(R, strue), lists & ~lfalse) & held
    return g, own | spill, own & ~own_true, spill & ~own


@njit(forceinline=True, _nrt=False, cache=True)
def _own_record(R, covered, score, lists):
    """The sanctions an agent's own record brings, whatever its subject can be under: what its
    links pass on (a listed firm's no-flights ban reaches its legal representative)."""
    if not covered:
        return _ZERO
    return sanctions_of(R, grade(R, score), lists)


@njit(forceinline=True, _nrt=False, cache=True)
def _ticket_mult(akey, shape):
    """The agent's ticket-purchase multiplier (gamma, mean 1, shape ``shape``) in fixed point:
    drawn from its own stream whenever needed, so it is the same at every draw."""
    return np.int64(np.rint(rng.gamma_mean1(akey, rng.S_TICKET, shape) * TICKET_FIX))


@njit(forceinline=True, _nrt=False, cache=True)
def _tickets(diff, cell, g, sanc, held, sign, ms, sm, tm):
    """A person's attempt multiplier ``tm`` (``_ticket_mult``, drawn once by the caller) added
    (sign +1) to or removed from each ticket kind that ``sanc`` blocks and ``held`` does not
    (firms buy no tickets). One test when no blocking sanction is in ``sanc``: the usual case."""
    tid, od, grp, _, _ = cell
    if grp == FIRM_GROUP or not (sanc & ~held & sm[3]):
        return
    tb = sm[1]
    for k in range(tb.shape[0]):
        if (sanc & tb[k]) and not (held & tb[k]):
            diff[tid, od, grp, g, ms.tickets + k] += sign * tm


@njit(forceinline=True, _nrt=False, cache=True)
def _ticket_mult_if(cell, sanc, sm):
    """The person's ticket multiplier when ``sanc`` holds a ticket-blocking sanction, else 0
    (unused): drawn once per change of standing, not once per ticket kind and side."""
    if cell[2] == FIRM_GROUP or not (sanc & sm[3]):
        return np.int64(0)
    return _ticket_mult(cell[3], sm[2])


@njit(forceinline=True, _nrt=False, cache=True)
def _flow(diff, cell, g, k, sign):
    """A flow of ``sign`` on the cell's day in measure ``k``: +sign that day, -sign the next."""
    tid, od, grp, _, _ = cell
    diff[tid, od, grp, g, k] += sign
    diff[tid, od + 1, grp, g, k] -= sign


@njit(forceinline=True, _nrt=False, cache=True)
def _entries(diff, cell, g, was, now, sign, ms):
    """Sanctions in ``now`` and not in ``was`` counted as entries (sign +1) on the cell's day."""
    bits = now & ~was
    k = ms.entered
    while bits:
        if bits & _ONE:
            _flow(diff, cell, g, k, sign)
        bits >>= _ONE
        k += 1


@njit(forceinline=True, _nrt=False, cache=True)
def _list_flows(diff, cell, g, l0, l1, gone, lever, i, ms):
    """One agent's list flows of a day at grade ``g``: lists left by cause (``gone``: performed,
    expired, reversed on appeal, from the day's timers), lists joined (what ``l1`` holds that
    ``l0`` less the lists left does not), and first listings ever (``lever`` updated). Flows
    are counted on counted days only (the cell's flag); first listings on every day (burn-in
    ones on output day 0)."""
    flows = cell[4]
    L = ms.false_listed - ms.listed
    perf, expd, rev = gone
    l0 = np.int64(l0)
    l1 = np.int64(l1)
    added = l1 & ~(l0 & ~(perf | expd | rev))
    first = added & ~np.int64(lever[i])
    lever[i] |= np.uint16(added)
    masks = (added, perf, expd, rev, first)
    for f in range(5):
        if f < 4 and not flows:
            continue
        m = masks[f]
        for l in range(L):
            if (m >> l) & 1:
                k = ms.list_flow + f * L + l
                if f == 4:
                    diff[cell[0], cell[1], cell[2], g, k] += 1
                else:
                    _flow(diff, cell, g, k, 1)


@njit(forceinline=True, _nrt=False, cache=True)
def _emit(diff, cell, sd, score, lists, lfalse, sign, scored, ms, sm, tm):
    """Add (sign +1) or remove (-1) one agent's contribution to a day's cell (thread, output
    day, group, the agent's key, whether flows count that day) at its grade: persons, score sum,
    under a restriction, under a false one, then per sanction (in force, false, through a link
    only), per list (listed, falsely listed) and per ticket kind blocked (``_tickets``).
    ``sm`` = (restrictions, the sanctions blocking each ticket kind, the multipliers' shape,
    every ticket-blocking sanction); ``tm``: the agent's ticket multiplier (``_ticket_mult_if``)."""
    tid, od, grp, _, _ = cell
    restrict = sm[0]
    g, sanc, fsanc, spill_only = sd
    diff[tid, od, grp, g, M_PERSONS] += sign
    if scored:
        diff[tid, od, grp, g, M_SCORE_SUM] += sign * score
    if sanc & restrict:
        diff[tid, od, grp, g, M_RESTRICTED] += sign
    if fsanc & restrict:
        diff[tid, od, grp, g, M_FALSE_RESTRICTED] += sign
    # each set bit k of each mask adds to measure first + k (a loop, not five inlined calls:
    # fewer copies for the compiler to inline)
    masks = (sanc, fsanc, spill_only, np.uint64(lists), np.uint64(lfalse))
    firsts = (ms.sanction, ms.false_sanction, ms.link_sanction, ms.listed, ms.false_listed)
    for q in range(5):
        bits = masks[q]
        k = firsts[q]
        while bits:
            if bits & _ONE:
                diff[tid, od, grp, g, k] += sign
            bits >>= _ONE
            k += 1
    _tickets(diff, cell, g, sanc, _ZERO, sign, ms, sm, tm)


@njit(forceinline=True, _nrt=False, cache=True)
def _emit_link(diff, cell, sd, sign, ms, sm, tm):
    """What links add to one agent's contribution: ``_emit`` of its standing less the same
    without the sanctions held only through a link (in force, through a link only, tickets)."""
    tid, od, grp, _, _ = cell
    restrict = sm[0]
    g, sanc, _, spill_only = sd
    _tickets(diff, cell, g, sanc, sanc & ~spill_only, sign, ms, sm, tm)
    if (sanc & restrict) and not (sanc & ~spill_only & restrict):
        diff[tid, od, grp, g, M_RESTRICTED] += sign
    bits = spill_only
    k = 0
    while bits:
        if bits & _ONE:
            diff[tid, od, grp, g, ms.sanction + k] += sign
            diff[tid, od, grp, g, ms.link_sanction + k] += sign
        bits >>= _ONE
        k += 1


@njit(forceinline=True, _nrt=False, cache=True)
def _transition(diff, cell, mode, old, new, scored, ms, sm):
    """One agent's change from ``old`` to ``new`` (each: standing, score, lists, false lists) in
    the day's cell, counted as ``mode`` says (``COUNT_*``), with the sanctions it enters on a
    counted day (links' part only: entries with them less entries without). Returns whether its
    standing or lists changed (a change of score alone moves only the score sum)."""
    sd0, s0, l0, lf0 = old
    sd1, s1, l1, lf1 = new
    if (l1 != l0 or sd1[0] != sd0[0] or sd1[1] != sd0[1] or sd1[2] != sd0[2] or sd1[3] != sd0[3]
            or lf1 != lf0):
        if mode == COUNT_FULL:
            tm = _ticket_mult_if(cell, sd0[1] | sd1[1], sm)
            _emit(diff, cell, sd0, s0, l0, lf0, -1, scored, ms, sm, tm)
            _emit(diff, cell, sd1, s1, l1, lf1, 1, scored, ms, sm, tm)
            if cell[4]:
                _entries(diff, cell, sd1[0], sd0[1], sd1[1], 1, ms)
        elif mode == COUNT_LINKS and (sd0[3] or sd1[3]):
            tm = _ticket_mult_if(cell, sd0[1] | sd1[1], sm)
            _emit_link(diff, cell, sd0, -1, ms, sm, tm)
            _emit_link(diff, cell, sd1, 1, ms, sm, tm)
            if cell[4]:
                _entries(diff, cell, sd1[0], sd0[1], sd1[1], 1, ms)
                _entries(diff, cell, sd1[0], sd0[1] & ~sd0[3], sd1[1] & ~sd1[3], -1, ms)
        return True
    if s1 != s0 and mode == COUNT_FULL and scored:
        tid, od, grp, _, _ = cell
        diff[tid, od, grp, sd1[0], M_SCORE_SUM] += s1 - s0
    return False


@njit(forceinline=True, _nrt=False, cache=True)
def _mark(flags, i, K, sd, spill, sm, was, counted):
    """The agent's ever-flags after a change to standing ``sd`` (``spill``: what reaches it
    through links) from sanctions ``was``; ``counted``: the change is after the first counted
    day, so sanctions it ends were in force on a counted day (``F_TRAVEL``, see ``tally``)."""
    restrict = sm[0]
    g, sanc, fsanc, _ = sd
    if counted and (was & sm[3]) and (was & ~sanc):
        flags[i] |= F_TRAVEL
    if g == K - 1:
        flags[i] |= F_LOWEST
    elif flags[i] & F_LOWEST:
        flags[i] |= F_LEFT_LOWEST
    if sanc & restrict:
        flags[i] |= F_RESTRICTED
    if fsanc & restrict:
        flags[i] |= F_FALSE_RESTRICTED
    if spill:
        flags[i] |= F_SPILL


# ---------------------------------------------------------------- the panel
@njit(forceinline=True, _nrt=False, cache=True)
def _panel_row(out, slot, pid, day, kind, code, rec, sensor):
    """Log one panel row in buffer ``slot`` (the agent's block + 1; 0 for rows written at a
    boundary): its state columns are filled after the day (``_fill_panel``)."""
    pbuf, pn = out.pbuf, out.pn
    n = pn[slot]
    if n < pbuf.shape[1]:
        pbuf[slot, n, P_AGENT] = pid
        pbuf[slot, n, P_DAY] = day
        pbuf[slot, n, P_KIND] = kind
        pbuf[slot, n, P_CODE] = code
        pbuf[slot, n, P_RECORDED] = rec
        pbuf[slot, n, P_SENSOR] = sensor
    pn[slot] = n + 1


@njit(forceinline=True, _nrt=False, cache=True)
def _fill_panel(out, slot, p_first, score, g, lists, sanc):
    """The state after the day, on every row the day logged."""
    pbuf = out.pbuf
    for r in range(p_first, min(out.pn[slot], pbuf.shape[1])):
        pbuf[slot, r, P_SCORE] = score
        pbuf[slot, r, P_GRADE] = g
        pbuf[slot, r, P_LISTS] = lists
        pbuf[slot, r, P_SANCTIONS] = np.int64(sanc)


@njit(forceinline=True, _nrt=False, cache=True)
def _panel_link(out, slot, pid, day, bits, score, lists, sd):
    """A panel row for a change of what reaches the agent through links."""
    p_first = out.pn[slot]
    _panel_row(out, slot, pid, day, KIND_LINK, np.int64(bits), 0, 0)
    _fill_panel(out, slot, p_first, score, sd[0], lists, sd[1])


# ---------------------------------------------------------------- acts
@njit(forceinline=True, _nrt=False, cache=True)
def agent_rate(i, subj, female, watched, B, X, traits, wbuf):
    """Total event rate per day of agent i; fills ``wbuf`` with each group's term."""
    lam = 0.0
    for g in range(B.grp_rate.shape[0]):
        w = 0.0
        if B.grp_subject[g] == subj:
            w = B.grp_rate[g]
            if B.grp_trait[g] >= 0:
                w *= traits[i, B.grp_trait[g]]
            if B.grp_false[g] >= 0:
                if female:
                    w *= B.grp_female[g]
                if watched:
                    w *= X.surv_mult
        wbuf[g] = w
        lam += w
    return lam


@njit(cache=True)
def detection_tables(B, X):
    """Detection probability and acceptance of a scored act by (act, place, watched): once per
    call rather than a power and an exponential per event."""
    A = B.p_detect.shape[0]
    pd_tab = np.empty((A, 2, 2))
    f_tab = np.empty((A, 2, 2))
    for x in range(A):
        for pl in range(2):
            for wt in range(2):
                pdx = B.p_detect[x, pl]
                if wt == 1 and pdx < 1.0:
                    pdx = 1.0 - (1.0 - pdx) ** X.surv_mult
                fx = X.act_accept[x]
                if X.act_deter[x] > 0.0:
                    fx *= np.exp(-X.act_deter[x] * pdx)
                pd_tab[x, pl, wt] = pdx
                f_tab[x, pl, wt] = fx
    return pd_tab, f_tab


@njit(forceinline=True, _nrt=False, cache=True)
def _choose(B, wbuf, u, u2):
    """The group (by its share of the agent's rate, ``u`` in [0, lam)) and the act within it
    (``u2`` in [0, 1))."""
    G = B.grp_rate.shape[0]
    g = 0
    cw = wbuf[0]
    while cw < u and g < G - 1:
        g += 1
        cw += wbuf[g]
    j = B.grp_start[g]
    if B.grp_start[g + 1] - j > 1:  # one act in the group: no choice
        while B.grp_cum[j] < u2 and j < B.grp_start[g + 1] - 1:
            j += 1
    return g, B.grp_acts[j]


@njit(forceinline=True, _nrt=False, cache=True)
def _near_threshold(score, g, band_min, window):
    K = band_min.shape[0]
    if g > 0 and band_min[g - 1] - score <= window:
        return True
    return g < K - 1 and score - band_min[g] < window


@njit(forceinline=True, _nrt=False, cache=True)
def _acceptance(R, X, tabs, a, urban, watched, scored, score, g_now, is_elder):
    """(probability the candidate true act a happens, probability a sensor records it) under
    behaviour response: deterrence by the chance of being recorded, chilling of lawful acts the
    regime punishes, gaming of good deeds near a grade boundary, acts needing a parent."""
    pd_tab, f_tab = tabs
    wi = 1 if watched else 0
    pd = pd_tab[a, urban, wi]
    f = f_tab[a, urban, wi] if scored else X.act_accept[a]
    if X.act_game[a] > 1.0:
        if not (scored and _near_threshold(score, g_now, R.band_min, X.game_window)):
            f /= X.act_game[a]
    if X.act_parent[a] and not is_elder:
        f = 0.0
    return f, pd


@njit(forceinline=True, _nrt=False, cache=True)
def _shadow(i, R, st, acc_t, l_before):
    """The true state after a day's records: the score and lists true records alone would give
    (the listings that rest on false records are ``lfalse``)."""
    st.strue[i] = shift_score(st.strue[i], acc_t[ACC_GAINED], acc_t[ACC_LOST], acc_t[ACC_CAP], R)
    true_bits = acc_t[ACC_LISTS] | threshold_lists(st.strue[i], R)
    new_bits = st.lists[i] & ~l_before
    st.lfalse[i] = (st.lfalse[i] | (new_bits & ~true_bits)) & ~true_bits & st.lists[i]


@njit(forceinline=True, _nrt=False, cache=True)
def _true_after_timer(i, cause, k, R, st, strue):
    """The true score after a timer fired (``strue``: the true scores as the kernel reads them)."""
    if cause == CAUSE_RECOVERY:
        if R.rec_restore[k] < 0:
            st.strue[i] = max(strue[i], R.score_init)
        else:
            st.strue[i] = max(strue[i], min(strue[i] + R.rec_restore[k], R.score_init))
    elif cause == CAUSE_EXPIRY or cause == CAUSE_REMOVAL:
        if R.list_on_rem[k] != NO_SCORE and not (st.lfalse[i] >> k) & 1:
            st.strue[i] = R.list_on_rem[k]
        if cause == CAUSE_EXPIRY and R.list_then[k] >= 0 and (st.lfalse[i] >> k) & 1:
            st.lfalse[i] |= np.uint16(1 << R.list_then[k])  # a false notice leads to a false filing


# ---------------------------------------------------------------- an agent's visit
@njit(forceinline=True, _nrt=False, cache=True)
def _fresh(i, akey, covered, R, st, linked):
    """An agent's state on day 0 (its initial score drawn when the regime spreads it)."""
    if linked:
        st.spill[i] = 0
        st.dirty[i] = 0
    s0 = R.score_init
    if R.score_sd > 0.0 and covered:
        s0 = int(np.rint(R.score_init + R.score_sd * rng.normal(akey, rng.S_SCORE0, 0)))
        s0 = min(max(s0, R.score_min), R.score_max)
    st.score[i] = s0
    st.strue[i] = s0
    st.lists[i] = 0
    st.lfalse[i] = 0
    st.lever[i] = 0
    for l in range(st.lexp.shape[1]):
        st.lexp[i, l] = BIG
        st.lrem[i, l] = BIG
    W = st.rec.shape[1]
    if W > REC_STAGE:
        st.rec[i, REC_DAY] = NEVER
        for x in range(REC_DAY + 1, REC_STAGE + 1):
            st.rec[i, x] = 0
    if W > REC_REV_LISTS:
        st.rec[i, REC_REV_DAY] = BIG
        st.rec[i, REC_REV_PTS] = 0
        st.rec[i, REC_REV_LISTS] = 0
    st.nev[i] = 0
    st.flags[i] = 0
    st.nbad[i] = 0
    return s0


@njit(forceinline=True, _nrt=False, cache=True)
def _reach_changed(i, tid, day, own_new, st, log, linked, logging):
    """The agent's own sanctions that reach others changed on ``day``: mark it for coupling at
    the boundary, or log the change for the replay after the pass."""
    if linked:
        st.dirty[i] = 1
    if logging:
        k = log.rn[tid]
        if k < log.rlog.shape[1]:
            log.rlog[tid, k, 0] = i
            log.rlog[tid, k, 1] = day
            log.rbits[tid, k] = own_new
        log.rn[tid] = k + 1  # past the capacity: the caller reruns with epochs


@njit(forceinline=True, _nrt=False, cache=True)
def _modes(fx, span, agents, visit, st):
    """What this call uses, as flags: compiled-out mechanisms are constants False."""
    f_links = fx[3]
    return (f_links and st.spill.shape[0] > 0,  # link state (spill, dirty)
            f_links and st.due.shape[0] > 0,  # due days: skip agents with nothing due
            f_links and agents.bound.shape[0] > 0,  # some agents stop at each boundary
            f_links and visit.agents.shape[0] > 0,  # only these agents run
            f_links and visit.quiet.shape[0] > 0,  # panel agents quiet in a first pass
            f_links and visit.sp_ptr.shape[0] > 0,  # link changes put on at boundaries
            f_links and span.relink,  # a rerun: count what links add
            f_links and span.log_reach)  # log changes of reaching sanctions



@njit(forceinline=True, _nrt=False, cache=True)
def _day_acts(fx, me, when, proc, R, B, X, st, out, scr):
    """The agent's events on one day, in order: choose the act, draw the next waiting time;
    a false match is recorded (and maybe appealed); a true act is thinned by the behaviour
    response, detected or not, counted, and accumulated if recorded (``acc``; ``acc_t`` the
    true ones). Returns (the next event time, points and lists an appeal will give back)."""
    f_acts, f_false, f_timers, _ = fx
    i, akey, grp, subj, acting, covered, urban, female, is_elder, mode, pid, tid, slot = me
    day, od, g_now, burn = when
    watched, lam, inv_lam, t = proc
    wbuf, _, acc, acc_t, tabs = scr
    reset_day(acc)
    reset_day(acc_t)
    rev_pts = 0
    rev_lists = 0
    while int(t) == day:
        c = st.nev[i]
        st.nev[i] = c + 1
        # group (high half) and act within the group (low half): one hash
        u, u2 = rng.halves(rng.draw(akey, rng.S_CHOICE, c))
        g, a = _choose(B, wbuf, u * lam, u2)
        t += rng.standard_exponential(akey, rng.S_WAIT, c + 1) * inv_lam
        fs = B.grp_false[g] if f_acts else -1
        scored = covered and R.act_rule[a] >= 0
        if fs >= 0:
            # a false match: a record of act a on this innocent agent
            if day >= burn and mode == COUNT_FULL:
                out.acts_day[tid, od, grp, a, A_FALSE] += 1
                out.acts_grade[tid, od, grp, g_now, A_FALSE] += 1
            if scored:
                add_act(acc, a, R)
                if (f_timers and X.appeal_p > 0.0
                        and rng.uniform(akey, rng.S_ACCEPT + 1, c) < X.appeal_p):
                    rev_pts -= R.act_points[a]
                    rev_lists |= R.act_lists[a]
            if pid >= 0:
                _panel_row(out, slot, pid, day - burn, KIND_FALSE, a, 1, fs + 1)
            continue
        # a candidate true act: behaviour response thins it
        f, pd = 1.0, 1.0
        if f_acts:
            f, pd = _acceptance(R, X, tabs, a, urban, watched, scored, st.score[i],
                                g_now, is_elder)
        if B.act_sched[a] >= 0:  # a rate on a schedule by date: drawn at its highest, thinned
            f *= B.sched_factor[B.act_sched[a], day]
        # thinning (high half) and detection (low half): one hash
        u_acc = 0.0
        u_det = 0.0
        if f < 1.0 or pd < 1.0:
            u_acc, u_det = rng.halves(rng.draw(akey, rng.S_ACCEPT, c))
        if f < 1.0 and u_acc >= f:
            continue
        recorded = pd >= 1.0 or u_det < pd
        if day >= burn and mode == COUNT_FULL:
            out.acts_day[tid, od, grp, a, A_TRUE] += 1
            out.acts_grade[tid, od, grp, g_now, A_TRUE] += 1
            if not recorded:
                out.acts_day[tid, od, grp, a, A_UNRECORDED] += 1
                out.acts_grade[tid, od, grp, g_now, A_UNRECORDED] += 1
        if scored and (R.act_points[a] < 0 or R.act_lists[a] != 0
                       or R.act_cap[a] < BIG):
            st.nbad[i] += 1
        if recorded and scored:
            add_act(acc, a, R)
            if f_false:
                add_act(acc_t, a, R)
        if pid >= 0:
            _panel_row(out, slot, pid, day - burn, KIND_ACT, a, recorded, 0)
    return t, rev_pts, rev_lists



@njit(forceinline=True, _nrt=False, cache=True)
def _start(me, first, tables, agents, st, log, out, wbuf):
    """An agent's day 0 (``first`` = (score, lists, watched, burn-in days, logging)): its
    standing, its rate and first waiting time, its contribution counted, its flags, its panel
    row. Returns (standing, rate, 1 / rate, first event time)."""
    i, akey, grp, subj, acting, covered, urban, female, is_elder, mode, pid, tid, slot = me
    s_i, l_i, watched, burn, logging = first
    R, B, X, ms = tables
    K = R.band_min.shape[0]
    sm = (np.uint64(X.restrict_mask), R.ticket_block, R.ticket_shape, R.ticket_any)  # _emit
    inv_lam = 0.0
    cur = _standing(R, covered, R.held[subj], s_i, s_i, l_i, np.uint16(0), _ZERO)
    if logging:  # what its record passes on through links (unmasked: ``_own_record``)
        log.rstate[i] = _own_record(R, covered, s_i, l_i) & np.uint64(
            X.reach_children | X.reach_rep | X.reach_firms)
    lam = 0.0
    if acting:
        lam = agent_rate(i, subj, female, watched, B, X, agents.traits, wbuf)
    t = np.inf
    if lam > 0.0:
        inv_lam = 1.0 / lam
        t = rng.standard_exponential(akey, rng.S_WAIT, 0) * inv_lam
    if mode == COUNT_FULL:
        cell = (tid, 0, grp, akey, burn == 0)
        _emit(out.diff, cell, cur, s_i, l_i, np.uint16(0), 1, covered, ms, sm,
              _ticket_mult_if(cell, cur[1], sm))
        if burn == 0:  # day 0 counted: what the agent starts with it enters
            _entries(out.diff, cell, cur[0], _ZERO, cur[1], 1, ms)
    _mark(st.flags, i, K, cur, _ZERO, sm, _ZERO, False)
    if pid >= 0:
        p_first = out.pn[slot]
        _panel_row(out, slot, pid, 0 - burn, KIND_START, 0, 0, 0)
        _fill_panel(out, slot, p_first, st.score[i], cur[0], st.lists[i], cur[1])
    return cur, lam, inv_lam, t


@njit(forceinline=True, _nrt=False, cache=True)
def _link_change(me, change, cur, tables, st, out, strue):
    """What reaches the agent through links changes at a boundary, before the day's events (as
    ``couple`` does at the end of an epoch); nothing else changes. ``change`` = (day, burn-in
    days, new link bits, the bits before, whether ``cur`` is the standing). Returns the new
    standing."""
    i, akey, grp, subj, acting, covered, urban, female, is_elder, mode, pid, tid, slot = me
    day, burn, new, before, have = change
    R, B, X, ms = tables
    sm = (np.uint64(X.restrict_mask), R.ticket_block, R.ticket_shape, R.ticket_any)  # _emit
    if not have:
        cur = _standing(R, covered, R.held[subj], st.score[i], strue[i], st.lists[i], st.lfalse[i],
                        before)
    nxt = _standing(R, covered, R.held[subj], st.score[i], strue[i], st.lists[i], st.lfalse[i], new)
    now = (st.score[i], st.lists[i], st.lfalse[i])
    _transition(out.diff, (tid, max(day - burn, 0), grp, akey, day >= burn), mode, (cur,) + now,
                (nxt,) + now, covered, ms, sm)
    _mark(st.flags, i, R.band_min.shape[0], nxt, new, sm, cur[1], day > burn)
    if pid >= 0:
        _panel_link(out, slot, pid, day - burn, new, st.score[i], st.lists[i], nxt)
    return nxt


@njit(forceinline=True, _nrt=False, cache=True)
def _fire_due(me, day, burn, R, st, out, causes, strue):
    """Fire the agent's timers due on ``day`` (reversals, listing ends, removals, recoveries):
    the true state after them, and a panel row for each. Returns the lists left (bit masks):
    (performed, expired, reversed on appeal)."""
    i, akey, grp, subj, acting, covered, urban, female, is_elder, mode, pid, tid, slot = me
    l0 = np.int64(st.lists[i])
    nc = fire_timers(i, day, akey, True, R, st, causes)
    perf = np.int64(0)
    expd = np.int64(0)
    rev = np.int64(0)
    for c in range(nc):
        cause, k = causes[c, 0], causes[c, 1]
        _true_after_timer(i, cause, k, R, st, strue)
        if cause == CAUSE_REMOVAL:
            perf |= np.int64(1) << k
        elif cause == CAUSE_EXPIRY:
            expd |= np.int64(1) << k
        elif cause == CAUSE_REVERSAL:
            rev |= k & l0
        if pid >= 0:
            _panel_row(out, slot, pid, day - burn, KIND_TIMER,
                       cause * CAUSE_CODE + k, 0, 0)
    st.lfalse[i] &= st.lists[i]
    return perf, expd, rev


@njit(forceinline=True, _nrt=False, cache=True)
def _visit_agent(fx, i, ii, where, md, span, tables, agents, visit, io, scr):
    """Run agent i (visit index ii) over days [d0, end): its start, then each day with an
    event, in order: link changes put on at a boundary, due timers, the day's acts (drawn,
    thinned, detected, accumulated, applied), the change of standing counted. ``where`` =
    (thread: its output slice, panel buffer: the agent's block + 1); ``tables`` = (regime,
    behaviour, mechanisms, measures); ``io`` = (state, reach log, outputs)."""
    f_acts, f_false, f_timers, _ = fx
    R, B, X, ms = tables
    st, log, out = io
    tid, slot = where
    linked, has_due, has_bound, has_visit, has_quiet, has_sched, relink, logging = md
    wbuf, causes, acc, acc_t, tabs = scr
    d0, d1, burn = span.d0, span.d1, span.burn
    K = R.band_min.shape[0]
    reach = np.uint64(X.reach_children | X.reach_rep | X.reach_firms)
    sm = (np.uint64(X.restrict_mask), R.ticket_block, R.ticket_shape, R.ticket_any)  # _emit
    strue = st.strue if f_false else st.score  # without false records the two never differ
    # who the agent is
    is_firm = i >= span.n_persons
    gid = (span.firm_offset + i - span.n_persons) if is_firm else (span.person_offset + i)
    akey = rng.agent_key(span.seed, gid)
    grp = agents.group[i]
    subj = 1 if is_firm else 0
    acting = agents.age[i] > 0
    covered = acting and ((R.covers_firm and is_firm) or (R.covers_person and not is_firm))
    urban = 0 if (grp == FIRM_GROUP or grp % 2 == 0) else 1  # column of p_detect
    female = grp < 2
    is_elder = agents.elder.shape[0] > 0 and agents.elder[i]
    qi = has_quiet and visit.quiet[i] != 0
    mode = COUNT_FULL if (qi if relink else not qi) else (COUNT_LINKS if relink else COUNT_NONE)
    pid = agents.panel[i] if agents.panel.shape[0] > 0 and mode == COUNT_FULL else -1
    k_sp = visit.sp_ptr[ii] if has_sched else 0  # the agent's next link change
    k_end = visit.sp_ptr[ii + 1] if has_sched else 0
    d_sp = visit.sp_day[k_sp] if k_sp < k_end else BIG
    end = d1 if has_bound and agents.bound[i] else span.d_end
    me = (i, akey, grp, subj, acting, covered, urban, female, is_elder, mode, pid, tid, slot)
    # its state as the visit starts: on day 0 from the values just set (no load waiting on
    # the stores), later from the arrays; links change it between visits only
    s_i = _fresh(i, akey, covered, R, st, linked) if d0 == 0 else np.int64(st.score[i])
    l_i = np.uint16(0) if d0 == 0 else st.lists[i]
    sp_i = st.spill[i] if linked and d0 > 0 else _ZERO
    g0 = grade(R, s_i) if covered else np.int64(K)
    watched = f_acts and covered and (X.surv_grades[g0] or (l_i & X.surv_lists) != 0)
    lam = -1.0  # the agent's rates, computed when first needed
    inv_lam = 0.0  # 1 / lam: waiting times multiply instead of dividing at every event
    t = st.next_t[i] if d0 > 0 else 0.0
    # the agent's current standing, once known
    have = False
    cur = (np.int64(K), _ZERO, _ZERO, _ZERO)
    if d0 == 0:
        cur, lam, inv_lam, t = _start(me, (s_i, l_i, watched, burn, logging), tables, agents, st,
                                      log, out, wbuf)
        have = True
    td = BIG
    if f_timers and covered and d0 > 0:  # a fresh agent (day 0) has no timer running
        td = next_timer(i, R, st)
    while True:
        ad = int(t) if t < 1e15 else BIG
        day = min(td, ad, d_sp)
        if day >= end:
            break
        od = max(day - burn, 0)
        cell = (tid, od, grp, akey, day >= burn)
        if has_sched and day == d_sp:
            # sanctions through a link change at a boundary, before the day's events (as
            # ``couple`` at the end of an epoch): nothing else changes
            new = visit.sp_bits[k_sp]
            k_sp += 1
            d_sp = visit.sp_day[k_sp] if k_sp < k_end else BIG
            cur = _link_change(me, (day, burn, new, sp_i, have), cur, tables, st, out, strue)
            sp_i = new
            have = True
            if td != day and ad != day:
                continue
        old = (np.int64(st.score[i]), strue[i], st.lists[i], st.lfalse[i])
        p_first = out.pn[slot]
        changed = False
        gone = (np.int64(0), np.int64(0), np.int64(0))
        if f_timers and covered and td == day:
            gone = _fire_due(me, day, burn, R, st, out, causes, strue)
            changed = True
        if ad == day:
            if lam < 0.0:
                lam = 0.0
                if acting:
                    lam = agent_rate(i, subj, female, watched, B, X, agents.traits, wbuf)
                if lam > 0.0:
                    inv_lam = 1.0 / lam
            g_now = cur[0] if have else (grade(R, old[0]) if covered else np.int64(K))
            t, rev_pts, rev_lists = _day_acts(fx, me, (day, od, g_now, burn),
                                              (watched, lam, inv_lam, t), R, B, X, st, out, scr)
            if covered and day_changes(acc):
                changed = True
                l_before = st.lists[i]
                close_day(i, day, acc, akey, True, R, st)
                if f_false:
                    _shadow(i, R, st, acc_t, l_before)
                if (f_timers and (rev_pts != 0 or rev_lists != 0)
                        and st.rec.shape[1] > REC_REV_LISTS):
                    st.rec[i, REC_REV_DAY] = day + X.appeal_delay
                    st.rec[i, REC_REV_PTS] += rev_pts
                    st.rec[i, REC_REV_LISTS] |= rev_lists & st.lfalse[i]
        if changed:
            if not have:
                cur = _standing(R, covered, R.held[subj], old[0], old[1], old[2], old[3], sp_i)
            if f_timers:
                td = next_timer(i, R, st)
            nxt = _standing(R, covered, R.held[subj], st.score[i], strue[i], st.lists[i], st.lfalse[i],
                            sp_i)
            _transition(out.diff, cell, mode, (cur, old[0], old[2], old[3]),
                        (nxt, np.int64(st.score[i]), st.lists[i], st.lfalse[i]),
                        covered, ms, sm)
            if mode == COUNT_FULL and (old[2] != st.lists[i] or gone[0] or gone[1] or gone[2]):
                _list_flows(out.diff, cell, nxt[0], old[2], st.lists[i], gone, st.lever, i, ms)
            # the agent's own reaching sanctions (a link's may hide a change)
            own_new = _own_record(R, covered, st.score[i], st.lists[i]) & reach
            if own_new != _own_record(R, covered, old[0], old[2]) & reach:
                _reach_changed(i, tid, day, own_new, st, log, linked, logging)
            have = True
            _mark(st.flags, i, K, nxt, sp_i, sm, cur[1], day > burn)
            cur = nxt
            w_new = f_acts and (X.surv_grades[cur[0]] or (st.lists[i] & X.surv_lists) != 0)
            if w_new != watched:
                # a watched agent's detection changes: redraw (Poisson: memoryless)
                watched = w_new
                lam = agent_rate(i, subj, female, watched, B, X, agents.traits, wbuf)
                inv_lam = 1.0 / lam if lam > 0.0 else 0.0
                t = day + 1 + rng.exponential(akey, rng.S_EPOCH, day, lam)
        if pid >= 0 and out.pn[slot] > p_first:
            if not have:
                have = True
                cur = _standing(R, covered, R.held[subj], st.score[i], strue[i], st.lists[i],
                                st.lfalse[i], sp_i)
            _fill_panel(out, slot, p_first, st.score[i], cur[0], st.lists[i], cur[1])
    if st.next_t.shape[0] > 0:
        st.next_t[i] = t
    if has_sched:
        st.spill[i] = sp_i
    if has_due:
        st.due[i] = min(td, int(t) if t < 1e9 else BIG)


def _compile_kernel(features: int):
    """``run_epoch`` with the code of the mechanisms in ``features`` only (``layout.FEAT_*``
    bits). ``features`` is a closure constant: the compiler drops the branches of the mechanisms
    left out, and Numba's cache keys each kernel by it."""
    f_acts = (features & FEAT_ACTS) != 0
    f_false = (features & FEAT_FALSE) != 0
    f_timers = (features & FEAT_TIMERS) != 0
    f_links = (features & FEAT_LINKS) != 0

    # no reference counting (``_nrt=False``): the records' arrays are read at every event, and
    # counting each read (an atomic add and subtract) made the kernel ten times slower; so the
    # kernel allocates nothing: its scratch arrays come from ``run_epoch``
    @njit(nogil=True, cache=True, _nrt=False)
    def run_blocks(tid, work, span, R, B, X, ms, agents, visit, st, log, out):
        """One thread's share of a call: blocks of agents taken one at a time from the counter
        ``work[0]`` (a slower core simply takes fewer), each agent run by ``_visit_agent``;
        ``work`` also holds each thread's scratch rows and the detection tables."""
        fx = (f_acts, f_false, f_timers, f_links)  # constants: the compiler drops what is off
        md = _modes(fx, span, agents, visit, st)
        has_due, has_visit = md[1], md[3]
        counter, wbuf, causes, acc, acc_t, pd_tab, f_tab = work
        scr = (wbuf[tid], causes[tid], acc[tid], acc_t[tid], (pd_tab, f_tab))
        n = agents.group.shape[0]
        nv = visit.agents.shape[0] if has_visit else n
        block = (nv + span.n_blocks - 1) // span.n_blocks
        while True:
            b = fetch_add(counter, 0, 1)
            if b >= span.n_blocks:
                break
            for ii in range(b * block, min(nv, (b + 1) * block)):
                i = visit.agents[ii] if has_visit else ii
                if span.d0 > 0 and has_due and st.due[i] >= span.d1:
                    continue  # nothing happens to this agent in this epoch: one compare
                _visit_agent(fx, i, ii, (tid, b + 1), md, span, (R, B, X, ms), agents, visit,
                             (st, log, out), scr)

    def run_epoch(span, R, B, X, ms, agents, visit, st, log, out):
        """Run days [d0, d1) for the agents of a community (``visit.agents``, or all), one thread
        per output slice, in fixed blocks (``span.n_blocks``: results never depend on threads).

        Agents that no link can reach or be reached from (``agents.bound`` 0) run on to
        ``span.d_end`` in the first epoch: epochs exist for links only, and revisiting an agent
        costs cache misses. With ``span.log_reach``, each change of an agent's sanctions that
        reach others is logged (agent, day, bits) so that links can be replayed after one pass:
        to children by ``couple``, between adults by rerunning (``span.relink``) the firms and
        representatives that links reach (``visit``) with the sanctions that reach them put on
        at each boundary (from ``link_schedule``): they add only what the links add to the first
        pass's counts, except the ``visit.quiet`` ones (panel agents), which the first pass ran
        without output.

        The step order of each agent (``visit_agent``): start (day 0: initial score, standing,
        first waiting time, counted), then for each day with an event: (1) link changes due that
        day; (2) due timers (listing ends, removals, recoveries, reversals) and the true state
        after them; (3) the day's acts: choose the act, thin it (behaviour response), detect it
        (sensors), count it, accumulate recorded ones, false matches and their appeals; apply the
        day (points, lists, thresholds), the false-record shadow; (4) the change of standing
        counted (``_transition``), reaching sanctions logged, flags (``_mark``), a redraw if the
        agent's surveillance changed; (5) the panel rows of the day."""
        nt = out.diff.shape[0]
        work = (np.zeros(1, np.int64),  # the next block
                np.empty((nt, max(B.grp_rate.shape[0], 1))),  # each group's share of the rate
                np.empty((nt, 2 * st.lexp.shape[1] + R.rec_after.shape[0] + 3, 2), np.int64),
                np.empty((nt, ACC_FIELDS), np.int64),  # the day's recorded acts
                np.empty((nt, ACC_FIELDS), np.int64),  # and its true ones
                *detection_tables(B, X))
        on_threads(run_blocks, nt, work, span, R, B, X, ms, agents, visit, st, log, out)

    run_epoch.blocks = run_blocks  # the compiled code (its cache, its signatures)
    return run_epoch


run_epoch = _compile_kernel(FEAT_ALL)  # every mechanism in: the kernel of almost every scenario
_KERNELS = {FEAT_ALL: run_epoch}


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(nt: int) -> ThreadPoolExecutor:
    """The threads that run a kernel's blocks: one per output slice, kept for the process (the
    compiled code releases the GIL)."""
    pool = _POOLS.get(nt)
    if pool is None:
        pool = _POOLS[nt] = ThreadPoolExecutor(max_workers=nt, thread_name_prefix="credsim")
    return pool


def on_threads(fn, nt: int, *args) -> None:
    """``fn(t, *args)`` for each thread t < nt at once (``fn`` compiled with ``nogil``): each
    writes its own output slice ``t``."""
    if nt == 1:
        fn(0, *args)
        return
    futures = [_pool(nt).submit(fn, t, *args) for t in range(nt)]
    for f in futures:
        f.result()


def kernel_for(features: int):
    """The kernel compiled for the mechanisms in ``features`` (``layout.FEAT_*`` bits; see
    ``engine.mechanism_features``). Each set is a kernel of its own, compiled at its first call
    and cached on disk like the others: the engine asks for two sets only."""
    k = _KERNELS.get(features)
    if k is None:
        k = _KERNELS[features] = _compile_kernel(features)
    return k


# ---------------------------------------------------------------- links at boundaries
@njit(forceinline=True, _nrt=False, cache=True)
def _own(x, n_persons, R, agents, st):
    """Sanctions agent x holds from its own state (not through links)."""
    is_firm = x >= n_persons
    if agents.age[x] == 0 or not ((R.covers_firm and is_firm) or (R.covers_person and not is_firm)):
        return _ZERO
    return sanctions_of(R, grade(R, st.score[x]), st.lists[x])


@njit(forceinline=True, _nrt=False, cache=True)
def _firm_targets(i, n_persons, links, cand, nc):
    """Append to ``cand`` (from ``nc``) the agents linked to ``i`` through firms: the firms a
    person is responsible for, or a firm's responsible persons (legal representative first),
    up to ``MAX_TARGETS`` in all. Returns the new count. ``couple`` and ``link_schedule`` reach
    the same agents through it."""
    if i < n_persons:
        for k in range(links.rf_start[i], links.rf_start[i + 1]):
            if nc < MAX_TARGETS:
                cand[nc] = n_persons + links.rf[k]
                nc += 1
    else:
        f = i - n_persons
        for j in range(links.rep.shape[1]):
            if nc < MAX_TARGETS and (j == 0 or links.rep[f, j] != links.rep[f, 0]):
                cand[nc] = links.rep[f, j]
                nc += 1
    return nc


@njit(forceinline=True, _nrt=False, cache=True)
def _reaching(m, n_persons, R, X, agents, links, st, rstate, households, legal_reps):
    """The sanctions that reach agent m through its links now (household members' from
    ``rstate`` when it is given, else from their records)."""
    new = _ZERO
    if m < n_persons:
        if households and agents.age[m] == 0:
            h = links.hh_of[m]
            for x in range(links.hh_start[h], links.hh_start[h + 1]):
                if rstate.shape[0] > 0:
                    new |= rstate[x] & X.reach_children
                else:
                    new |= _own(x, n_persons, R, agents, st) & X.reach_children
        if legal_reps:
            for k in range(links.rf_start[m], links.rf_start[m + 1]):
                new |= _own(n_persons + links.rf[k], n_persons, R, agents, st) & X.reach_rep
    elif legal_reps:
        for j in range(links.rep.shape[1]):
            new |= _own(links.rep[m - n_persons, j], n_persons, R, agents, st) & X.reach_firms
    return new


@njit(cache=True)
def couple(span, todo, rstate, R, X, ms, agents, links, st, out, legal_reps):
    """Joint punishment through links, applied at an epoch boundary (``span.d0``, the first day
    of the next epoch): sanctions that reach a household's children or a firm's legal
    representative (and back, to the firms a person represents) are put on them, or lifted. Only
    the links of the agents in ``todo`` (whose reaching sanctions changed during the epoch) are
    visited. With a non-empty ``rstate``, household members' reaching sanctions are read from it
    (their state at the boundary, replayed from the reach log) instead of their records; then
    households are the only links (``legal_reps`` False)."""
    day, n_persons = span.d0, span.n_persons
    households = X.households
    K = R.band_min.shape[0]
    cell_day = max(day - span.burn, 0)
    sm = (np.uint64(X.restrict_mask), R.ticket_block, R.ticket_shape, R.ticket_any)  # _emit
    cand = np.empty(MAX_TARGETS, np.int64)
    for q in range(todo.shape[0]):
        i = todo[q]
        nc = 0
        if i < n_persons and households:
            h = links.hh_of[i]
            for m in range(links.hh_start[h], links.hh_start[h + 1]):
                if agents.age[m] == 0 and nc < MAX_TARGETS:
                    cand[nc] = m
                    nc += 1
        if legal_reps:
            nc = _firm_targets(i, n_persons, links, cand, nc)
        for c in range(nc):
            m = cand[c]
            new = _reaching(m, n_persons, R, X, agents, links, st, rstate, households, legal_reps)
            if new == st.spill[m]:
                continue
            covered = agents.age[m] > 0 and ((R.covers_firm and m >= n_persons)
                                             or (R.covers_person and m < n_persons))
            now = (np.int64(st.score[m]), st.lists[m], st.lfalse[m])
            held = R.held[1 if m >= n_persons else 0]
            sd0 = _standing(R, covered, held, now[0], st.strue[m], now[1], now[2], st.spill[m])
            sd1 = _standing(R, covered, held, now[0], st.strue[m], now[1], now[2], new)
            st.spill[m] = new
            st.due[m] = day
            gid = (span.firm_offset + m - n_persons) if m >= n_persons else (span.person_offset + m)
            cell = (0, cell_day, agents.group[m], rng.agent_key(span.seed, gid), day >= span.burn)
            _transition(out.diff, cell, COUNT_FULL, (sd0,) + now, (sd1,) + now, covered, ms, sm)
            _mark(st.flags, m, K, sd1, new, sm, sd0[1], day > span.burn)
            if agents.panel.shape[0] > 0 and agents.panel[m] >= 0:
                _panel_link(out, 0, agents.panel[m], day - span.burn, new, now[0], now[1], sd1)


@njit(cache=True)
def link_schedule(day, todo, n_persons, links, rstate, X, cur, out_agent, out_bits):
    """The links between adults at boundary ``day``, replayed: for each firm or legal
    representative linked to an agent of ``todo`` (whose reaching sanctions changed in the
    epoch), the sanctions that reach it from its links' state on ``day`` (``rstate``). Each
    change from ``cur`` is appended to ``out_*``; returns how many. Same targets and the same
    sanctions as ``couple`` without households."""
    cand = np.empty(MAX_TARGETS, np.int64)
    n_out = 0
    for q in range(todo.shape[0]):
        nc = _firm_targets(todo[q], n_persons, links, cand, 0)
        for c in range(nc):
            m = cand[c]
            new = _ZERO
            if m < n_persons:
                for k in range(links.rf_start[m], links.rf_start[m + 1]):
                    new |= rstate[n_persons + links.rf[k]] & X.reach_rep
            else:
                for j in range(links.rep.shape[1]):
                    new |= rstate[links.rep[m - n_persons, j]] & X.reach_firms
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


def recorded_columns(acts: np.ndarray) -> np.ndarray:
    """Act counters (true, unrecorded, false) as kept by the kernel -> (true, recorded, false),
    in place: recorded = true - unrecorded + false."""
    acts[..., A_UNRECORDED] = acts[..., A_TRUE] - acts[..., A_UNRECORDED] + acts[..., A_FALSE]
    return acts


def thread_count() -> int:
    return get_num_threads()
