"""The named records the kernels take: what a call runs, the agents, their state, the outputs.

Every kernel argument is one of these (or a table of ``compile``): a field is bound by name,
so no field can be passed in the wrong place. They hold arrays only; the engine fills them
from its scratch memory (``engine.scratch``). Arrays a scenario does not use are passed
empty (no memory, no stores), and the kernels test ``shape[0] > 0``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Span(NamedTuple):
    """What one kernel call runs: days [d0, d1) of one community's agents."""

    seed: int
    n_persons: int  # agents [0, n_persons) are persons, the rest firms
    person_offset: int  # global index of the community's first person
    firm_offset: int  # and of its first firm
    d0: int
    d1: int
    burn: int  # burn-in days: counted from day ``burn`` on (output day 0)
    d_end: int  # the horizon: agents no link binds run on to it in the first epoch
    n_blocks: int  # work units (fixed: results never depend on threads)
    log_reach: bool  # log each change of an agent's sanctions that reach others
    relink: bool  # this call reruns agents that links reach (``Visit``)


class Agents(NamedTuple):
    """Who the agents are (``synthesis``): fixed for a run."""

    group: np.ndarray  # int8[n]: layout.GROUPS
    age: np.ndarray  # int8[n]: 0 minor, 1 adult, 2 aged 60+ (firms 1)
    elder: np.ndarray  # bool[n] lives with someone aged 60+ (empty: not needed)
    traits: np.ndarray  # float32[n, T] behaviour multipliers
    panel: np.ndarray  # int32[n] local index of a panel agent, -1 else (empty: no panel)
    bound: np.ndarray  # uint8[n] stops at each epoch boundary (empty: nobody)


class Visit(NamedTuple):
    """The agents a call runs (empty: all) and, by visit index, their link changes."""

    agents: np.ndarray  # int64[v]
    quiet: np.ndarray  # uint8[n] panel agents run without output first, in full when rerun
    sp_ptr: np.ndarray  # int64[v + 1] into sp_day / sp_bits
    sp_day: np.ndarray  # int64[k] day a link change applies
    sp_bits: np.ndarray  # uint64[k] the sanctions reaching the agent from then on


class State(NamedTuple):
    """Each agent's record and run state; a ``rules.Record`` and more."""

    score: np.ndarray  # int32[n]
    strue: np.ndarray  # int32[n] the score true records alone would give
    lists: np.ndarray  # uint16[n] bit mask
    lfalse: np.ndarray  # uint16[n] listings that rest on false records
    lever: np.ndarray  # uint16[n] lists the agent was ever on (since day 0)
    lexp: np.ndarray  # int32[n, L]
    lrem: np.ndarray  # int32[n, L]
    rec: np.ndarray  # int32[n, W] layout.REC_*
    next_t: np.ndarray  # float64[n] next event time between epochs (empty: one pass)
    nev: np.ndarray  # int32[n] events drawn (the counter of the agent's random streams)
    flags: np.ndarray  # uint8[n] layout.F_* (ever ...)
    nbad: np.ndarray  # int16[n] true acts the regime deducts points for
    spill: np.ndarray  # uint64[n] sanctions reaching the agent through links (empty: none)
    dirty: np.ndarray  # uint8[n] own reaching sanctions changed in the epoch
    due: np.ndarray  # int32[n] first day something may happen to the agent


class ReachLog(NamedTuple):
    """Changes of the sanctions that reach others, logged in one pass and replayed after it."""

    rstate: np.ndarray  # uint64[n] day-0 state, then the state at each boundary
    rlog: np.ndarray  # int64[threads, cap, 2] (agent, day)
    rbits: np.ndarray  # uint64[threads, cap]
    rn: np.ndarray  # int64[threads] entries (past cap: the caller falls back to epochs)


class Outputs(NamedTuple):
    """Aggregates per thread (summed by the engine: integer sums, in any order) and panel rows
    per block (slot 0: rows written at boundaries), concatenated in slot order."""

    diff: np.ndarray  # int64[threads, days + 1, groups, grades + 1, measures] difference array
    acts_day: np.ndarray  # int32[threads, days, groups, acts, 3] layout.A_*
    acts_grade: np.ndarray  # int32[threads, days, groups, grades + 1, 3]
    pbuf: np.ndarray  # int64[blocks + 1, cap, layout.PANEL_COLS]
    pn: np.ndarray  # int64[blocks + 1] rows written (past cap: dropped)


class Links(NamedTuple):
    """Households and firms' responsible persons (``synthesis.legal_representatives``)."""

    hh_start: np.ndarray  # int64[households + 1]
    hh_of: np.ndarray  # int32[persons]
    rep: np.ndarray  # int64[firms, P] responsible persons of each firm, legal representative first
    rf_start: np.ndarray  # int64[persons + 1] into rf
    rf: np.ndarray  # int64[k] the firms each person is responsible for
