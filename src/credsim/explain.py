"""``explain``: apply a regime to one hypothetical history of recorded acts, step by step.

It runs the engine's own rule functions (``rules.py``) on a one-agent state, so what it prints
is what the engine does. Nothing random happens here: listings get no aggravation extension and
end early only on an explicit ``perform:<list>`` row of the history.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from credsim import limits as L
from credsim.behaviour import Catalogue
from credsim.compile import compile_regime
from credsim.config import read_text, shorten
from credsim.errors import ConfigError
from credsim.layout import ACC_FIELDS, ACC_LOST, BIG, CAUSE_EXPIRY, CAUSE_RECOVERY, CAUSE_REMOVAL, NEVER
from credsim.regime import Regime
from credsim.rules import (
    Record,
    add_act,
    close_day,
    fire_timers,
    grade,
    next_timer,
    perform,
    reset_day,
    sanctions_of,
)

MAX_DAY = L.DAYS  # a history's days (and timers) stay far inside int32


@dataclass(frozen=True)
class HistoryRow:
    day: int
    act: str  # an act name, or "perform:<list>"


@dataclass
class Step:
    """One line of an explanation: what happened, why, and the state after it."""

    day: int
    event: str
    effect: str
    score: int
    grade: str
    lists: list[str] = field(default_factory=list)
    sanctions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def read_history(path: str | Path, known_acts: list[str], lists: list[str]) -> list[HistoryRow]:
    """Read a history file: CSV with columns ``day,act`` or JSON ``[{"day": 3, "act": "..."}]``."""
    path = Path(path)
    text = read_text(path, "history file")
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text, parse_constant=_no_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise ConfigError(str(path), [f"not valid JSON: {exc}"]) from None
        except RecursionError:
            raise ConfigError(str(path), ["not valid JSON: nested too deeply"]) from None
        if not isinstance(raw, list):
            raise ConfigError(str(path), ["expected a list of {\"day\": ..., \"act\": ...} objects"])
        rows = [(f"[{k}]", r) for k, r in enumerate(raw)]
    else:
        reader = csv.DictReader(text.splitlines())
        try:
            if reader.fieldnames is None or not {"day", "act"} <= set(reader.fieldnames):
                raise ConfigError(str(path), ["expected a CSV header with columns 'day' and 'act'"])
            rows = [(f"row {k + 2}", r) for k, r in enumerate(reader)]
        except csv.Error as exc:
            raise ConfigError(str(path), [f"not valid CSV: {exc}"]) from None
    out, problems = [], []
    for where, r in rows:
        if not isinstance(r, dict) or "day" not in r or "act" not in r:
            problems.append(f"{where}: expected keys 'day' and 'act'")
            continue
        try:
            if isinstance(r["day"], bool | float):
                raise ValueError
            day = int(r["day"])
            if not 0 <= day <= MAX_DAY or str(r["day"]).strip() != str(day):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            problems.append(f"{where}.day: {shorten(repr(r['day']))} is not a whole number of "
                            f"days from 0 to {MAX_DAY:,}")
            continue
        act = str(r["act"]).strip()
        if act.startswith("perform:"):
            if act[len("perform:"):] not in lists:
                problems.append(f"{where}.act: {act!r} names no list of this regime (lists: {lists})")
                continue
        elif act not in known_acts:
            problems.append(
                f"{where}.act: {act!r} is not an act of the catalogue "
                f"(acts: {', '.join(known_acts)}; or perform:<list>)"
            )
            continue
        out.append(HistoryRow(day, act))
    if problems:
        raise ConfigError(str(path), problems[:50] + ([f"... and {len(problems) - 50} more"]
                                                      if len(problems) > 50 else []))
    return sorted(out, key=lambda h: h.day)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a history can hold")


class Explainer:
    """Applies a regime to one agent's recorded acts through the engine's rule functions."""

    def __init__(self, regime: Regime, catalogue: Catalogue):
        self.regime = regime
        self.acts = catalogue.act_names
        self.R = compile_regime(regime, self.acts)
        L = len(regime.lists)
        self.score = np.array([regime.score.initial], np.int32)
        self.lists = np.zeros(1, np.uint16)
        self.lexp = np.full((1, L), BIG, np.int32)
        self.lrem = np.full((1, L), BIG, np.int32)
        self.rec = np.array([[NEVER, 0, 0, 0]], np.int32)
        self.causes = np.zeros((2 * L + len(regime.recovery) + 2, 2), np.int64)
        self.acc = np.zeros(ACC_FIELDS, np.int64)
        self.st = Record(self.score, self.lists, self.lexp, self.lrem, self.rec)
        self.steps: list[Step] = []

    # -- state as words
    def _step(self, day: int, event: str, effect: str) -> Step:
        R = self.R
        g = grade(R, self.score[0])
        sanc = sanctions_of(R, g, self.lists[0])
        st = Step(
            day=day, event=event, effect=effect, score=int(self.score[0]),
            grade=self.regime.bands[g].label,
            lists=[x.name for k, x in enumerate(self.regime.lists) if (int(self.lists[0]) >> k) & 1],
            sanctions=[s.name for k, s in enumerate(self.regime.sanctions) if (int(sanc) >> k) & 1],
        )
        self.steps.append(st)
        return st

    def _fire_until(self, day: int) -> None:
        """Fire every timer due before or on ``day``."""
        R = self.R
        while True:
            td = next_timer(0, R, self.st)
            if td > day or td >= BIG:
                return
            nc = fire_timers(0, td, np.uint64(0), False, R, self.st, self.causes)
            effects = [self._cause_text(int(c), int(k)) for c, k in self.causes[:nc]]
            self._step(int(td), "timer", "; ".join(effects))

    def _cause_text(self, cause: int, k: int) -> str:
        if cause == CAUSE_RECOVERY:
            r = sorted(self.regime.recovery, key=lambda x: x.after_days)[k]
            what = "all points" if r.restore == "all" else f"{r.restore} point(s)"
            return (f"recovery: {what} back after {r.after_days} days without a deduction "
                    f"({r.provenance})")
        x = self.regime.lists[k]
        tail = f"; score set to {x.on_removal_score}" if x.on_removal_score is not None else ""
        if cause == CAUSE_REMOVAL:
            how = "after performance"
            if x.early_removal is not None:
                e = x.early_removal
                how += f" or early removal after {e.after_days} days ({e.provenance})"
            return f"removed from {x.name} {how}{tail}"
        if cause == CAUSE_EXPIRY:
            then = f"; then listed on {x.then_list}" if x.then_list else ""
            return f"{x.name} listing expired ({x.duration_days} days; {x.provenance}){tail}{then}"
        return "?"

    def _rule_text(self, act: str) -> str:
        rules = [(k, r) for k, r in enumerate(self.regime.rules) if r.act == act]
        if not rules:
            return "recorded; this regime does not score it"
        parts = []
        for k, r in rules:
            bits = []
            pts = int(self.R.act_points[self.acts.index(act)]) if len(rules) == 1 else r.points
            if pts:
                bits.append(f"{pts:+d} points")
            if r.list:
                bits.append(f"listed on {r.list}")
            if r.cap_grade:
                bits.append(f"grade capped at {r.cap_grade}")
            if r.offence_class:
                bits.append(f"offence class {r.offence_class}")
            parts.append(f"rules[{k}]: {', '.join(bits) or 'no effect'} ({r.provenance})")
        return "; ".join(parts)

    def explain(self, history: list[HistoryRow], until: int | None = None) -> list[Step]:
        """Apply ``history`` and then fire timers up to ``until`` (default: last day + 5 years)."""
        R = self.R
        self._step(0, "start", f"initial score {self.regime.score.initial} ({self.regime.score.provenance})")
        by_day: dict[int, list[HistoryRow]] = {}
        for h in history:
            by_day.setdefault(h.day, []).append(h)
        days = sorted(by_day)
        for day in days:
            self._fire_until(day)
            todays = by_day[day]
            reset_day(self.acc)
            notes = []
            for h in todays:
                if h.act.startswith("perform:"):
                    li = [x.name for x in self.regime.lists].index(h.act.split(":", 1)[1])
                    perform(0, li, day, R, self.st)
                    notes.append((h.act, f"performs; removal from {self.regime.lists[li].name} due "
                                         f"after {int(R.list_rem_delay[li])} days"))
                    continue
                a = self.acts.index(h.act)
                if R.act_rule[a] >= 0:
                    add_act(self.acc, a, R)
                notes.append((h.act, self._rule_text(h.act)))
            before = int(self.score[0])
            close_day(0, day, self.acc, np.uint64(0), False, R, self.st)
            lost = int(self.acc[ACC_LOST])
            if R.max_ded and -lost > R.max_ded:
                notes.append(("cap", f"deductions on one day capped at {R.max_ded} points"))
            for k, t in enumerate(self.regime.thresholds):
                if int(self.score[0]) <= t.at_most and before > t.at_most:
                    notes.append(("threshold", f"thresholds[{k}]: score <= {t.at_most}: listed on "
                                               f"{t.list} ({t.provenance})"))
            for event, effect in notes:
                self._step(day, event, effect)
        horizon = until if until is not None else (days[-1] if days else 0) + 5 * 365
        if not 0 <= horizon <= MAX_DAY + 5 * 365:
            raise ConfigError("--until", [f"{horizon}: fire timers up to a day from 0 to "
                                          f"{MAX_DAY + 5 * 365:,}"])
        self._fire_until(horizon)
        return self.steps


# ---------------------------------------------------------------- a panel agent of a run
def panel_steps(rows, meta: dict) -> list[Step]:
    """The panel rows of one agent as explanation steps."""
    steps = []
    for r in rows.itertuples():
        lists = [x for k, x in enumerate(meta["lists"]) if (int(r.lists) >> k) & 1]
        sanc = [x for k, x in enumerate(meta["sanctions"]) if (int(r.sanctions) >> k) & 1]
        if r.event == "act":
            what = f"{r.detail} ({'recorded by ' + r.source if r.recorded else 'not recorded'})"
        elif r.event == "false_record":
            what = f"FALSE RECORD of {r.detail} by {r.source}: the agent did not do it"
        else:
            what = r.detail
        steps.append(Step(int(r.day), r.event, what, int(r.score), str(r.grade), lists, sanc))
    return steps


def panel_chains(rows, meta: dict) -> list[str]:
    """For each sanction the agent came under, the chain of records it rests on: every record
    (true or false, with its source) from the start of the run up to it."""
    out: list[str] = []
    held = 0
    chain: list[str] = []
    for r in rows.itertuples():
        if r.event in ("act", "false_record") and r.recorded:
            kind = "FALSE" if r.false_record else "true"
            chain.append(f"    day {r.day}: {r.detail} [{kind}, {r.source}]")
        now = int(r.sanctions)
        new = now & ~held
        for k, name in enumerate(meta["sanctions"]):
            if (new >> k) & 1:
                label = meta["sanction_labels"].get(name, name)
                if r.event == "link":
                    out.append(f"day {r.day}: {label} through a household or firm link")
                    continue
                out.append(f"day {r.day}: {label} ({meta['sanction_kinds'][name]}), resting on:")
                out.extend(chain or ["    (no record: a grade-based measure from the start)"])
        held = now
    return out or ["this agent came under no sanction in the run"]
