"""What a calibration target measures in a run: a small registry of named extractors.

A quantity reads one run's output (``RunOutput``: the run table's row and, when asked for, the
daily series) and returns one number; the calibration averages it over the seeds of a trial.
Each quantity says which of the target's options it uses and checks them against the columns
the scenario's runs will have. Later observation models (blocked ticket purchases, list flows by
cause, calendar dates) register more quantities here: ``register(Quantity(...))``.

Built in:

- ``run_metric``: a column of the run table (``credsim.experiment.metrics.run_row``: final-day
  stocks such as ``list_dishonest_debtors`` and ``sanction_no_flights``, whole-run totals such
  as ``sanction_days_no_flights`` or ``acts_recorded``, ``grade_<label>``...).
- ``series``: a column of the national daily series (``list_<name>``, ``sanction_<name>``,
  ``restricted``, ``grade_<label>``, ``acts_recorded``...) on one ``day`` (0 = the first day
  after the burn-in, -1 = the last) or over ``days = [first, last]`` (inclusive) reduced by
  ``aggregate`` (``mean``, ``sum``, ``min``, ``max``, ``first``, ``last``). In a scenario with a
  ``start`` date, ``date = 2018-12-31`` (a stock on that date) and ``period = [2024-01-01,
  2024-12-31]`` (a flow: ``aggregate = "sum"``) give the same by date, checked against the run's
  calendar: a date outside the reported dates (burn-in included) is an error naming the target.

Observation models (``summary.observed``), whole-run totals over the counted days:

- ``list_added``, ``list_removed_performed``, ``list_removed_expired``, ``list_removed_appeal``,
  ``list_under_pressure`` (removals by performance while listed), ``list_ever`` (agents ever
  listed since day 0, burn-in included; the last day's figure): ``column`` names the list; each
  also as ``<name>_persons`` and ``<name>_orgs``.
- ``tickets_blocked_flight``, ``tickets_blocked_train``: ticket purchases blocked
  (person-times; firms buy none).
- ``travel_restricted_persons``: distinct persons under a ticket-blocking sanction on some
  counted day (``the year`` of a 365-day run).

Any quantity may be ``nation_equivalent``: divided by the run's scale (simulated persons /
persons represented), the figure a national source would count.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from credsim.experiment.runner import RunOutput
    from credsim.scenario import Scenario

AGGREGATES = ("mean", "sum", "min", "max", "first", "last")
# the options a target may give, shared by every quantity (a quantity uses some of them)
OPTIONS = ("column", "day", "days", "date", "period", "aggregate", "nation_equivalent")


@dataclass(frozen=True)
class Columns:
    """The columns a scenario's runs have: the run table's and the daily series'."""

    row: frozenset[str]
    daily: frozenset[str]
    days: int
    start: dt.date | None = None  # the run's first reported date (None: no calendar)


@dataclass(frozen=True)
class Quantity:
    name: str
    doc: str
    options: tuple[str, ...]  # options it reads (``nation_equivalent`` is always allowed)
    required: tuple[str, ...]
    check: Callable[[Any, Columns], list[str]]  # (target, columns) -> problems ("key: message")
    daily_columns: Callable[[Any], tuple[str, ...]]  # daily columns a run must keep for it
    value: Callable[[Any, RunOutput], float]  # one run's value (before the nation scaling)


QUANTITIES: dict[str, Quantity] = {}


def register(q: Quantity) -> Quantity:
    QUANTITIES[q.name] = q
    return q


def get(name: str) -> Quantity:
    return QUANTITIES[name]


def problems(target: Any, cols: Columns) -> list[str]:
    """Everything wrong with a target's quantity and options (``key: message`` lines)."""
    q = QUANTITIES.get(target.quantity)
    if q is None:
        return [f"quantity: {target.quantity!r} is not a quantity (known: {', '.join(sorted(QUANTITIES))})"]
    out = []
    for opt in OPTIONS:
        if opt != "nation_equivalent" and getattr(target, opt) is not None and opt not in q.options:
            out.append(f"{opt}: not an option of quantity {q.name!r} (its options: {', '.join(q.options)})")
    for opt in q.required:
        if getattr(target, opt) is None:
            out.append(f"{opt}: required by quantity {q.name!r}")
    return out or q.check(target, cols)


def run_value(target: Any, out: RunOutput) -> float:
    """The target's quantity in one run (nation-equivalent when asked)."""
    v = float(QUANTITIES[target.quantity].value(target, out))
    if target.nation_equivalent:
        scale = out.row.get("scale")
        if not scale:
            raise ValueError(f"target {target.name}: nation_equivalent needs the run's scale "
                             f"(the run table's 'scale' column)")
        v /= float(scale)
    return v


def needed_daily(targets) -> tuple[str, ...]:
    cols: list[str] = []
    for t in targets:
        for c in QUANTITIES[t.quantity].daily_columns(t):
            if c not in cols:
                cols.append(c)
    return tuple(cols)


def columns_for(sc: Scenario) -> Columns:
    """The run table's and daily series' columns of ``sc``'s runs (``experiment.metrics``)."""
    from credsim.experiment.metrics import LABELS
    from credsim.layout import UNSCORED

    regime = sc.regime_model
    grades = [*regime.grade_labels, UNSCORED]
    sanctions = [s.name for s in regime.sanctions]
    lists = [x.name for x in regime.lists]
    row = {*LABELS, "persons", "firms", "scale"}
    row |= {f"grade_{g}" for g in grades}
    for p in ("sanction_", "sanction_days_", "false_sanction_days_", "link_sanction_"):
        row |= {p + s for s in sanctions}
    row |= {f"list_{x}" for x in lists}
    daily = {"restricted", "falsely_restricted", "persons", "acts_true", "acts_recorded", "acts_false",
             "scored", "mean_score"}
    daily |= {f"grade_{g}" for g in grades}
    for p in ("sanction_", "false_sanction_", "link_sanction_"):
        daily |= {p + s for s in sanctions}
    for p in ("list_", "false_list_"):
        daily |= {p + x for x in lists}
    from credsim.experiment.metrics import observed_columns

    obs_row, obs_daily = observed_columns(sanctions, lists)
    return Columns(frozenset(row | obs_row), frozenset(daily | obs_daily), sc.days, sc.start)


def _near(name: str, known: frozenset[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


# ---------------------------------------------------------------------------- run_metric
def _check_metric(t, cols: Columns) -> list[str]:
    if t.column not in cols.row:
        return [f"column: {t.column!r} is not a column of the run table of this scenario"
                f"{_near(t.column, cols.row)}"]
    return []


def _metric_value(t, out: RunOutput) -> float:
    v = out.row.get(t.column)
    if v is None:
        raise ValueError(f"target {t.name}: the run has no column {t.column!r}")
    return float(v) if v == v else math.nan


register(Quantity(
    "run_metric", "a column of the run table (final-day stocks, whole-run totals)",
    options=("column",), required=("column",), check=_check_metric,
    daily_columns=lambda t: (), value=_metric_value))


# ---------------------------------------------------------------------------- series
def _day_index(d: int, days: int) -> int:
    return d if d >= 0 else days + d


def _check_series(t, cols: Columns) -> list[str]:
    out = []
    if t.column not in cols.daily:
        out.append(f"column: {t.column!r} is not a column of the daily series of this scenario"
                   f"{_near(t.column, cols.daily)}")
    given = [k for k in ("day", "days", "date", "period") if getattr(t, k) is not None]
    if len(given) != 1:
        out.append("day: give exactly one of 'day' (one day), 'days' ([first, last] with an "
                   "aggregate), 'date' (one date) or 'period' ([first, last] dates)"
                   + (f" (given: {', '.join(given)})" if given else ""))
    if t.aggregate is not None and (t.day is not None or t.date is not None):
        out.append(f"aggregate: only with a range ('days' or 'period'), not with "
                   f"'{'day' if t.day is not None else 'date'}'")
    if t.day is not None and not 0 <= _day_index(t.day, cols.days) < cols.days:
        out.append(f"day: {t.day} is outside the run's days (0..{cols.days - 1}, or -1 for the last)")
    if t.days is not None:
        a, b = (_day_index(d, cols.days) for d in t.days)
        if not (0 <= a <= b < cols.days):
            out.append(f"days: {list(t.days)} is not a range of the run's days "
                       f"(0..{cols.days - 1}, first <= last)")
    for key in ("date", "period"):
        v = getattr(t, key)
        if v is None:
            continue
        if cols.start is None:
            out.append(f"{key}: target {t.name} refers to a date but the scenario has no 'start' "
                       f"date (give start = YYYY-MM-DD, or use 'day'/'days')")
            continue
        first, last = (v, v) if key == "date" else v
        end = cols.start + dt.timedelta(days=cols.days - 1)
        if first > last:
            out.append(f"period: target {t.name}: [{first}, {last}]: the first date is after the last")
        elif first < cols.start or last > end:
            shown = str(v) if key == "date" else f"[{first}, {last}]"
            out.append(f"{key}: target {t.name}: {shown} is outside the run "
                       f"({cols.start} to {end}; burn-in days are not reported)")
    return out


def _days_of(t, s_day, dates) -> tuple[int, int] | int:
    """The target's day (an index) or range of days in a run's sorted series."""
    n = len(s_day)
    if t.day is not None:
        return _day_index(t.day, n)
    if t.days is not None:
        return tuple(_day_index(x, n) for x in t.days)
    if dates is None:
        raise ValueError(f"target {t.name}: the run's daily series has no dates (no 'start')")
    ds = dates.astype("datetime64[D]")
    if t.date is not None:
        return int(np.searchsorted(ds, np.datetime64(t.date.isoformat(), "D")))
    a, b = (np.datetime64(x.isoformat(), "D") for x in t.period)
    return int(np.searchsorted(ds, a)), int(np.searchsorted(ds, b, side="right")) - 1


def _series_value(t, out: RunOutput) -> float:
    d = out.daily
    if d is None or t.column not in d.columns:
        raise ValueError(f"target {t.name}: the run kept no daily series {t.column!r}")
    d = d.sort_values("day")
    s = d[t.column].to_numpy(dtype=float)
    where = _days_of(t, s, d["date"].to_numpy() if "date" in d.columns else None)
    if isinstance(where, int):
        return float(s[where])
    a, b = where
    w = s[a: b + 1]
    agg = t.aggregate or "mean"
    return float({"mean": w.mean, "sum": w.sum, "min": w.min, "max": w.max}[agg]()) if agg in (
        "mean", "sum", "min", "max") else float(w[0] if agg == "first" else w[-1])


register(Quantity(
    "series", "a column of the daily series on one day or date, or over a range of days or dates",
    options=("column", "day", "days", "date", "period", "aggregate"), required=("column",),
    check=_check_series,
    daily_columns=lambda t: (t.column,), value=_series_value))


# ---------------------------------------------------------------------------- observed
def _list_quantity(flow: str, apart: str) -> Quantity:
    def check(t, cols: Columns) -> list[str]:
        col = f"list_{flow}_{t.column}{apart}"
        if col not in cols.row:
            lists = sorted(c[len("list_under_pressure_"):] for c in cols.row
                           if c.startswith("list_under_pressure_") and not c.endswith(("_persons", "_orgs")))
            return [f"column: {t.column!r} is not a list of this scenario's regime (lists: {lists})"]
        return []

    def value(t, out: RunOutput) -> float:
        return _metric_value(_Col(t.name, f"list_{flow}_{t.column}{apart}"), out)

    who = {"": "persons and organisations", "_persons": "persons", "_orgs": "organisations"}[apart]
    return Quantity(f"list_{flow}{apart}", f"list flow {flow!r} of the list in 'column', {who}",
                    options=("column",), required=("column",), check=check,
                    daily_columns=lambda t: (), value=value)


@dataclass(frozen=True)
class _Col:
    name: str
    column: str


def _row_quantity(column: str, doc: str) -> Quantity:
    def check(t, cols: Columns) -> list[str]:
        return [] if column in cols.row else [f"quantity: this scenario's runs have no {column!r}"]

    return Quantity(column, doc, options=(), required=(), check=check, daily_columns=lambda t: (),
                    value=lambda t, out: _metric_value(_Col(t.name, column), out))


for _flow in ("added", "removed_performed", "removed_expired", "removed_appeal", "ever",
              "under_pressure"):
    for _apart in ("", "_persons", "_orgs"):
        register(_list_quantity(_flow, _apart))
for _kind in ("flight", "train"):
    register(_row_quantity(f"tickets_blocked_{_kind}",
                           f"{_kind} ticket purchases blocked over the counted days (person-times)"))
register(_row_quantity("travel_restricted_persons",
                       "distinct persons under a ticket-blocking sanction on some counted day"))
