"""Run one community: synthesize its agents, run its epochs, couple them, return aggregates.

A community's result depends only on the scenario, the seed and the community: never on the
thread count, the worker or the executor (integer aggregates, counter-based randomness).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from credsim import tickets
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
    BAD_BUCKETS,
    FEAT_ALL,
    GROUPS,
    HARM_COLS,
    P_AGENT,
    P_DAY,
    PANEL_COLS,
    REC_FIELDS,
    REC_STAGE,
    Measures,
)
from credsim.mechanisms import kernel_features
from credsim.peer import peer_round
from credsim.population import Community
from credsim.state import Agents, Links, Outputs, ReachLog, Span, State, Visit
from credsim.synthesis import POPULATIONS, households, legal_representatives, synthesize
from credsim.tally import tally

N_BLOCKS = 64  # work units per community: fixed, so results never depend on threads
_EMPTY8, _EMPTY64, _EMPTYU = np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.uint64)
_NO_VISIT = Visit(_EMPTY64, _EMPTY8, _EMPTY64, _EMPTY64, _EMPTYU)  # every agent, no link changes


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
    ticket_rates: np.ndarray | None = None  # attempts per person-day by layout.TICKET_KINDS

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
    tickets: np.ndarray  # int64[days, groups, grades+1, kinds] purchase attempts blocked

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "meta": np.array([self.index, self.province, self.persons, self.firms, self.events]),
            "diff": self.diff, "acts_day": self.acts_day, "acts_grade": self.acts_grade,
            "score_hist": self.score_hist, "harm": self.harm, "panel": self.panel,
            "tickets": self.tickets,
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> CommunityResult:
        m = a["meta"]
        return cls(int(m[0]), int(m[1]), int(m[2]), int(m[3]), a["diff"], a["acts_day"],
                   a["acts_grade"], a["score_hist"], a["harm"], a["panel"], int(m[4]),
                   a["tickets"])


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


@dataclass(frozen=True)
class LinkPlan:
    """How one community's links run, decided once (``link_plan``).

    ``coupled``: links change agents at epoch boundaries (they keep link state: spill, dirty,
    due). ``kids``: sanctions reach household children. ``adults``: sanctions reach across the
    firm link (legal representatives are built). ``replay``: every agent runs the horizon in one
    pass and the links are replayed from the log of changes of sanctions that reach others;
    else the epochs, with ``bound`` agents stopping at each boundary (the others run free).
    ``rerun``: with the replay, the firms and representatives a link reached run again
    (``quiet``: panel agents among them, run without output in the first pass)."""

    coupled: bool
    kids: bool
    adults: bool
    replay: bool
    rerun: bool
    step: int  # days between boundaries
    bound: np.ndarray  # uint8[agents] or empty
    quiet: np.ndarray  # uint8[agents] or empty
    features: int  # the mechanisms the kernel is compiled for (layout.FEAT_*)

    @property
    def epochs(self) -> bool:
        return not self.replay


def link_mode(spec: EngineSpec) -> tuple[bool, bool, bool, bool]:
    """(coupled, kids, adults, replay) of every community of ``spec``, from the spec alone:
    whether links change agents at epoch boundaries, sanctions reach household children, reach
    across the firm link, and whether the links can be replayed after one pass (else every
    bound agent stops at each of the ``epoch_days`` boundaries)."""
    X = spec.mechanisms
    kids = bool(X.households and X.reach_children)
    adults = bool(X.legal_reps and (X.reach_rep or X.reach_firms))
    replay = bool(X.coupled and (kids or adults) and spec.peer is None
                  and not (adults and X.reach_children & (X.reach_rep | X.reach_firms)))
    coupled = bool(X.coupled and (X.reach_children or X.reach_rep or X.reach_firms)
                   or spec.peer is not None)
    return coupled, kids, adults, replay


def link_plan(spec: EngineSpec, c: Community, agents: Agents, links: Links,
              replay: bool = True) -> LinkPlan:
    """Which agents replay, rerun, stop at epochs or run free. Links are replayed unless a
    sanction reaches both children and across firm links (a representative's spilled sanction
    could pass on to their children) or peers rate each other."""
    coupled, kids, adults, can_replay = link_mode(spec)
    replay = replay and can_replay
    rerun = replay and adults
    bound = (_bound(spec, c, agents.age, links, children=not replay) if not replay or rerun
             else _EMPTY8)
    panel = agents.panel
    quiet = (bound & (panel >= 0)).astype(np.uint8) if rerun and len(panel) else _EMPTY8
    uses_links = bool(coupled or len(bound) or replay)
    return LinkPlan(coupled, kids, adults, replay, rerun,
                    spec.epoch_days if coupled else spec.burn_in + spec.days, bound, quiet,
                    mechanism_features(spec, links=uses_links))


def run_community(spec: EngineSpec, c: Community, replay: bool = True) -> CommunityResult:
    """Run one community. With ``replay``, every agent runs the horizon in one visit and the
    links are replayed from a log of the changes of sanctions that reach others: to children,
    from their household's log; between adults, by running firms and their legal representatives
    a second time with the sanctions that reach them from that log put on at each boundary (an
    agent's own records never depend on what reaches it). The same results as stopping every
    agent at each epoch boundary. A log too long for its buffer falls back to the epochs."""
    agents, links = _agents(spec, c)
    plan = link_plan(spec, c, agents, links, replay)
    nt = thread_count()
    st = _state(spec, c, plan)
    log = _reach_log(c, plan, nt)
    out = _outputs(spec, agents, nt)
    run = _Runner(spec, c, plan, agents, links, st, log, out)
    if plan.epochs:
        run.epochs()
    elif not run.replay():
        return run_community(spec, c, replay=False)  # the log overflowed its buffer
    return _collect(spec, c, agents, st, out)


def _agents(spec: EngineSpec, c: Community) -> tuple[Agents, Links]:
    """The community's agents and, when something uses them, their links (from this process's
    cache of populations when a sweep turned it on and drew them before: ``POPULATIONS``)."""
    n = c.agents
    B, X = spec.behaviour, spec.mechanisms
    group = scratch("group", (n,), np.int8)
    age = scratch("age", (n,), np.int8)
    traits = scratch("traits", (n, max(B.trait_sigma.shape[0], 1)), np.float32)
    # the anonymous panel: local index of each sampled agent, -1 for the rest (empty without one)
    panel = scratch("panel", (n if spec.panel_rate > 0 else 0,), np.int32)
    # households are built only when something uses them (coupling, or acts that need a parent)
    with_households = bool(X.households or X.act_parent.any())
    # responsible persons matter only when some sanction reaches across the firm link
    with_reps = bool(X.legal_reps and (X.reach_rep or X.reach_firms))
    key = (spec.seed, c.person_offset, c.persons, c.firm_offset, c.firms, spec.shares.tobytes(),
           B.trait_sigma.tobytes(), B.trait_stream.tobytes(), spec.panel_rate,
           spec.household_size if with_households else None, with_households, with_reps,
           int(X.responsible_persons) if with_reps else None)
    kept = POPULATIONS.get(key)
    if kept is not None:
        for dst, src in zip((group, age, traits, panel), kept[:4], strict=True):
            dst[...] = src
        hh_start, hh_of, elder, rep, rf_start, rf = (a.copy() for a in kept[4:])
        return (Agents(group, age, elder, traits, panel, _EMPTY8),
                Links(hh_start, hh_of, rep, rf_start, rf))
    synthesize(spec.seed, c.person_offset, c.persons, c.firm_offset, c.firms, spec.shares,
               B.trait_sigma, B.trait_stream, group, age, traits, spec.panel_rate, panel)
    if with_households:
        hh_start, hh_of, elder = households(
            spec.seed, c, spec.household_size, age,
            out=(scratch("hh_start", (c.persons + 1,), np.int64),
                 scratch("hh_of", (c.persons,), np.int32), scratch("elder", (n,), np.bool_)))
    else:
        hh_start, hh_of, elder = np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.bool_)
    if with_reps:
        rep, rf_start, rf = legal_representatives(spec.seed, c, age, X.responsible_persons)
    else:
        rep, rf_start, rf = np.zeros((c.firms, 1), np.int64), np.zeros(1, np.int64), _EMPTY64
    POPULATIONS.put(key, (group, age, traits, panel, hh_start, hh_of, elder, rep, rf_start, rf))
    return (Agents(group, age, elder, traits, panel, _EMPTY8),
            Links(hh_start, hh_of, rep, rf_start, rf))


def _state(spec: EngineSpec, c: Community, plan: LinkPlan) -> State:
    """Per-agent state from scratch memory, sized for what the scenario uses (the kernel
    initialises every agent on day 0)."""
    n, L = c.agents, spec.n_lists
    R, X = spec.regime, spec.mechanisms
    # record columns: last deduction and recovery stage (4) when the regime recovers points,
    # and a pending reversal (7) when appeals can succeed
    W = REC_FIELDS if X.appeal_p > 0.0 else (REC_STAGE + 1 if R.rec_after.shape[0] else 0)
    linked = n if plan.coupled else 0  # agents with link state (spill, dirty, due)
    single = plan.replay or not plan.coupled  # one visit per agent: nothing kept between epochs
    return State(
        score=scratch("score", (n,), np.int32), strue=scratch("strue", (n,), np.int32),
        lists=scratch("lists", (n,), np.uint16), lfalse=scratch("lfalse", (n,), np.uint16),
        lever=scratch("lever", (n,), np.uint16),
        lexp=scratch("lexp", (n, L), np.int32), lrem=scratch("lrem", (n, L), np.int32),
        rec=scratch("rec", (n, W), np.int32),
        next_t=scratch("next_t", (0 if single else n,), np.float64),
        nev=scratch("nev", (n,), np.int32), flags=scratch("flags", (n,), np.uint8),
        nbad=scratch("nbad", (n,), np.int16), spill=scratch("spill", (linked,), np.uint64),
        dirty=scratch("dirty", (linked,), np.uint8),
        due=scratch("due", (linked,), np.int32),  # first day something may happen to the agent
    )


def _reach_log(c: Community, plan: LinkPlan, nt: int) -> ReachLog:
    cap = c.agents // 4 + 1024 if plan.replay else 0
    return ReachLog(scratch("rstate", (c.agents if plan.replay else 0,), np.uint64),
                    scratch("rlog", (nt, cap, 2), np.int64), scratch("rbits", (nt, cap), np.uint64),
                    np.zeros(nt, np.int64))


def _outputs(spec: EngineSpec, agents: Agents, nt: int) -> Outputs:
    """Aggregates per thread; panel rows per block (slot 1 + block; slot 0 for rows written at
    boundaries), so which rows a full buffer drops never depends on which thread ran a block."""
    K1, A, G = spec.n_grades + 1, spec.behaviour.p_detect.shape[0], len(GROUPS)
    panel = agents.panel
    n_panel = int((panel >= 0).sum()) if len(panel) else 0
    # each slot as large as a thread's buffer was (np.zeros: pages never written cost nothing)
    cap = max(16, min(spec.panel_cap, 64 * n_panel + 16)) if n_panel else 1
    return Outputs(np.zeros((nt, spec.days + 1, G, K1, spec.measures.count), np.int64),
                   np.zeros((nt, spec.days, G, A, 3), np.int32),
                   np.zeros((nt, spec.days, G, K1, 3), np.int32),
                   np.zeros((N_BLOCKS + 1, cap, PANEL_COLS), np.int64),
                   np.zeros(N_BLOCKS + 1, np.int64))


class _Runner:
    """The kernel calls of one community, as its link plan says."""

    def __init__(self, spec: EngineSpec, c: Community, plan: LinkPlan, agents: Agents,
                 links: Links, st: State, log: ReachLog, out: Outputs):
        self.spec, self.c, self.plan = spec, c, plan
        self.agents, self.links, self.st, self.log, self.out = agents, links, st, log, out
        self.total = spec.burn_in + spec.days
        self.kernel = run_epoch if plan.features == FEAT_ALL else kernel_for(plan.features)

    def span(self, d0: int, d1: int, log_reach: bool = False, relink: bool = False) -> Span:
        s, c = self.spec, self.c
        return Span(int(s.seed), int(c.persons), int(c.person_offset), int(c.firm_offset), int(d0),
                    int(d1), int(s.burn_in), int(self.total), N_BLOCKS, bool(log_reach),
                    bool(relink))

    def call(self, span: Span, bound: np.ndarray, visit: Visit) -> None:
        s = self.spec
        self.kernel(span, s.regime, s.behaviour, s.mechanisms, s.measures,
                    self.agents._replace(bound=bound), visit, self.st, self.log, self.out)

    def couple(self, day: int, todo: np.ndarray, rstate: np.ndarray, legal_reps: bool) -> None:
        s = self.spec
        couple(self.span(day, day), todo, rstate, s.regime, s.mechanisms, s.measures, self.agents,
               self.links, self.st, self.out, legal_reps)

    def epochs(self) -> None:
        """Every agent the plan binds stops at each boundary, where links are coupled and peers
        rate each other; the others run the horizon in the first epoch."""
        s, plan, st = self.spec, self.plan, self.st
        for d0 in range(0, self.total, plan.step):
            d1 = min(self.total, d0 + plan.step)
            self.call(self.span(d0, d1), plan.bound, _NO_VISIT._replace(quiet=plan.quiet))
            if s.peer is not None and d1 < self.total:
                contacts, per_day, memory, qm, qsd, nsd = s.peer
                peer_round(self.span(d1, d1), d0 // plan.step, int(round(per_day * (d1 - d0))),
                           (contacts, memory, qm, qsd, nsd), s.regime, s.mechanisms, s.measures,
                           self.agents, st, self.out)
            if plan.coupled and d1 < self.total:
                todo = np.flatnonzero(st.dirty).astype(np.int64)
                if len(todo):
                    st.dirty[todo] = 0
                    self.couple(d1, todo, _EMPTYU, plan.adults)

    def replay(self) -> bool:
        """One pass of every agent, then the links replayed from the reach log at each boundary:
        to children by ``couple``; between adults by rerunning the agents links reach. False if
        the log overflowed."""
        plan, log = self.plan, self.log
        self.call(self.span(0, self.total, log_reach=True), _EMPTY8,
                  _NO_VISIT._replace(quiet=plan.quiet))
        cap = log.rlog.shape[1]
        if (log.rn > cap).any():
            return False
        nt = len(log.rn)
        la = np.concatenate([log.rlog[t, : log.rn[t], 0] for t in range(nt)])
        ld = np.concatenate([log.rlog[t, : log.rn[t], 1] for t in range(nt)])
        lb = np.concatenate([log.rbits[t, : log.rn[t]] for t in range(nt)])
        order = np.lexsort((la, ld))  # by day, then agent: the same whatever the threads
        la, ld, lb = la[order], ld[order], lb[order]
        q = 0
        cur = np.zeros(self.c.agents if plan.rerun else 0, np.uint64)  # what reaches each agent
        changes = []
        for b in range(plan.step, self.total, plan.step):  # each boundary: the logged state
            j = int(np.searchsorted(ld, b, side="left"))
            if j > q:
                set_in_order(log.rstate, la[q:j], lb[q:j])
                todo = np.unique(la[q:j])
                if plan.kids:
                    self.couple(b, todo, log.rstate, False)
                if plan.rerun:
                    changes.append(self._link_changes(b, todo, cur))
                q = j
        if plan.rerun:
            self._rerun(changes)
        return True

    def _link_changes(self, day: int, todo: np.ndarray, cur: np.ndarray):
        """(agents, bits) whose sanctions through links between adults change at ``day``."""
        links, n_persons = self.links, self.c.persons
        firm = todo >= n_persons
        per = todo[~firm]
        cap = int(firm.sum() * links.rep.shape[1]  # a firm reaches its responsible persons
                  + np.minimum(links.rf_start[per + 1] - links.rf_start[per], MAX_TARGETS).sum())
        out_a, out_b = np.empty(cap, np.int64), np.empty(cap, np.uint64)
        k = link_schedule(day, todo, n_persons, links, self.log.rstate, self.spec.mechanisms, cur,
                          out_a, out_b)
        return out_a[:k], np.full(k, day, np.int64), out_b[:k]

    def _rerun(self, changes: list) -> None:
        """The agents links reach, again from day 0, with what reaches them at each boundary:
        they add what the links add (the quiet ones, all their counts)."""
        plan = self.plan
        sa = np.concatenate([a for a, _, _ in changes]) if changes else _EMPTY64
        visit = np.union1d(sa, np.flatnonzero(plan.quiet)).astype(np.int64)
        order = np.argsort(sa, kind="stable")  # by agent, then day (appended by day)
        sa = sa[order]
        sd = (np.concatenate([d for _, d, _ in changes]) if changes else _EMPTY64)[order]
        sb = (np.concatenate([b for _, _, b in changes]) if changes else _EMPTYU)[order]
        sp_ptr = np.searchsorted(sa, np.append(visit, self.c.agents)).astype(np.int64)
        if sp_ptr[-1] != len(sa) or not plan.bound[sa].all():
            raise AssertionError("a link reaches an agent outside the rerun")
        if len(visit):  # (an empty visit list would mean every agent)
            self.call(self.span(0, self.total, relink=True), _EMPTY8,
                      Visit(visit, plan.quiet, sp_ptr, sd, sb))


def _collect(spec: EngineSpec, c: Community, agents: Agents, st: State,
             out: Outputs) -> CommunityResult:
    """The community's aggregates: threads' outputs summed in order, the tally, the panel."""
    R = spec.regime
    slots = len(out.pn)
    hist = np.zeros(R.score_max - R.score_min + 1, np.int64)
    harm = np.zeros((len(GROUPS), len(BAD_BUCKETS), len(HARM_COLS)), np.int64)
    spill = st.spill if len(st.spill) else np.zeros(len(st.score), np.uint64)
    events = tally(agents.group, agents.age, st.flags, st.nbad, st.score, st.nev, R, st.lists, spill,
                   hist, harm)
    rows = [out.pbuf[k, : min(out.pn[k], out.pbuf.shape[1])] for k in range(slots)]
    prow = np.concatenate(rows) if rows else np.zeros((0, PANEL_COLS), np.int64)
    if len(prow):
        prow = prow[np.lexsort((prow[:, P_DAY], prow[:, P_AGENT]))]  # by agent, then day (stable)
        loc = prow[:, P_AGENT]
        prow[:, P_AGENT] = np.where(loc < c.persons, c.person_offset + loc,
                                    c.firm_offset + (loc - c.persons))
    diff = out.diff.sum(axis=0)
    return CommunityResult(
        index=c.index, province=c.province, persons=c.persons, firms=c.firms,
        diff=diff, tickets=_tickets_blocked(spec, c, diff),
        acts_day=recorded_columns(out.acts_day.sum(axis=0, dtype=np.int64)),
        acts_grade=recorded_columns(out.acts_grade.sum(axis=0, dtype=np.int64)),
        score_hist=hist, harm=harm, panel=prow, events=int(events),
    )


def _tickets_blocked(spec: EngineSpec, c: Community, diff: np.ndarray) -> np.ndarray:
    """The community's ticket purchases blocked per (day, group, grade, kind): Poisson draws of
    the day's attempts by the persons each kind is blocked for (``credsim.tickets``)."""
    ms = spec.measures
    T = ms.count - ms.tickets
    shape = (spec.days,) + diff.shape[1:3] + (T,)
    if spec.ticket_rates is None or not spec.regime.ticket_block.any():
        return np.zeros(shape, np.int64)
    level = np.cumsum(diff[..., ms.tickets:], axis=0)[: spec.days]
    return tickets.blocked(level, spec.ticket_rates, spec.seed, c.index)[1]


def _bound(spec: EngineSpec, c: Community, age: np.ndarray, links: Links,
           children: bool = True) -> np.ndarray:
    """1 for the agents a link can reach or be reached from: they stop at every epoch boundary,
    where the links are coupled. The others run through the whole horizon in one visit (same
    results: nothing but a link changes an agent between epochs). ``children`` False: links to
    household children are replayed from a log, so they bind nobody."""
    X = spec.mechanisms
    kids = children and X.households and X.reach_children
    if not (spec.peer is not None or kids
            or (X.legal_reps and (X.reach_rep or X.reach_firms))):
        return _EMPTY8  # no links: every agent runs the whole horizon
    bound = scratch("bound", (c.agents,), np.uint8, fill=0)
    if spec.peer is not None:  # ratings change scores at every boundary
        bound[:] = 1
        return bound
    if kids:
        # every member of a household with a child: parents send, children receive
        minor = (age[: c.persons] == 0).astype(np.int64)
        has_child = (np.add.reduceat(minor, links.hh_start[:-1]) > 0 if c.persons
                     else np.zeros(0, bool))
        bound[: c.persons] |= has_child[links.hh_of]
    if X.legal_reps and (X.reach_rep or X.reach_firms):
        bound[c.persons:] = 1
        bound[links.rep.ravel()] = 1
    return bound
