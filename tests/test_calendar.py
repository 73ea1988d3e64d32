"""Calendar time: start and end dates, dates in every output, act rates on a schedule by date
(thinning, exact for a Poisson process), targets by date and period, and the errors of bad ones."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats

from credsim import Scenario, Sim
from credsim.calendar import act_rates, thinning
from credsim.errors import ConfigError

START = dt.date(2020, 1, 1)
ACT = "littering"  # unscored by the court list: its acceptance never depends on the agent's state
PATH = f"catalogue.acts[{ACT}].rate_per_year"


def scenario(**over) -> Scenario:
    data = {"name": "cal", "seed": 5, "start": "2020-01-01", "days": 300,
            "population": {"persons": 60_000, "community_size": 30_000},
            "regime": {"use": "court-blacklist"}, "output": {"report": False, "panel_agents": 50}}
    data.update(over)
    return Scenario.from_dict(data)


def sched(steps, path=PATH, **kw) -> dict:
    return {"name": "litter", "path": path, "assumption": "a test schedule",
            "steps": [{"from": d, "value": v} for d, v in steps], **kw}


# -------------------------------------------------------------------------------- the calendar
def test_end_date_gives_days_and_dates_follow_start_plus_day():
    sc = scenario(days=None, end="2020-12-31", burn_in_days=30)
    assert sc.days == 366 and sc.end_date == dt.date(2020, 12, 31)
    res = Sim(sc).run(progress=False)
    for name in ("daily", "acts", "panel", "by_day"):
        df = getattr(res, name)
        want = np.datetime64("2020-01-01") + df["day"].to_numpy().astype("timedelta64[D]")
        assert (df["date"].to_numpy().astype("datetime64[D]") == want).all(), name
    assert res.panel["day"].min() < 0  # burn-in rows of the panel are dated before the start
    assert res.panel["date"].min() < np.datetime64("2020-01-01")
    s = res.summary
    assert (s["start"], s["end"], s["burn_in_days"]) == ("2020-01-01", "2020-12-31", 30)
    assert res.by_day["date"].iloc[-1] == np.datetime64("2020-12-31")


def test_no_calendar_no_date_column():
    sc = scenario(start=None, days=20)
    res = Sim(sc).run(progress=False)
    assert "date" not in res.daily.columns and "date" not in res.acts.columns
    assert "start" not in res.summary


def test_days_follow_a_new_end_by_override_and_the_other_way():
    sc = scenario(days=None, end="2020-03-31")
    assert sc.with_overrides({"end": "2020-01-10"}).days == 10
    moved = sc.with_overrides({"days": 5})
    assert moved.days == 5 and moved.end is None and moved.end_date == dt.date(2020, 1, 5)


# -------------------------------------------------------------------------------- schedules
def test_factor_table_is_the_rate_over_its_highest():
    sc = scenario(burn_in_days=10, schedule=[sched([("2020-02-01", 3.0), ("2020-03-01", 0.3)])])
    cat = sc.catalogue
    a = cat.act_names.index(ACT)
    base = cat.acts[a].rate_per_year
    r = act_rates(sc, cat)[a]
    assert len(r) == 310
    assert (r[:10 + 31] == base).all() and (r[41:41 + 29] == 3.0).all() and (r[70:] == 0.3).all()
    cat2, act_sched, factor = thinning(sc, cat)
    assert cat2.acts[a].rate_per_year == 3.0
    assert act_sched[a] == 0 and (np.delete(act_sched, a) == -1).all()
    np.testing.assert_allclose(factor[0], r / 3.0)


def test_a_rate_of_zero_from_a_date_stops_the_act_on_that_day():
    change = dt.date(2020, 4, 10)
    sc = scenario(schedule=[sched([(change.isoformat(), 0.0)])])
    acts = Sim(sc).run(progress=False).acts
    a = acts[acts.act == ACT]
    day = (change - START).days
    assert a[a.day < day]["true"].sum() > 1000  # before the change: the catalogue's rate
    assert a[a.day == day - 1]["true"].sum() > 0
    assert a[a.day >= day]["true"].sum() == 0  # from the change day on: none at all
    other = acts[(acts.act != ACT) & (acts.day >= day)]
    assert other["true"].sum() > 0  # the other acts go on


def test_an_act_starts_on_its_first_step():
    sc = scenario(behaviour={"acts": {ACT: {"rate_per_year": 0.0}}},
                  schedule=[sched([("2020-06-01", 1.0)], path=f"behaviour.acts.{ACT}.rate_per_year")])
    a = Sim(sc).run(progress=False).acts
    a = a[a.act == ACT]
    day = (dt.date(2020, 6, 1) - START).days
    assert a[a.day < day]["true"].sum() == 0
    assert a[a.day == day]["true"].sum() > 0


def test_counts_per_segment_match_the_schedule():
    """Counts per segment, given their total, are multinomial with probabilities proportional
    to rate x length (the act's acceptance is a constant; thinning is exact): a chi-square test,
    and each segment within 4 standard deviations of its expectation."""
    steps = [("2020-01-01", 0.4), ("2020-03-15", 1.6), ("2020-07-01", 0.1), ("2020-09-20", 0.8)]
    sc = scenario(schedule=[sched(steps)])
    a = Sim(sc).run(progress=False).acts
    a = a[a.act == ACT]
    edges = [(dt.date.fromisoformat(d) - START).days for d, _ in steps] + [sc.days]
    counts = np.array([a[(a.day >= lo) & (a.day < hi)]["true"].sum()
                       for lo, hi in zip(edges, edges[1:], strict=False)])
    w = np.array([v * (hi - lo) for (_, v), lo, hi in zip(steps, edges, edges[1:], strict=False)])
    expected = counts.sum() * w / w.sum()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, len(counts) - 1) > 1e-3, (counts, expected)
    assert (np.abs(counts - expected) < 4 * np.sqrt(expected)).all()
    assert counts.sum() > 5000


def test_unscheduled_acts_keep_their_draws():
    """Scheduling one act at its catalogue rate everywhere changes no count (factor 1)."""
    base = Sim(scenario(days=60)).run(progress=False)
    cat = scenario().catalogue
    r = cat.acts[cat.act_names.index(ACT)].rate_per_year
    same = Sim(scenario(days=60, schedule=[sched([("2020-01-01", r)])])).run(progress=False)
    assert base.acts.equals(same.acts)


def test_steps_outside_the_run_before_in_force_at_the_start_after_never():
    """A step before the first simulated day is the value from that day (the latest such step
    wins); a step after the last day never applies and does not raise the thinning's top rate."""
    sc = scenario(burn_in_days=10, days=100, schedule=[sched(
        [("2019-06-01", 5.0), ("2019-12-01", 0.7), ("2020-02-01", 0.2), ("2020-04-10", 9.0),
         ("2021-01-01", 50.0)])])
    a = sc.catalogue.act_names.index(ACT)
    r = act_rates(sc, sc.catalogue)[a]
    assert len(r) == 110
    assert (r[:10 + 31] == 0.7).all() and (r[41:10 + 100] == 0.2).all()
    cat2, _, factor = thinning(sc, sc.catalogue)
    assert cat2.acts[a].rate_per_year == 0.7
    np.testing.assert_allclose(factor[0], r / 0.7)


def test_a_scheduled_scenario_cut_short_by_end_runs():
    """The shipped court list (steps to 2024) cut to 2014 by --set end: the later steps never
    apply, and the run is the first step's."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scenarios" / "court-blacklist.toml"
    sc = Scenario.from_file(path).with_overrides({"end": "2014-03-31", "population.scale": 0.0001})
    assert sc.days == 182 and sc.end_date == dt.date(2014, 3, 31)
    cat = sc.catalogue
    a = cat.act_names.index("judgment_unperformed")
    r = act_rates(sc, cat)[a]
    assert (r == sc.schedule[0].steps[0].value).all()
    res = Sim(sc).run(progress=False)
    assert res.daily["date"].iloc[-1] == np.datetime64("2014-03-31")
    assert res.daily["acts_recorded"].sum() > 0


def test_a_step_value_can_be_set_by_key_path():
    sc = scenario(schedule=[sched([("2020-01-01", 0.4), ("2020-05-01", 0.8)])])
    sc2 = sc.with_overrides({"schedule[litter].steps[1].value": 2.5})
    assert sc2.schedule[0].steps[1].value == 2.5


# -------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(("change", "expected"), [
    ({"schedule": [sched([("2020-02-01", 1.0)], path="catalogue.acts[nope].rate_per_year")]},
     "schedule[0].path: 'catalogue.acts[nope].rate_per_year': nope is not an act"),
    ({"schedule": [sched([("2020-02-01", 1.0)],
                         path="regime.lists[dishonest_debtors].removal.rate_per_year")]},
     "cannot be scheduled (schedulable: catalogue.acts[NAME].rate_per_year"),
    ({"schedule": [sched([("2020-03-01", 1.0), ("2020-02-01", 2.0)])]},
     "schedule[0].steps[1].from: 2020-02-01 is not after the step before it (2020-03-01)"),
    ({"schedule": [sched([("2020-02-01", -0.5)])]},
     "schedule[0].steps[0].value: -0.5: Input should be greater than or equal to 0"),
    ({"schedule": [sched([("2020-02-01", 1.0)]), sched([("2020-03-01", 1.0)])]},
     "schedule[1].path: the rate of littering is scheduled twice (also schedule[0])"),
    ({"schedule": [sched([("2020-02-01", 1.0)])], "start": None},
     "schedule: a schedule needs the scenario's 'start' date"),
    ({"end": "2019-01-01"}, "end: 2019-01-01 is before start (2020-01-01)"),
    ({"end": "2020-01-31", "days": 40}, "days: 40 disagrees with start 2020-01-01 and end 2020-01-31"),
    ({"start": "1800-01-01"}, "start: '1800-01-01': a date between 1900 and 2199"),
    ({"days": 10**5}, "days: 100000: Input should be less than or equal to 7320"),
])
def test_bad_calendar_or_schedule_names_the_key(change, expected):
    with pytest.raises(ConfigError) as err:
        scenario(**change)
    assert str(err.value).startswith("<scenario>: ")
    assert expected in str(err.value), str(err.value)


def test_a_schedule_needs_a_source_or_an_assumption():
    s = sched([("2020-02-01", 1.0)])
    del s["assumption"]
    with pytest.raises(ConfigError, match="schedule.0.|schedule\\[0\\]"):
        scenario(schedule=[s])


# -------------------------------------------------------------------------------- targets
def _cal(targets, **scen):
    from credsim.calibration import Calibration

    return Calibration.from_dict({
        "name": "t", "scenario": "s.toml", "trials": 2, "seeds": 1,
        "parameters": [{"path": PATH, "range": [0.1, 1.0]}], "targets": targets}, base=scen["base"])


@pytest.fixture
def dated_scenario(tmp_path):
    (tmp_path / "s.toml").write_text(
        'name = "s"\nstart = 2020-01-01\ndays = 300\n[population]\npersons = 3000\n'
        'community_size = 3000\n[regime]\nuse = "court-blacklist"\n[output]\nreport = false\n')
    return tmp_path


def _target(**kw):
    return {"name": "x", "quantity": "series", "column": "acts_recorded", "observed": 10, "cv": 0.1,
            "assumption": "test", **kw}


@pytest.mark.parametrize(("kw", "expected"), [
    ({"period": ["2020-06-01", "2021-01-31"]},
     "targets[0].period: target x: [2020-06-01, 2021-01-31] is outside the run (2020-01-01 to 2020-10-26"),
    ({"date": "2019-12-31"}, "targets[0].date: target x: 2019-12-31 is outside the run"),
    ({"period": ["2020-06-01", "2020-05-01"]}, "the first date is after the last"),
    ({"date": "2020-06-01", "aggregate": "sum"}, "aggregate: only with a range"),
    ({"date": "2020-06-01", "day": 3}, "give exactly one of 'day'"),
])
def test_bad_target_dates_name_the_target(dated_scenario, kw, expected):
    with pytest.raises(ConfigError) as err:
        _cal([_target(**kw)], base=dated_scenario)
    assert expected in str(err.value), str(err.value)


def test_period_needs_a_calendar(tmp_path):
    (tmp_path / "s.toml").write_text(
        'name = "s"\ndays = 30\n[population]\npersons = 3000\ncommunity_size = 3000\n'
        '[regime]\nuse = "court-blacklist"\n')
    with pytest.raises(ConfigError, match="refers to a date but the scenario has no 'start'"):
        _cal([_target(period=["2020-01-01", "2020-01-05"])], base=tmp_path)


def test_period_and_date_values_read_the_dated_series():
    from credsim.calibration import quantities
    from credsim.calibration.spec import TargetSpec
    from credsim.experiment.metrics import daily_series, run_row
    from credsim.experiment.runner import RunOutput

    res = Sim(scenario(days=120)).run(progress=False, by_province=False)
    daily = daily_series(res, ["acts_recorded", "list_dishonest_debtors"])
    out = RunOutput(0, 1, run_row(res.summary), daily, 0.0, 0.0)
    flow = TargetSpec(**_target(period=["2020-02-01", "2020-02-29"], aggregate="sum"))
    bd = res.by_day
    assert quantities.run_value(flow, out) == bd[(bd.day >= 31) & (bd.day <= 59)]["acts_recorded"].sum()
    stock = TargetSpec(**_target(column="list_dishonest_debtors", date="2020-03-31"))
    assert quantities.run_value(stock, out) == bd.loc[bd.day == 90, "list_dishonest_debtors"].item()


def test_a_dated_scenario_round_trips_through_toml(tmp_path):
    """calibrated.toml writes dates as TOML dates, and a fixed ``days`` drops the base's ``end``."""
    import tomllib

    from credsim.calibration.calibrated import scenario_document
    from credsim.tomlw import dumps

    base = tmp_path / "s.toml"
    base.write_text('name = "s"\nstart = 2020-01-01\nend = 2020-12-31\n[population]\npersons = 3000\n'
                    'community_size = 3000\n[regime]\nuse = "court-blacklist"\n[[schedule]]\n'
                    f'path = "{PATH}"\nassumption = "x"\nsteps = [{{from = 2020-03-01, value = 1.0}}]\n')
    doc = scenario_document(str(base), {"days": 90}, {"schedule[0].steps[0].value": 2.0}, "c.toml", {})
    assert "end" not in doc and doc["days"] == 90
    text = dumps(doc)
    assert "start = 2020-01-01" in text and "from = 2020-03-01" in text
    assert tomllib.loads(text)["start"] == dt.date(2020, 1, 1)
    (tmp_path / "c.toml").write_text(text)
    sc = Scenario.from_file(tmp_path / "c.toml")
    assert sc.days == 90 and sc.schedule[0].steps[0].value == 2.0
