"""Run one community: synthesize its agents, run its epochs, couple them, return aggregates.

A community's result depends only on the scenario, the seed and the community: never on the
thread count, the worker or the executor (integer aggregates, counter-based randomness).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from numba import parallel_chunksize

from credsim.compile import BehaviourTables, MechanismTables, RegimeTables
from credsim.kernel import (
    MAX_TARGETS,
    couple,
    kernel_for,
    link_schedule,
    recorded_columns,
    run_epoch,
    set_in_order,
    thread_count,
)
from credsim.layout import (
    FEAT_ALL,
    GROUPS,
    HARM_COLS,
    PANEL_COLS,
    REC_FIELDS,
    REC_STAGE,
    Measures,
)
from credsim.mechanisms import kernel_features
from credsim.peer import peer_round
from credsim.population import Community
from credsim.synthesis import households, legal_representatives, synthesize
from credsim.tally import tally

N_BLOCKS = 64  # work units per community: fixed, so results never depend on threads


@dataclass(frozen=True)
class EngineSpec:
    """Everything a worker needs to run any community of a scenario (picklable)."""

    seed: int
    days: int
    burn_in: int
    epoch_days: int
    shares: np.ndarray
    household_size: float
    regime: RegimeTables
    behaviour: BehaviourTables
    mechanisms: MechanismTables
    n_sanctions: int
    n_lists: int
    n_grades: int  # bands; index n_grades = unscored
    panel_rate: float
    panel_cap: int
    peer: tuple | None = None  # (contacts, ratings_per_day, memory, quality_mean, sd, noise_sd)

    @property
    def measures(self) -> Measures:
        """Where each measure of a daily cell sits (``measures.count`` of them)."""
        return Measures.of(self.n_sanctions, self.n_lists)


@dataclass
class CommunityResult:
    """Aggregates of one community. ``diff`` is a difference array over days (prefix-sum it)."""

    index: int
    province: int
    persons: int
    firms: int
    diff: np.ndarray  # int64[days+1, groups, grades+1, measures]
    acts_day: np.ndarray  # int64[days, groups, acts, 3] (true, recorded, false)
    acts_grade: np.ndarray  # int64[days, groups, grades+1, 3]
    score_hist: np.ndarray  # int64[score_max-score_min+1] final scores of scored agents
    harm: np.ndarray  # int64[groups, 3 buckets, HARM_COLS]
    panel: np.ndarray  # int64[rows, PANEL_COLS] with global agent index in column 0
    events: int

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "meta": np.array([self.index, self.province, self.persons, self.firms, self.events]),
            "diff": self.diff, "acts_day": self.acts_day, "acts_grade": self.acts_grade,
            "score_hist": self.score_hist, "harm": self.harm, "panel": self.panel,
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> CommunityResult:
        m = a["meta"]
        return cls(int(m[0]), int(m[1]), int(m[2]), int(m[3]), a["diff"], a["acts_day"],
                   a["acts_grade"], a["score_hist"], a["harm"], a["panel"], int(m[4]))


class _Scratch(threading.local):
    """Per-agent arrays reused from one community to the next in the same worker (and thread).
    Fresh memory costs a page fault per 4 KB at first touch: about 80 bytes of state per agent
    made that a third of the kernel's time on agents with no event."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}


_scratch = _Scratch()


def scratch(name: str, shape: tuple[int, ...], dtype, fill=None) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` from this thread's scratch memory (uninitialised
    unless ``fill`` is given). Valid until the next call with the same name."""
    size = int(np.prod(shape))
    a = _scratch.arrays.get(name)
    if a is None or a.dtype != np.dtype(dtype) or a.size < size:
        _scratch.arrays.pop(name, None)
        a = np.empty(size, dtype)
        _scratch.arrays[name] = a
    v = a[:size].reshape(shape)
    if fill is not None:
        v.fill(fill)
    return v


def release_scratch() -> None:
    """Free this thread's scratch memory (after a run)."""
    _scratch.arrays.clear()


def mechanism_features(spec: EngineSpec, links: bool) -> int:
    """The mechanisms the kernel must be compiled with for a scenario (``layout.FEAT_*`` bits).

    Each set of mechanisms is a kernel of its own, compiled once and cached; to keep that to two
    kernels, a scenario gets the kernel with every mechanism unless it has a use for none of
    them: all acts recorded and accepted as drawn (perfect detection, no behaviour response, no
    false matches, no surveillance), no lists, recoveries or appeals, and no links. Then its
    kernel has none of their code (on points-v2, 0.68 times the time of the full kernel) and gives
    the same results."""
    return kernel_features(spec, links)  # each mechanism's rule: credsim.mechanisms


def run_community(spec: EngineSpec, c: Community, replay: bool = True) -> CommunityResult:
    """Run one community. With ``replay``, every agent runs the horizon in one visit and the
    links are replayed from a log of the changes of sanctions that reach others: to children,
    from their household's log; between adults, by running firms and their legal representatives
    a second time with the sanctions that reach them from that log put on at each boundary (an
    agent's own records never depend on what reaches it). The same results as stopping every
    agent at each epoch boundary. A log too long for its buffer falls back to the epochs."""
    n = c.agents
    R, B, X = spec.regime, spec.behaviour, spec.mechanisms
    T = B.trait_sigma.shape[0]
    L, S = spec.n_lists, spec.n_sanctions
    A = B.p_detect.shape[0]
    K1 = spec.n_grades + 1
    G = len(GROUPS)
    nt = thread_count()

    group = scratch("group", (n,), np.int8)
    age = scratch("age", (n,), np.int8)
    traits = scratch("traits", (n, max(T, 1)), np.float32)
    # the anonymous panel: local index of each sampled agent, -1 for the rest (empty without one)
    panel = scratch("panel", (c.agents if spec.panel_rate > 0 else 0,), np.int32)
    synthesize(spec.seed, c.person_offset, c.persons, c.firm_offset, c.firms, spec.shares,
               B.trait_sigma, B.trait_stream, group, age, traits, spec.panel_rate, panel)
    # links are built only when something uses them (coupling, or acts that need a parent)
    if X.households or X.act_parent.any():
        hh_start, hh_of, elder = households(
            spec.seed, c, spec.household_size, age,
            out=(scratch("hh_start", (c.persons + 1,), np.int64),
                 scratch("hh_of", (c.persons,), np.int32), scratch("elder", (n,), np.bool_)))
    else:
        hh_start, hh_of = np.zeros(1, np.int64), np.zeros(0, np.int32)
        elder = np.zeros(0, np.bool_)
    # legal representatives matter only when some sanction reaches across the firm link
    links_adults = bool(X.legal_reps and (X.reach_rep or X.reach_firms))
    if links_adults:
        rep, rf_start, rf = legal_representatives(spec.seed, c, age)
    else:
        rep, rf_start, rf = np.zeros(c.firms, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64)
    # links are replayed from a log unless a sanction reaches both children and across firm
    # links (then a rep's spilled sanction could pass on to their children) or peers rate
    kids = X.households and bool(X.reach_children)
    replay = (replay and X.coupled and (kids or links_adults) and spec.peer is None
              and not (links_adults and X.reach_children & (X.reach_rep | X.reach_firms)))
    rerun = replay and links_adults  # firms and representatives that links reach: run again
    epochs = not replay
    empty8, empty64, emptyu = np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.uint64)
    # agents that stop at each epoch boundary, or with a rerun, the agents a link may reach
    bound = _bound(spec, c, age, hh_start, hh_of, rep, children=epochs) if epochs or rerun else empty8
    coupled = X.coupled and (X.reach_children or X.reach_rep or X.reach_firms)
    coupled = coupled or spec.peer is not None
    linked = n if coupled else 0  # agents with link state (spill, dirty, due)
    # record columns: last deduction and recovery stage (4) when the regime recovers points,
    # and a pending reversal (7) when appeals can succeed
    W = REC_FIELDS if X.appeal_p > 0.0 else (REC_STAGE + 1 if R.rec_after.shape[0] else 0)

    # the kernel initialises every agent's state on day 0 (links, flags and timers included)
    score = scratch("score", (n,), np.int32)
    strue = scratch("strue", (n,), np.int32)
    lists = scratch("lists", (n,), np.uint16)
    lfalse = scratch("lfalse", (n,), np.uint16)
    lexp = scratch("lexp", (n, L), np.int32)
    lrem = scratch("lrem", (n, L), np.int32)
    rec = scratch("rec", (n, W), np.int32)
    single = not epochs or not coupled  # one visit per agent: nothing to keep between epochs
    next_t = scratch("next_t", (0 if single else n,), np.float64)
    nev = scratch("nev", (n,), np.int32)
    flags = scratch("flags", (n,), np.uint8)
    nbad = scratch("nbad", (n,), np.int16)
    spill = scratch("spill", (linked,), np.uint64)
    dirty = scratch("dirty", (linked,), np.uint8)
    due = scratch("due", (linked,), np.int32)  # first day something may happen to the agent

    diff = np.zeros((nt, spec.days + 1, G, K1, spec.measures.count), np.int64)
    acts_day = np.zeros((nt, spec.days, G, A, 3), np.int32)
    acts_grade = np.zeros((nt, spec.days, G, K1, 3), np.int32)
    n_panel = int((panel >= 0).sum()) if len(panel) else 0
    cap = max(16, min(spec.panel_cap, 64 * n_panel + 16))
    pbuf = np.zeros((nt, cap if n_panel else 1, PANEL_COLS), np.int64)
    pn = np.zeros(nt, np.int64)

    total = spec.burn_in + spec.days
    step = spec.epoch_days if coupled else total
    log_cap = n // 4 + 1024 if replay else 0
    rstate = scratch("rstate", (n if replay else 0,), np.uint64)
    rlog = scratch("rlog", (nt, log_cap, 2), np.int64)
    rbits = scratch("rbits", (nt, log_cap), np.uint64)
    rn = np.zeros(nt, np.int64)
    features = mechanism_features(spec, links=bool(linked or len(bound) or replay or rerun))
    kernel = run_epoch if features == FEAT_ALL else kernel_for(features)

    def epoch(d0, d1, bound, visit, quiet, relink, sp_ptr, sp_day, sp_bits, log):
        # blocks handed out one at a time: on a shared machine one core is often slower than
        # the other, and a static half each would wait for it (results never depend on it)
        with parallel_chunksize(1):
            kernel(spec.seed, c.persons, c.person_offset, c.firm_offset, d0, d1,
                   spec.burn_in, spec.days, N_BLOCKS, *R, *B, *X,
                   group, age, elder, traits, panel, bound, total, visit, quiet, relink,
                   sp_ptr, sp_day, sp_bits, score, strue, lists, lfalse, lexp, lrem, rec, next_t, nev,
                   flags, nbad, spill, dirty, due, rstate, rlog, rbits, rn, log, diff,
                   acts_day, acts_grade, pbuf, pn)

    # panel agents that a link may reach: run without output, then in full with their links
    quiet = (bound & (panel >= 0)).astype(np.uint8) if rerun and len(panel) else empty8
    for d0 in range(0, total, step if epochs else total):
        d1 = min(total, d0 + step) if epochs else total
        epoch(d0, d1, bound if epochs else empty8, empty64, quiet, False, empty64, empty64, emptyu,
              replay)
        if spec.peer is not None and d1 < total:
            contacts, per_day, memory, qm, qsd, nsd = spec.peer
            n_meet = int(round(per_day * (d1 - d0)))
            peer_round(spec.seed, d0 // step, d1, spec.burn_in, c.persons, c.person_offset, n_meet,
                       contacts, memory, qm, qsd, nsd, R.score_min, R.score_max, R.band_min,
                       R.grade_sanc, R.list_sanc, R.covers_person, group, age, score, strue,
                       lists, lfalse, spill, due, flags, diff, S, L, N_BLOCKS, X.restrict_mask)
        if coupled and d1 < total:
            todo = np.flatnonzero(dirty).astype(np.int64)
            if len(todo):
                dirty[todo] = 0
                couple(d1, spec.burn_in, todo, c.persons, S, L, R.band_min, R.grade_sanc,
                       R.list_sanc, R.covers_person, R.covers_firm, X.reach_children, X.reach_rep,
                       X.reach_firms, X.households, links_adults, X.restrict_mask, group, age,
                       hh_start, hh_of, rep, rf_start, rf, panel,
                       score, strue, lists, lfalse, flags, spill, due, diff, pbuf, pn, rstate,
                       False)
    if replay:
        if (rn > log_cap).any():
            return run_community(spec, c, replay=False)
        la = np.concatenate([rlog[t, : rn[t], 0] for t in range(nt)])
        ld = np.concatenate([rlog[t, : rn[t], 1] for t in range(nt)])
        lb = np.concatenate([rbits[t, : rn[t]] for t in range(nt)])
        order = np.lexsort((la, ld))  # by day, then agent: the same whatever the threads
        la, ld, lb = la[order], ld[order], lb[order]
        q = 0
        cur = np.zeros(n if rerun else 0, np.uint64)  # sanctions reaching each agent so far
        s_agent, s_day, s_bits = [], [], []
        for b in range(step, total, step):  # each boundary: the logged state on that day
            j = int(np.searchsorted(ld, b, side="left"))
            if j > q:
                set_in_order(rstate, la[q:j], lb[q:j])
                todo = np.unique(la[q:j])
                if kids:
                    couple(b, spec.burn_in, todo, c.persons, S, L, R.band_min, R.grade_sanc,
                           R.list_sanc, R.covers_person, R.covers_firm, X.reach_children,
                           X.reach_rep, X.reach_firms, True, False, X.restrict_mask, group,
                           age, hh_start, hh_of, rep, rf_start, rf, panel, score, strue, lists,
                           lfalse, flags, spill, due, diff, pbuf, pn, rstate, True)
                if rerun:
                    firm = todo >= c.persons
                    per = todo[~firm]
                    cap = int(firm.sum()
                              + np.minimum(rf_start[per + 1] - rf_start[per], MAX_TARGETS).sum())
                    out_a, out_b = np.empty(cap, np.int64), np.empty(cap, np.uint64)
                    k = link_schedule(b, todo, c.persons, rep, rf_start, rf, rstate, X.reach_rep,
                                      X.reach_firms, cur, out_a, out_b)
                    s_agent.append(out_a[:k])
                    s_bits.append(out_b[:k])
                    s_day.append(np.full(k, b, np.int64))
                q = j
        if rerun:
            # the agents links reach, again from day 0, with what reaches them at each boundary:
            # they add what the links add (the quiet ones, all their counts)
            sa = np.concatenate(s_agent) if s_agent else empty64
            visit = np.union1d(sa, np.flatnonzero(quiet)).astype(np.int64)
            order = np.argsort(sa, kind="stable")  # by agent, then day (appended by day)
            sa = sa[order]
            sd = (np.concatenate(s_day) if s_day else empty64)[order]
            sb = (np.concatenate(s_bits) if s_bits else emptyu)[order]
            sp_ptr = np.searchsorted(sa, np.append(visit, n)).astype(np.int64)
            if sp_ptr[-1] != len(sa) or not bound[sa].all():
                raise AssertionError("a link reaches an agent outside the rerun")
            if len(visit):  # (an empty visit list would mean every agent)
                epoch(0, total, empty8, visit, quiet, True, sp_ptr, sd, sb, False)

    hist = np.zeros(R.score_max - R.score_min + 1, np.int64)
    harm = np.zeros((len(GROUPS), 3, len(HARM_COLS)), np.int64)
    events = tally(group, age, flags, nbad, score, nev, R.covers_person, R.covers_firm,
                    R.score_min, hist, harm)
    rows = [pbuf[t, : min(pn[t], pbuf.shape[1])] for t in range(nt)]
    prow = np.concatenate(rows) if rows else np.zeros((0, PANEL_COLS), np.int64)
    if len(prow):
        prow = prow[np.lexsort((prow[:, 1], prow[:, 0]))]  # by agent, then day (stable)
        loc = prow[:, 0]
        prow[:, 0] = np.where(loc < c.persons, c.person_offset + loc,
                              c.firm_offset + (loc - c.persons))
    return CommunityResult(
        index=c.index, province=c.province, persons=c.persons, firms=c.firms,
        diff=diff.sum(axis=0),
        acts_day=recorded_columns(acts_day.sum(axis=0, dtype=np.int64)),
        acts_grade=recorded_columns(acts_grade.sum(axis=0, dtype=np.int64)),
        score_hist=hist,
        harm=harm,
        panel=prow,
        events=int(events),
    )


def _bound(spec: EngineSpec, c: Community, age, hh_start, hh_of, rep,
           children: bool = True) -> np.ndarray:
    """1 for the agents a link can reach or be reached from: they stop at every epoch boundary,
    where the links are coupled. The others run through the whole horizon in one visit (same
    results: nothing but a link changes an agent between epochs). ``children`` False: links to
    household children are replayed from a log, so they bind nobody."""
    X = spec.mechanisms
    kids = children and X.households and X.reach_children
    if not (spec.peer is not None or kids
            or (X.legal_reps and (X.reach_rep or X.reach_firms))):
        return np.zeros(0, np.uint8)  # no links: every agent runs the whole horizon
    bound = scratch("bound", (c.agents,), np.uint8, fill=0)
    if spec.peer is not None:  # ratings change scores at every boundary
        bound[:] = 1
        return bound
    if kids:
        # every member of a household with a child: parents send, children receive
        minor = (age[: c.persons] == 0).astype(np.int64)
        has_child = np.add.reduceat(minor, hh_start[:-1]) > 0 if c.persons else np.zeros(0, bool)
        bound[: c.persons] |= has_child[hh_of]
    if X.legal_reps and (X.reach_rep or X.reach_firms):
        bound[c.persons:] = 1
        bound[rep] = 1
    return bound
