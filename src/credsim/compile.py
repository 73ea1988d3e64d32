"""Compile a validated scenario (regime + behaviour + population) into flat arrays for the kernels.

Adding a regime never touches a kernel: everything a regime says becomes one of these arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from credsim.behaviour import Catalogue
from credsim.layout import BIG, EXT_WHEN, NO_SCORE, TICKET_KINDS
from credsim.mechanisms import compile_tables, tables_class
from credsim.regime import Regime


class RegimeTables(NamedTuple):
    """A regime as arrays. Grade index K (= number of bands) is the pseudo-grade 'unscored'."""

    score_init: int
    score_min: int
    score_max: int
    score_sd: float
    covers_person: bool
    covers_firm: bool
    max_ded: int  # per day, 0 = no cap
    band_min: np.ndarray  # int32[K], best first
    act_points: np.ndarray  # int32[A]
    act_lists: np.ndarray  # int32[A] bit mask
    act_cap: np.ndarray  # int32[A] score cap (BIG = none)
    act_class: np.ndarray  # int32[A]
    act_ext: np.ndarray  # int32[A] bit mask of lists whose aggravating-act extension it meets
    act_rule: np.ndarray  # int32[A] index of the first rule for the act, -1 if unscored
    list_dur: np.ndarray  # int32[L]
    list_ext_p: np.ndarray  # float64[L]
    list_ext_min: np.ndarray  # int32[L]
    list_ext_max: np.ndarray  # int32[L]
    list_ext_when: np.ndarray  # int32[L] bits layout.EXT_*: when a listing may be extended
    list_rem_rate: np.ndarray  # float64[L] per day
    list_rem_delay: np.ndarray  # int32[L]
    list_on_rem: np.ndarray  # int32[L] (NO_SCORE = none)
    list_then: np.ndarray  # int32[L] list an agent goes on when a listing runs out, -1 = none
    list_early: np.ndarray  # int32[L] days to an early removal, 0 = none
    list_void: np.ndarray  # int32[L] bit mask of lists whose listing cancels the early removal
    thr_list: np.ndarray  # int32[Th]
    thr_at_most: np.ndarray  # int32[Th]
    grade_sanc: np.ndarray  # uint64[K+1]
    list_sanc: np.ndarray  # uint64[L]
    held: np.ndarray  # uint64[2]: the sanctions a person (0) and a firm (1) can be under
    rec_after: np.ndarray  # int32[R], ascending
    rec_restore: np.ndarray  # int32[R], -1 = all
    rec_pts_max: np.ndarray  # int32[R] (BIG = no condition)
    rec_cls_max: np.ndarray  # int32[R]
    rec_cls_min: np.ndarray  # int32[R]
    grade_lut: np.ndarray  # int16[score_max - score_min + 1]: grade of each score (no band search)
    ticket_block: np.ndarray  # uint64[T]: the sanctions that block each of layout.TICKET_KINDS
    ticket_any: np.uint64  # every sanction that blocks some ticket kind (the OR of ticket_block)
    ticket_shape: float  # shape of the persons' gamma ticket multipliers (0: all 1; credsim.tickets)


class BehaviourTables(NamedTuple):
    """Acts grouped by (subject, trait) so one Poisson process per agent covers all its acts.

    An agent of subject s draws events at rate sum_g m[trait_g] * grp_rate[g]; the group is chosen
    in proportion to its term, then the act within the group from ``grp_cum`` (shared by all).
    """

    trait_sigma: np.ndarray  # float64[T] of the traits drawn
    trait_stream: np.ndarray  # int64[T]: each trait's index in the catalogue (its random stream)
    grp_subject: np.ndarray  # int32[G] 0 person, 1 firm
    grp_trait: np.ndarray  # int32[G] -1 = none (multiplier 1)
    grp_rate: np.ndarray  # float64[G] per day
    grp_start: np.ndarray  # int32[G+1] into grp_acts / grp_cum
    grp_acts: np.ndarray  # int32[A]
    grp_cum: np.ndarray  # float64[A] cumulative share within the group, last = 1
    p_detect: np.ndarray  # float64[A, 2] (urban, rural)
    act_subject: np.ndarray  # int32[A]
    grp_false: np.ndarray  # int32[G]: sensor whose false matches the group draws, -1 = true acts
    grp_female: np.ndarray  # float64[G]: rate multiplier for women (false-match groups)
    act_sched: np.ndarray  # int32[A]: the act's row of sched_factor, -1 = its rate is not scheduled
    sched_factor: np.ndarray  # float64[S, burn-in + days]: rate(day) / the schedule's highest rate


def grade_table(band_min: np.ndarray, score_min: int, score_max: int) -> np.ndarray:
    """The grade of every score in [score_min, score_max], as a band search would give it: the
    first band (best first) whose minimum the score reaches, else the last band."""
    scores = np.arange(score_min, score_max + 1)
    lut = np.full(len(scores), len(band_min) - 1, np.int16)
    for k in range(len(band_min) - 1, -1, -1):
        lut[scores >= band_min[k]] = k
    return lut


def compile_regime(regime: Regime, act_names: list[str], ticket_shape: float = 0.0) -> RegimeTables:
    """A validated regime as the arrays the kernels read (for the catalogue's acts, in order)."""
    rec = sorted(regime.recovery, key=lambda r: r.after_days)
    band_min = np.array([b.min for b in regime.bands], np.int32)
    lists = [x.name for x in regime.lists]
    grade_sanc, list_sanc, held = _sanction_tables(regime)
    return RegimeTables(
        score_init=regime.score.initial,
        score_min=regime.score.min,
        score_max=regime.score.max,
        score_sd=float(regime.score.initial_sd),
        covers_person="person" in regime.covers,
        covers_firm="firm" in regime.covers,
        max_ded=regime.max_deduction_per_day or 0,
        band_min=band_min,
        **_act_tables(regime, act_names),
        **_list_tables(regime),
        thr_list=np.array([lists.index(t.list) for t in regime.thresholds], np.int32),
        thr_at_most=np.array([t.at_most for t in regime.thresholds], np.int32),
        grade_sanc=grade_sanc,
        list_sanc=list_sanc,
        held=held,
        rec_after=np.array([r.after_days for r in rec], np.int32),
        rec_restore=np.array([-1 if r.restore == "all" else r.restore for r in rec], np.int32),
        rec_pts_max=np.array(
            [BIG if r.if_last_points_at_most is None else r.if_last_points_at_most for r in rec],
            np.int32,
        ),
        rec_cls_max=np.array(
            [BIG if r.if_worst_class_at_most is None else r.if_worst_class_at_most for r in rec],
            np.int32,
        ),
        rec_cls_min=np.array(
            [-1 if r.if_worst_class_at_least is None else r.if_worst_class_at_least for r in rec],
            np.int32,
        ),
        grade_lut=grade_table(band_min, regime.score.min, regime.score.max),
        ticket_block=ticket_blocks(regime),
        ticket_any=np.bitwise_or.reduce(ticket_blocks(regime)),
        ticket_shape=float(ticket_shape),
    )


def ticket_blocks(regime: Regime) -> np.ndarray:
    """The sanction bits that block each ticket kind (``Sanction.blocks_tickets``)."""
    tb = np.zeros(len(TICKET_KINDS), np.uint64)
    for s, sn in enumerate(regime.sanctions):
        for kind in sn.blocks_tickets:
            tb[TICKET_KINDS.index(kind)] |= np.uint64(1) << np.uint64(s)
    return tb


def _act_tables(regime: Regime, act_names: list[str]) -> dict[str, np.ndarray]:
    """Per act: points (dimension weights applied and rounded), list bits, score cap, offence
    class, and its first rule (-1: unscored)."""
    A = len(act_names)
    index = {a: k for k, a in enumerate(act_names)}
    lists = [x.name for x in regime.lists]
    dim_w = {d.name: d.weight for d in regime.dimensions}
    act_points = np.zeros(A, np.int32)
    act_lists = np.zeros(A, np.int32)
    act_cap = np.full(A, BIG, np.int32)
    act_class = np.zeros(A, np.int32)
    act_ext = np.zeros(A, np.int32)
    act_rule = np.full(A, -1, np.int32)
    for k, rule in enumerate(regime.rules):
        a = index[rule.act]
        pts = rule.points
        if rule.dimension is not None and dim_w:
            pts = int(round(pts * dim_w[rule.dimension]))
        act_points[a] += pts
        if rule.list is not None:
            act_lists[a] |= 1 << lists.index(rule.list)
            if rule.extends:
                act_ext[a] |= 1 << lists.index(rule.list)
        if rule.cap_grade is not None:
            act_cap[a] = min(act_cap[a], regime.band_range(rule.cap_grade)[1])
        act_class[a] = max(act_class[a], rule.offence_class)
        if act_rule[a] < 0:
            act_rule[a] = k
    return {"act_points": act_points, "act_lists": act_lists, "act_cap": act_cap,
            "act_class": act_class, "act_ext": act_ext, "act_rule": act_rule}


def _list_tables(regime: Regime) -> dict[str, np.ndarray]:
    """Per list: duration, extension (probability, days, when), removal after performance (rate
    per day, delay), the score set on removal (NO_SCORE: none), the list a listing that runs out
    leads to, and the early removal (days, the lists whose listing cancels it)."""
    L = len(regime.lists)
    ext_p = np.zeros(L)
    ext_min = np.zeros(L, np.int32)
    ext_max = np.zeros(L, np.int32)
    ext_when = np.zeros(L, np.int32)
    rem_rate = np.zeros(L)
    rem_delay = np.zeros(L, np.int32)
    on_rem = np.full(L, NO_SCORE, np.int32)
    names = [x.name for x in regime.lists]
    then = np.full(L, -1, np.int32)
    early = np.zeros(L, np.int32)
    void = np.zeros(L, np.int32)
    for k, x in enumerate(regime.lists):
        if x.extension is not None:
            ext_p[k] = x.extension.probability
            ext_min[k] = x.extension.min_days
            ext_max[k] = x.extension.max_days
            ext_when[k] = sum(EXT_WHEN[w] for w in set(x.extension.when))
        if x.removal is not None:
            rem_rate[k] = x.removal.rate_per_year / 365.0
            rem_delay[k] = x.removal.delay_days
        if x.on_removal_score is not None:
            on_rem[k] = x.on_removal_score
        if x.then_list is not None:
            then[k] = names.index(x.then_list)
        if x.early_removal is not None:
            early[k] = x.early_removal.after_days
            for u in x.early_removal.unless_listed_on:
                void[k] |= 1 << names.index(u)
    return {"list_dur": np.array([x.duration_days for x in regime.lists], np.int32),
            "list_ext_p": ext_p, "list_ext_min": ext_min, "list_ext_max": ext_max,
            "list_ext_when": ext_when,
            "list_rem_rate": rem_rate, "list_rem_delay": rem_delay, "list_on_rem": on_rem,
            "list_then": then, "list_early": early, "list_void": void}


def _sanction_tables(regime: Regime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sanction bits of each grade (and of 'unscored', none), of each list, and of each
    subject (person, firm) that can be under them (``Sanction.applies_to``)."""
    bands = regime.grade_labels
    lists = [x.name for x in regime.lists]
    grade_sanc = np.zeros(len(bands) + 1, np.uint64)
    list_sanc = np.zeros(len(lists), np.uint64)
    held = np.zeros(2, np.uint64)
    for s, sn in enumerate(regime.sanctions):
        bit = np.uint64(1) << np.uint64(s)
        for k, subject in enumerate(("person", "firm")):
            if subject in sn.subjects(regime.covers):
                held[k] |= bit
        for g in sn.grades:
            grade_sanc[bands.index(g)] |= bit
        for li in sn.lists:
            list_sanc[lists.index(li)] |= bit
    return grade_sanc, list_sanc, held


def compile_behaviour(cat: Catalogue, perfect_detection: bool = False, errors: bool = False,
                      boost: np.ndarray | None = None,
                      keep: np.ndarray | None = None, act_sched: np.ndarray | None = None,
                      sched_factor: np.ndarray | None = None) -> BehaviourTables:
    """``boost[a]`` >= 1 raises act a's candidate rate (thinned back in the kernel: gaming);
    acts with ``keep[a]`` false are not simulated (unscored acts skipped for speed). Only the
    traits that simulated acts use are drawn; each keeps its own random stream. A scheduled
    act (``act_sched[a]`` >= 0, ``calendar.thinning``) has its highest rate in ``cat``; the
    kernel keeps a candidate with probability ``sched_factor[act_sched[a], day]``."""
    A = len(cat.acts)
    if act_sched is None:
        act_sched = np.full(A, -1, np.int32)
        sched_factor = np.ones((0, 0))
    boost = np.ones(A) if boost is None else boost
    keep = np.ones(A, bool) if keep is None else keep
    all_traits = [t.name for t in cat.traits]
    used = sorted({all_traits.index(a.trait) for k, a in enumerate(cat.acts)
                   if a.trait is not None and a.rate_per_year > 0 and keep[k]})
    groups: dict[tuple[int, int, int], list[int]] = {}
    for a, act in enumerate(cat.acts):
        subj = 0 if act.subject == "person" else 1
        if act.rate_per_year > 0 and keep[a]:  # a skipped act's trait may not be drawn at all
            tr = used.index(all_traits.index(act.trait)) if act.trait is not None else -1
            groups.setdefault((subj, tr, -1), []).append(a)
    sensor_list = list(cat.sensors)
    if errors and not perfect_detection:
        for s_idx, sensor in enumerate(sensor_list):
            if sensor.false_records_per_year <= 0:
                continue
            members = [a for a, act in enumerate(cat.acts)
                       if sensor.name in act.sensors and act.subject == "person"
                       and act.rate_per_year > 0 and keep[a]]
            if members:
                groups[(0, -1, s_idx)] = members
    keys = sorted(groups, key=lambda k: (k[2], k[0], k[1]))
    grp_subject, grp_trait, grp_rate, grp_start, grp_acts, grp_cum = [], [], [], [0], [], []
    grp_false, grp_female = [], []
    for subj, tr, fs in keys:
        members = groups[(subj, tr, fs)]
        rates = np.array([cat.acts[a].rate_per_year for a in members]) / 365.0
        if fs < 0:
            rates = rates * boost[members]
            total = rates.sum()
            grp_female.append(1.0)
        else:
            total = sensor_list[fs].false_records_per_year / 365.0
            grp_female.append(sensor_list[fs].female_multiplier)
        grp_subject.append(subj)
        grp_trait.append(tr)
        grp_rate.append(total)
        grp_false.append(fs)
        cum = np.cumsum(rates) / rates.sum()
        cum[-1] = 1.0
        grp_acts.extend(members)
        grp_cum.extend(cum.tolist())
        grp_start.append(len(grp_acts))
    sensors = {s.name: s for s in cat.sensors}
    A = len(cat.acts)
    p_detect = np.zeros((A, 2))
    for a, act in enumerate(cat.acts):
        if perfect_detection:
            p_detect[a] = 1.0
            continue
        miss_u, miss_r = 1.0, 1.0
        for s in act.sensors:
            miss_u *= 1.0 - sensors[s].p_urban
            miss_r *= 1.0 - sensors[s].p_rural
        p_detect[a] = (1.0 - miss_u, 1.0 - miss_r)
    return BehaviourTables(
        trait_sigma=np.array([cat.traits[t].sigma for t in used], np.float64),
        trait_stream=np.array(used, np.int64),
        grp_subject=np.array(grp_subject, np.int32),
        grp_trait=np.array(grp_trait, np.int32),
        grp_rate=np.array(grp_rate, np.float64),
        grp_start=np.array(grp_start, np.int32),
        grp_acts=np.array(grp_acts, np.int32),
        grp_cum=np.array(grp_cum, np.float64),
        p_detect=p_detect,
        act_subject=np.array([0 if a.subject == "person" else 1 for a in cat.acts], np.int32),
        grp_false=np.array(grp_false, np.int32),
        grp_female=np.array(grp_female, np.float64),
        act_sched=np.asarray(act_sched, np.int32),
        sched_factor=np.ascontiguousarray(sched_factor, np.float64),
    )


MechanismTables = tables_class(__name__)
"""Errors, surveillance feedback, appeals, behaviour response and coupling as numbers: the fields
each mechanism declares (``credsim.mechanisms``), in registry order. A NamedTuple class, built
once here so that it pickles as ``credsim.compile.MechanismTables``."""


def compile_mechanisms(sc, regime: Regime, cat: Catalogue, rt: RegimeTables) -> MechanismTables:
    """From a scenario's mechanism tables and the compiled regime: each mechanism compiles its
    own fields (``Mechanism.compile``)."""
    return MechanismTables(**compile_tables(sc, regime, cat, rt))
