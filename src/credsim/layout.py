"""Every code and offset that more than one module uses: the layout of the engine's arrays.

A leaf module (it imports nothing from credsim): the kernels freeze these numbers into compiled
code, and ``results``, ``explain`` and the tests read the arrays back with the same names.
Each is defined here once.
"""

from __future__ import annotations

from typing import NamedTuple

# ---------------------------------------------------------------- agents
GROUPS = ["female_urban", "female_rural", "male_urban", "male_rural", "firm"]
FIRM_GROUP = 4
UNSCORED = "unscored"  # the pseudo-grade of agents the regime does not score (index K)

# ---------------------------------------------------------------- days and "none"
BIG = 2**31 - 1  # "never" for day timers, "no cap" for score caps
NEVER = -(2**31) + 1  # no deduction recorded yet
NO_SCORE = -(2**31)  # "none" for optional scores
NO_LIST = -1

# ---------------------------------------------------------------- per-agent flags (ever ...)
F_LOWEST, F_LEFT_LOWEST, F_RESTRICTED, F_FALSE_RESTRICTED, F_SPILL = 1, 2, 4, 8, 16
F_TRAVEL = 32  # under a ticket-blocking sanction on a counted day (set as it ends; see tally)

# ---------------------------------------------------------------- mechanisms compiled in
# ``run_epoch`` is compiled for a set of these (a compile-time constant): a kernel without a
# mechanism has none of its code, so it runs faster when the scenario has no use for it
FEAT_ACTS = 1  # acts thinned or missed: detection < 1, behaviour response, false matches
FEAT_FALSE = 2  # false records (the true shadow state of scores and lists)
FEAT_TIMERS = 4  # lists, recoveries, appeals (due days)
FEAT_LINKS = 8  # links between agents (epochs, spill, reach log, reruns)
FEAT_ALL = FEAT_ACTS | FEAT_FALSE | FEAT_TIMERS | FEAT_LINKS

# ---------------------------------------------------------------- the rec array of each agent
# last deduction (day, points), the worst offence class since the points were last whole, next
# recovery stage, and a pending reversal of appealed
# erroneous records (day, points to give back, lists to lift)
REC_DAY, REC_PTS, REC_CLS, REC_STAGE = 0, 1, 2, 3
REC_REV_DAY, REC_REV_PTS, REC_REV_LISTS = 4, 5, 6
REC_FIELDS = 7

# fields of the per-day accumulator of recorded acts (``rules.add_act``): points gained and lost,
# lists to join, the lowest score cap, the highest offence class, lists whose extension condition
# an aggravating act meets
ACC_GAINED, ACC_LOST, ACC_LISTS, ACC_CAP, ACC_CLASS, ACC_EXT = 0, 1, 2, 3, 4, 5
ACC_FIELDS = 6

# when a listing may be extended (``RegimeTables.list_ext_when``, bits): at any listing; when a
# listed agent is listed again (multiple acts); when an aggravating act lists it (``Rule.extends``)
EXT_LISTING, EXT_AGAIN, EXT_ACT = 1, 2, 4
EXT_WHEN = {"listing": EXT_LISTING, "listed_again": EXT_AGAIN, "aggravating_act": EXT_ACT}

# ---------------------------------------------------------------- causes of timed events
CAUSE_EXPIRY, CAUSE_REMOVAL, CAUSE_RECOVERY, CAUSE_REVERSAL = 1, 2, 3, 4
CAUSE_NAMES = {CAUSE_EXPIRY: "expiry", CAUSE_REMOVAL: "removal", CAUSE_RECOVERY: "recovery",
               CAUSE_REVERSAL: "appeal"}
CAUSE_CODE = 100_000  # a timer's panel code: cause * CAUSE_CODE + list or recovery index

# ---------------------------------------------------------------- panel rows
# agent, day, kind, code, recorded, score, grade, lists, sanctions, and for a false record the
# sensor that made it (+1; 0 for everything else)
(P_AGENT, P_DAY, P_KIND, P_CODE, P_RECORDED, P_SCORE, P_GRADE, P_LISTS, P_SANCTIONS,
 P_SENSOR) = range(10)
PANEL_COLS = 10
KIND_START, KIND_ACT, KIND_TIMER, KIND_FALSE, KIND_LINK = 0, 1, 2, 3, 4
KIND_NAMES = {KIND_START: "start", KIND_ACT: "act", KIND_TIMER: "timer",
              KIND_FALSE: "false_record", KIND_LINK: "link"}

# ---------------------------------------------------------------- act counters
# as the kernel keeps them: true acts, true acts left unrecorded, false records (the common
# case, a true act recorded, is one increment per counter); results turn them into
# (true, recorded, false)
A_TRUE, A_UNRECORDED, A_FALSE = 0, 1, 2
A_RECORDED = A_UNRECORDED  # the same column after ``kernel.recorded_columns``
ACT_COUNTERS = 3

# ---------------------------------------------------------------- harm table
HARM_COLS = ["agents", "ever_restricted", "ever_falsely_restricted", "reached_lowest",
             "left_lowest", "ever_sanctioned_through_link", "travel_restricted_in_run"]
BAD_BUCKETS = ["0", "1", "2+"]  # true acts the regime deducts points for, per agent


# ---------------------------------------------------------------- ticket purchases
# the kinds of ticket a travel sanction can block (``Sanction.blocks_tickets``); persons under a
# blocking sanction try to buy them at rates per person-year (``credsim.tickets``)
TICKET_KINDS = ["flight", "train"]
TICKET_FIX = 2**20  # fixed point of the per-agent attempt multipliers carried in the daily cells

# ---------------------------------------------------------------- list flows
# the flows of each list per day, after its stock: new listings, removals by cause (performance
# or regularisation, expiry, appeal or error reversal: ``rules.fire_timers``), ever listed
LIST_FLOWS = ["added", "removed_performed", "removed_expired", "removed_appeal", "ever"]

# ---------------------------------------------------------------- measures of the daily cells
M_PERSONS, M_SCORE_SUM, M_RESTRICTED, M_FALSE_RESTRICTED = 0, 1, 2, 3
M_FIXED = 4  # measures before the per-sanction and per-list ones


def measure_offsets(S, L):
    """(first measure of: sanctions in force, false sanctions, sanctions through a link only,
    lists, false listings, sanction entries, list flows (``LIST_FLOWS``, L each), ticket
    multiplier sums (``TICKET_KINDS``); number of measures) for ``S`` sanctions and ``L`` lists.

    Entries and list flows other than ``ever`` are flows: a difference array gets +1 on the day
    and -1 the day after, so the prefix sum is the day's count. ``ever`` is a level (+1 on the
    first listing, never taken back)."""
    T = len(TICKET_KINDS)
    base = M_FIXED + 3 * S + 2 * L
    return (M_FIXED, M_FIXED + S, M_FIXED + 2 * S, M_FIXED + 3 * S, M_FIXED + 3 * S + L,
            base, base + S, base + S + len(LIST_FLOWS) * L, base + S + len(LIST_FLOWS) * L + T)


class Measures(NamedTuple):
    """Where each measure of a daily cell sits for a regime of ``S`` sanctions and ``L`` lists:
    persons, score sum, restricted, falsely restricted, then per sanction (in force, false,
    through a link only), per list (listed, falsely listed), per sanction its entries, per list
    its flows (``LIST_FLOWS``: ``list_flow + f * L + l``) and per ticket kind the sum of the
    attempt multipliers of the persons it is blocked for (fixed point, ``TICKET_FIX``)."""

    sanction: int
    false_sanction: int
    link_sanction: int
    listed: int
    false_listed: int
    entered: int
    list_flow: int
    tickets: int
    count: int

    @classmethod
    def of(cls, S: int, L: int) -> Measures:
        return cls(*measure_offsets(S, L))

    @property
    def S(self) -> int:
        return self.false_sanction - self.sanction

    @property
    def L(self) -> int:
        return self.false_listed - self.listed
