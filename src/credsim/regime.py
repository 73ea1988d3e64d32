"""A regime: score, grade bands, lists, rules, sanctions and recovery, as a validated data file.

A regime is data, never code: adding one never touches a kernel (see ``compile.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from credsim import limits as L
from credsim.config import Strict, read_toml, validate
from credsim.data import data_path
from credsim.provenance import Sourced
from credsim.refs import resolve

Subject = Literal["person", "firm"]


class Score(Sourced):
    """The score every covered agent starts with and its bounds. ``initial_sd`` > 0 spreads the
    starting score normally around ``initial`` (commercial scores); 0 gives everyone ``initial``."""

    initial: int = Field(ge=-L.SCORE, le=L.SCORE)
    min: int = Field(ge=-L.SCORE, le=L.SCORE)
    max: int = Field(ge=-L.SCORE, le=L.SCORE)
    initial_sd: float = Field(default=0.0, ge=0, le=2 * L.SCORE)


class Band(Sourced):
    """A grade: every score >= ``min`` (and below the next better band) has this grade."""

    label: str
    min: int = Field(ge=-L.INT32, le=L.INT32)


ExtensionWhen = Literal["listing", "listed_again", "aggravating_act"]


class Extension(Sourced):
    """When one of its conditions ``when`` is met, a listing is extended with ``probability`` by a
    uniform whole number of days in [min_days, max_days]. Conditions: ``listing`` (any listing),
    ``listed_again`` (an agent already on the list is listed again: multiple acts),
    ``aggravating_act`` (an act whose rule has ``extends = true``, e.g. violent obstruction)."""

    probability: float = Field(ge=0, le=1)
    min_days: int = Field(ge=0, le=L.DAYS)
    max_days: int = Field(ge=0, le=L.DAYS)
    when: list[ExtensionWhen] = Field(default_factory=lambda: ["listing"], min_length=1)


class Removal(Sourced):
    """Early removal: the listed agent performs (repays, regularises) at ``rate_per_year`` and the
    list drops them ``delay_days`` later."""

    rate_per_year: float = Field(ge=0, le=L.RATE)
    delay_days: int = Field(ge=0, default=0, le=L.DAYS)


class EarlyRemoval(Sourced):
    """The listing ends after ``after_days`` (before its full duration) unless the agent is
    listed on one of ``unless_listed_on`` meanwhile (an incident): then it runs its full
    duration (FICP over-indebtedness entries: 5 years without incident, else up to 7)."""

    after_days: int = Field(gt=0, le=L.DAYS)
    unless_listed_on: list[str] = Field(default_factory=list)


class ListSpec(Sourced):
    """A blacklist or file (court list of dishonest debtors, FICP, licence invalidation...).
    ``then_list``: when the listing runs to its end (not removed after performance), the agent
    goes on that list: a notice period before filing (the FICP's 30-day warning) is a list of
    its own that leads to the file unless the agent regularises first."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    duration_days: int = Field(gt=0, le=L.DAYS)
    extension: Extension | None = None
    removal: Removal | None = None
    early_removal: EarlyRemoval | None = None
    then_list: str | None = None
    on_removal_score: int | None = Field(default=None, ge=-L.SCORE, le=L.SCORE)


class Rule(Sourced):
    """What a recorded act does: add ``points`` (negative deducts), put the agent on ``list``,
    cap the grade at ``cap_grade``. ``offence_class`` feeds class-dependent recovery. With
    ``extends``, the act meets its list's extension condition ``aggravating_act``."""

    act: str
    points: int = Field(default=0, ge=-2 * L.SCORE, le=2 * L.SCORE)
    list: str | None = None
    extends: bool = False
    cap_grade: str | None = None
    offence_class: int = Field(default=0, ge=0, le=9)
    dimension: str | None = None
    note: str = ""


class Threshold(Sourced):
    """Score-triggered listing: when the score falls to ``at_most`` or below, list the agent."""

    list: str
    at_most: int = Field(ge=-L.INT32, le=L.INT32)


class Sanction(Sourced):
    """A restriction, privilege or shaming measure in force while the agent has one of ``grades``
    or is on one of ``lists`` (structured conditions, no expressions). ``applies_to``: the
    subjects that can be under it, by their own record or through a link (default: those the
    regime covers); a firm's record still passes a person-only sanction to the persons it
    reaches (a listed firm's legal representative may not fly; the firm buys no tickets)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    kind: Literal["restriction", "privilege", "shaming"] = "restriction"
    grades: list[str] = Field(default_factory=list)
    lists: list[str] = Field(default_factory=list)
    reaches: list[Literal["self", "household_children", "legal_representative",
                          "represented_firms"]] = Field(default_factory=lambda: ["self"])
    # the tickets a person under this sanction cannot buy (layout.TICKET_KINDS): each attempt
    # is blocked and counted (credsim.tickets); only restrictions block
    blocks_tickets: list[Literal["flight", "train"]] = Field(default_factory=list)
    applies_to: list[Subject] | None = Field(default=None, min_length=1)

    def subjects(self, covers: list[str]) -> list[str]:
        """The subjects that can be under this sanction."""
        return list(self.applies_to) if self.applies_to is not None else list(covers)


class Recovery(Sourced):
    """Points come back after ``after_days`` without a new recorded deduction: all of them
    (``restore = "all"``) or a number. Optional conditions: on the points of the last day's
    deductions, and on the worst (highest) offence class of every deduction since the points
    were last whole (Code de la route L223-6: 3 years instead of 2 if ANY of the offences was of
    class 4-5, not only the last)."""

    after_days: int = Field(gt=0, le=L.DAYS)
    restore: Literal["all"] | Annotated[int, Field(ge=0, le=2 * L.SCORE)]
    if_last_points_at_most: int | None = Field(default=None, ge=-L.INT32, le=L.INT32)
    if_worst_class_at_most: int | None = Field(default=None, ge=0, le=9)
    if_worst_class_at_least: int | None = Field(default=None, ge=0, le=9)


class Dimension(Sourced):
    """A score dimension (Sesame-style). A rule's points are multiplied by its dimension's weight."""

    name: str
    weight: float = Field(ge=0, le=L.WEIGHT)


class PeerRating(Sourced):
    """Peer ratings (Black Mirror's "Nosedive"): at each epoch boundary, every agent is rated 1-5
    stars by contacts it met; a rater's stars weigh in proportion to the rater's own rating.
    The score is the rating x 100 (so 420 = 4.2 stars)."""

    contacts: int = Field(default=20, ge=1, le=1000)
    ratings_per_day: float = Field(default=0.5, ge=0, le=100)
    memory: float = Field(default=50.0, gt=0, le=1e6)
    quality_mean: float = Field(default=3.8, ge=1, le=5)
    quality_sd: float = Field(default=0.6, ge=0, le=10)
    noise_sd: float = Field(default=0.8, ge=0, le=10)


class Regime(Strict):
    """A scoring and sanctioning regime."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    summary: str
    description: str = ""
    covers: list[Subject] = Field(default_factory=lambda: ["person"])
    max_deduction_per_day: int | None = Field(default=None, gt=0, le=L.INT32)
    score: Score
    bands: list[Band] = Field(min_length=1, max_length=L.BANDS)
    lists: list[ListSpec] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    thresholds: list[Threshold] = Field(default_factory=list)
    sanctions: list[Sanction] = Field(default_factory=list)
    recovery: list[Recovery] = Field(default_factory=list)
    dimensions: list[Dimension] = Field(default_factory=list)
    peer_rating: PeerRating | None = None

    @model_validator(mode="after")
    def _coherent(self):
        problems = regime_problems(self)
        if problems:
            raise ValueError(" | ".join(problems))
        return self

    @property
    def grade_labels(self) -> list[str]:
        return [b.label for b in self.bands]

    def band_range(self, label: str) -> tuple[int, int]:
        """(min, max) score of a band."""
        for k, b in enumerate(self.bands):
            if b.label == label:
                hi = self.score.max if k == 0 else self.bands[k - 1].min - 1
                return b.min, hi
        raise KeyError(label)


def regime_problems(r: Regime, known_acts: set[str] | None = None) -> list[str]:
    """Cross-field checks, each naming the key path of the bad value (in file order)."""
    return (_score_and_band_problems(r) + _list_problems(r) + _rule_problems(r, known_acts)
            + _sanction_problems(r))


def _score_and_band_problems(r: Regime) -> list[str]:
    p: list[str] = []
    s = r.score
    if s.min > s.max:
        p.append(f"score.min: {s.min} is above score.max {s.max}")
    if not s.min <= s.initial <= s.max:
        p.append(f"score.initial: {s.initial} is outside [score.min, score.max] = [{s.min}, {s.max}]")
    labels = [b.label for b in r.bands]
    for k, b in enumerate(r.bands):
        if b.min > s.max:
            p.append(f"bands[{k}].min: {b.min} is above the regime's score.max {s.max}")
        if k and b.min >= r.bands[k - 1].min:
            p.append(
                f"bands[{k}].min: {b.min} must be below bands[{k - 1}].min {r.bands[k - 1].min} "
                "(bands go from best to worst)"
            )
        if labels.count(b.label) > 1:
            p.append(f"bands[{k}].label: {b.label!r} is used twice")
    if r.bands[-1].min > s.min:
        p.append(
            f"bands[{len(r.bands) - 1}].min: {r.bands[-1].min} leaves scores from {s.min} "
            "without a grade (the worst band's min must be <= score.min)"
        )
    if r.peer_rating is not None and (s.min < 100 or s.max > 500):
        p.append(f"score: peer ratings need score.min >= 100 and score.max <= 500 (1-5 stars x 100), "
                 f"got [{s.min}, {s.max}]")
    return p


def _list_problems(r: Regime) -> list[str]:
    p: list[str] = []
    s = r.score
    lists = [x.name for x in r.lists]
    for k, x in enumerate(r.lists):
        if lists.count(x.name) > 1:
            p.append(f"lists[{k}].name: {x.name!r} is used twice")
        if x.extension and x.extension.min_days > x.extension.max_days:
            p.append(f"lists[{k}].extension.min_days: {x.extension.min_days} is above max_days")
        if x.on_removal_score is not None and not s.min <= x.on_removal_score <= s.max:
            p.append(f"lists[{k}].on_removal_score: {x.on_removal_score} is outside the score bounds")
        if x.then_list is not None and (x.then_list not in lists or x.then_list == x.name):
            p.append(f"lists[{k}].then_list: {x.then_list!r} must be another list of this regime "
                     f"(lists: {lists})")
        if x.early_removal is not None:
            if x.early_removal.after_days >= x.duration_days:
                p.append(f"lists[{k}].early_removal.after_days: {x.early_removal.after_days} is "
                         f"not before the end of the listing (duration_days {x.duration_days})")
            for j, u in enumerate(x.early_removal.unless_listed_on):
                if u not in lists:
                    p.append(f"lists[{k}].early_removal.unless_listed_on[{j}]: {u!r} is not a list "
                             f"(lists: {lists})")
    if len(r.lists) > 16:
        p.append(f"lists: {len(r.lists)} lists; at most 16 are supported")
    if len(r.sanctions) > 62:
        p.append(f"sanctions: {len(r.sanctions)} sanctions; at most 62 are supported")
    return p


def _rule_problems(r: Regime, known_acts: set[str] | None) -> list[str]:
    p: list[str] = []
    lists = [x.name for x in r.lists]
    labels = [b.label for b in r.bands]
    dims = {d.name for d in r.dimensions}
    for k, rule in enumerate(r.rules):
        if rule.list is not None and rule.list not in lists:
            p.append(f"rules[{k}].list: {rule.list!r} is not a list of this regime (lists: {lists})")
        if rule.extends:
            ext = next((x.extension for x in r.lists if x.name == rule.list), None)
            if rule.list is None:
                p.append(f"rules[{k}].extends: the rule lists nobody (give 'list')")
            elif rule.list in lists and (ext is None or "aggravating_act" not in ext.when):
                p.append(f"rules[{k}].extends: list {rule.list!r} has no extension with "
                         "when = [\"aggravating_act\", ...]")
        if rule.cap_grade is not None and rule.cap_grade not in labels:
            p.append(f"rules[{k}].cap_grade: {rule.cap_grade!r} is not a band (bands: {labels})")
        if known_acts is not None and rule.act not in known_acts:
            p.append(f"rules[{k}].act: {rule.act!r} is not an act of the behaviour catalogue")
        if rule.dimension is not None and not dims:
            p.append(f"rules[{k}].dimension: {rule.dimension!r} but the regime declares no dimensions")
        elif dims and rule.dimension not in dims:
            p.append(f"rules[{k}].dimension: {rule.dimension!r} is not a dimension ({sorted(dims)})")
    per_act: dict[str, int] = {}
    weight = {d.name: d.weight for d in r.dimensions}
    for k, rule in enumerate(r.rules):
        w = weight.get(rule.dimension, 1.0) if rule.dimension is not None else 1.0
        per_act[rule.act] = per_act.get(rule.act, 0) + abs(round(rule.points * w))
        if per_act[rule.act] > L.INT32 // 2:
            p.append(f"rules[{k}].points: the rules of act {rule.act!r} add up to more than "
                     f"{L.INT32 // 2:,} points (weights applied): they would overflow")
    for k, t in enumerate(r.thresholds):
        if t.list not in lists:
            p.append(f"thresholds[{k}].list: {t.list!r} is not a list of this regime (lists: {lists})")
    return p


def _sanction_problems(r: Regime) -> list[str]:
    p: list[str] = []
    lists = [x.name for x in r.lists]
    labels = [b.label for b in r.bands]
    names = [x.name for x in r.sanctions]
    for k, sn in enumerate(r.sanctions):
        if names.count(sn.name) > 1:
            p.append(f"sanctions[{k}].name: {sn.name!r} is used twice")
        if not sn.grades and not sn.lists:
            p.append(f"sanctions[{k}]: gives neither 'grades' nor 'lists', so it never applies")
        for j, g in enumerate(sn.grades):
            if g not in labels:
                p.append(f"sanctions[{k}].grades[{j}]: {g!r} is not a band (bands: {labels})")
        for j, li in enumerate(sn.lists):
            if li not in lists:
                p.append(f"sanctions[{k}].lists[{j}]: {li!r} is not a list (lists: {lists})")
        if sn.blocks_tickets and sn.kind != "restriction":
            p.append(f"sanctions[{k}].blocks_tickets: only a restriction blocks tickets, "
                     f"{sn.name!r} is a {sn.kind}")
        if len(set(sn.blocks_tickets)) < len(sn.blocks_tickets):
            p.append(f"sanctions[{k}].blocks_tickets: {sn.blocks_tickets} names a kind twice")
        p += _subject_problems(k, sn, r.covers)
    return p


REACH_SUBJECT = {"household_children": "person", "legal_representative": "person",
                 "represented_firms": "firm"}  # whom each kind of link passes a sanction to


def _subject_problems(k: int, sn: Sanction, covers: list[str]) -> list[str]:
    """A sanction passed through a link to a subject it does not apply to, or held by nobody."""
    p: list[str] = []
    subjects = sn.subjects(covers)
    for j, reach in enumerate(sn.reaches):
        to = REACH_SUBJECT.get(reach)
        if to is not None and to not in subjects:
            p.append(f"sanctions[{k}].reaches[{j}]: {reach!r} passes {sn.name!r} to a {to}, but it "
                     f"applies_to only {subjects} (add {to!r} to applies_to, or drop the reach)")
    holders = set(covers) | {REACH_SUBJECT[x] for x in sn.reaches if x in REACH_SUBJECT}
    if sn.applies_to is not None and not holders & set(subjects):
        p.append(f"sanctions[{k}].applies_to: {subjects} but the regime covers {covers} and "
                 f"{sn.name!r} reaches no {' or '.join(subjects)} through a link: it never "
                 "applies")
    return p


def shipped_regimes() -> list[str]:
    """Names of the regimes shipped with credsim."""
    return sorted(p.stem for p in data_path("regimes").glob("*.toml"))


def regime_path(ref: str | Path, base: Path | None = None) -> Path:
    return resolve(ref, base, "regimes", "regime")


def load_regime(ref: str | Path, base: Path | None = None) -> Regime:
    """Load a shipped regime by name (``rongcheng``) or a regime file by path."""
    path = regime_path(ref, base)
    return validate(Regime, read_toml(path), str(path))
