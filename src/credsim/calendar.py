"""Calendar time: a run's dates, and parameters that follow a schedule by date.

A scenario with ``start = 2013-10-01`` reports day ``d`` as the date ``start + d``; burn-in days
come before the start (day ``-burn_in_days`` is the first simulated date). ``end`` gives the last
reported date instead of ``days``.

A ``[[schedule]]`` makes a value piecewise constant by date::

    [[schedule]]
    name = "person_listing"
    path = "catalogue.acts[judgment_unperformed].rate_per_year"
    steps = [{from = 2013-10-01, value = 0.0021}, {from = 2023-01-01, value = 0.0030}]
    assumption = "..."

Before its first step a value is the one the files give. A step dated before the first simulated
day is in force from that day (the latest such step wins); a step dated after the run's last day
never applies, so a scheduled scenario can be cut short (``--set end=...``). Only act rates can be scheduled
(``SCHEDULABLE``): the kernel draws an act's candidates at the schedule's highest rate and keeps
each with probability rate(day) / highest (thinning: exact for a Poisson process), through a
per-(act, day) factor next to the behaviour response's acceptance. Anything else (a list's
removal rate, whose waiting time is drawn once at listing, a sanction, a point value) is refused
with the paths that can be scheduled.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from credsim import limits as L
from credsim import overrides
from credsim.behaviour import Catalogue
from credsim.config import Strict
from credsim.provenance import Sourced

SCHEDULABLE = ("catalogue.acts[NAME].rate_per_year", "behaviour.acts.NAME.rate_per_year")
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"


class Step(Strict):
    """From ``from`` (a date, inclusive) on, the value is ``value``."""

    from_: dt.date = Field(alias="from")
    value: float = Field(ge=0, le=L.RATE)


class Schedule(Sourced):
    """A value by date: its key path (as in ``--set``), its steps in date order, its provenance."""

    path: str = Field(min_length=1)
    name: str | None = Field(default=None, pattern=NAME)
    steps: list[Step] = Field(min_length=1, max_length=L.STEPS)
    note: str = ""

    @model_validator(mode="after")
    def _sorted(self):
        for k in range(1, len(self.steps)):
            a, b = self.steps[k - 1].from_, self.steps[k].from_
            if not a < b:
                raise ValueError(f"steps[{k}].from: {b} is not after the step before it ({a}): "
                                 f"the steps' dates must increase")
        return self


def check_date(v: dt.date | None) -> dt.date | None:
    if v is not None and not L.FIRST_YEAR <= v.year <= L.LAST_YEAR:
        raise ValueError(f"a date between {L.FIRST_YEAR} and {L.LAST_YEAR}")
    return v


def days_from_end(data: Any) -> Any:
    """A scenario's raw table with ``end`` turned into ``days`` (the dates inclusive); a ``days``
    that disagrees with ``end`` is an error."""
    if not isinstance(data, dict) or data.get("end") is None:
        return data
    start, end = _as_date(data.get("start")), _as_date(data["end"])
    if start is None or end is None:
        return data  # the fields' own validation names the problem
    n = (end - start).days + 1
    if n < 1:
        raise ValueError(f"end: {end} is before start ({start})")
    if data.get("days") is not None and data["days"] != n:
        raise ValueError(f"days: {data['days']} disagrees with start {start} and end {end} "
                         f"({n} days): give 'days' or 'end', not both")
    return {**data, "days": n}


def _as_date(v: Any) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return None
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            return None
    return None


# ---------------------------------------------------------------- a run's calendar
def end_date(start: dt.date, days: int) -> dt.date:
    """The last reported date of a run of ``days`` days from ``start``."""
    return start + dt.timedelta(days=days - 1)


def dates(start: dt.date, day: np.ndarray) -> np.ndarray:
    """The dates of days ``day`` (0 = ``start``; negative: burn-in) as datetime64[D]."""
    return np.datetime64(start.isoformat(), "D") + np.asarray(day, np.int64)


def day_of(start: dt.date, date: dt.date) -> int:
    """The day number of ``date`` (0 = ``start``)."""
    return (date - start).days


# ---------------------------------------------------------------- schedules
def _act_of(path: overrides.Path_, acts: list[str]) -> str | None:
    """The act a schedulable path names, or None if the path is not one of ``SCHEDULABLE``."""
    if len(path) == 4 and path[0] == "catalogue" and path[1] == "acts" and path[3] == "rate_per_year":
        sel = path[2]
        if isinstance(sel, int):
            return acts[sel] if -len(acts) <= sel < len(acts) else f"[{sel}]"
        return str(sel) if isinstance(sel, str) else None
    if (len(path) == 4 and path[:2] == ("behaviour", "acts") and path[3] == "rate_per_year"
            and isinstance(path[2], str)):
        return str(path[2])
    return None


def schedule_problems(sc: Any) -> list[str]:  # a scenario.Scenario (which imports this module)
    """Everything wrong with a scenario's calendar and schedules, as ``key: message`` lines."""
    if not sc.schedule:
        return []
    out: list[str] = []
    if sc.start is None:
        return ["schedule: a schedule needs the scenario's 'start' date (e.g. start = 2013-10-01)"]
    acts = sc._base_catalogue.act_names
    seen: dict[str, int] = {}
    for j, s in enumerate(sc.schedule):
        where = f"schedule[{j}]"
        try:
            path = overrides.parse_path(s.path)
        except ValueError as exc:
            out.append(f"{where}.path: {exc}")
            continue
        act = _act_of(path, acts)
        if act is None:
            out.append(f"{where}.path: {s.path!r} cannot be scheduled (schedulable: "
                       f"{', '.join(SCHEDULABLE)})")
            continue
        if act not in acts:
            out.append(f"{where}.path: {s.path!r}: {act} is not an act of the catalogue")
            continue
        if act in seen:
            out.append(f"{where}.path: the rate of {act} is scheduled twice "
                       f"(also schedule[{seen[act]}])")
        seen[act] = j
    return out


def act_rates(sc: Any, cat: Catalogue) -> dict[int, np.ndarray]:
    """Each scheduled act's rate per year on every simulated day (burn-in first): the
    catalogue's rate before the first step, each step's value from its date on."""
    if not sc.schedule:
        return {}
    names = cat.act_names
    first = sc.start - dt.timedelta(days=sc.burn_in_days)
    total = sc.burn_in_days + sc.days
    out = {}
    for s in sc.schedule:
        act = _act_of(overrides.parse_path(s.path), names)
        a = names.index(act)
        r = np.full(total, cat.acts[a].rate_per_year, np.float64)
        for st in s.steps:  # before the first day: in force from it; after the last: never
            r[max(0, (st.from_ - first).days):] = st.value
        out[a] = r
    return out


def thinning(sc: Any, cat: Catalogue) -> tuple[Catalogue, np.ndarray, np.ndarray]:
    """The catalogue with each scheduled act at its highest rate, and the kernel's thinning
    table: ``act_sched[a]`` (-1: not scheduled) the row of act a in ``factor[row, day]`` =
    rate(day) / highest rate."""
    rates = act_rates(sc, cat)
    act_sched = np.full(len(cat.acts), -1, np.int32)
    factor = np.ones((len(rates), sc.burn_in_days + sc.days if rates else 0), np.float64)
    if not rates:
        return cat, act_sched, factor
    acts = list(cat.acts)
    for row, (a, r) in enumerate(sorted(rates.items())):
        top = float(r.max())
        act_sched[a] = row
        factor[row] = r / top if top > 0 else 0.0
        acts[a] = acts[a].model_copy(update={"rate_per_year": top})
    return cat.model_copy(update={"acts": acts}), act_sched, factor
