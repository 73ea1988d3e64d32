"""The explorer's API (``credsim serve``) through FastAPI's TestClient: its numbers are the Python
API's for the same scenario; caps, size limits, a full queue (429), bad uploads (errors naming the
field and key path), files that cannot be reached, the downloads, and the default binding."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from webutil import python_api, wait_done  # noqa: E402

from credsim.web.app import create_app  # noqa: E402
from credsim.web.limits import ServeLimits  # noqa: E402
from credsim.web.serve import DEFAULT_HOST  # noqa: E402

LIMITS = ServeLimits(workers=2, max_agents=300_000, max_days=400, max_seeds=4, max_queue=8,
                     max_body_bytes=200_000, max_upload_bytes=50_000)
PERSONS, DAYS = 3_000, 45
SHIPPED = Path(__file__).resolve().parents[1] / "src/credsim/data/regimes"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(LIMITS)) as c:
        wait_ready(c)
        yield c


def wait_ready(c, timeout: float = 600) -> None:
    import time

    t0 = time.monotonic()
    while not c.get("/api/status").json()["ready"]:
        assert time.monotonic() - t0 < timeout, "the workers never became ready"
        time.sleep(0.2)


def run(c, body: dict) -> dict:
    r = c.post("/api/runs", json=body)
    assert r.status_code == 202, r.text
    snap = wait_done(c, r.json()["id"])
    assert snap["state"] == "done", snap
    return c.get(f"/api/jobs/{snap['id']}/result").json()


def body(**kw) -> dict:
    return {"persons": PERSONS, "days": DAYS, "seeds": 1, "seed": 3, **kw}


B_SET = {"detection.errors.cameras.fpir": 0.1, "appeals.probability": 0.0, "regime.bands[4].min": 900}


def test_numbers_equal_the_python_api_for_the_same_scenario(client):
    res = run(client, body(seeds=2, arms=[{"label": "base"}, {"label": "worse cameras", "set": B_SET}]))
    views = res["views"]
    expect = {}
    for arm, over in (("base", {}), ("worse cameras", B_SET)):
        for seed in (3, 4):
            expect[(arm, seed)] = python_api(PERSONS, DAYS, seed, over)
    runs = pd.DataFrame(views["runs"])
    for (arm, seed), (row, _) in expect.items():
        got = runs[(runs.arm == arm) & (runs.seed == seed)].iloc[0]
        for m in ("wrongful_restricted_days", "restricted_person_days", "acts_false", "acts_recorded",
                  "ever_sanctioned_through_link", "grade_B", "grade_A", "chilling_ratio"):
            assert got[m] == pytest.approx(row[m], nan_ok=True), (arm, seed, m)
    assert expect[("worse cameras", 3)][0]["acts_false"] > 5 * expect[("base", 3)][0]["acts_false"]
    # the grade chart: median across the two seeds, every day and grade
    g = pd.DataFrame(views["grades"])
    for arm in ("base", "worse cameras"):
        for grade in ("A", "B", "unscored"):
            # (a grade nobody had on any day has no column: zero)
            series = np.stack([expect[(arm, s)][1].get(f"grade_{grade}", pd.Series(np.zeros(DAYS)))
                               .to_numpy(float) for s in (3, 4)])
            shown = g[(g.arm == arm) & (g.grade == grade)].sort_values("day")
            assert np.array_equal(shown["median"].to_numpy(), np.median(series, axis=0))
            assert np.array_equal(shown["lo"].to_numpy(), np.quantile(series, 0.1, axis=0))
    # the difference panel: paired by seed
    d = pd.DataFrame(views["differences"]).set_index("metric")
    pair = [expect[("worse cameras", s)][0]["acts_false"] - expect[("base", s)][0]["acts_false"]
            for s in (3, 4)]
    assert d.loc["falsely_restricted_final_day", "versus"] == "base"
    rows = {m: [expect[("worse cameras", s)][0][m] - expect[("base", s)][0][m] for s in (3, 4)]
            for m in ("wrongful_restricted_days", "restricted_final_day")}
    for m, diffs in rows.items():
        assert d.loc[m, "median"] == pytest.approx(np.median(diffs))
    assert min(pair) > 0
    harms = pd.DataFrame(views["harms"])
    assert set(harms.metric) >= {"falsely_restricted_final_day", "wrongful_restricted_days",
                                 "disparate_impact_ratio", "ever_sanctioned_through_link", "chilling_ratio"}
    assert all(h["sentence"] for h in res["meta"]["harms"])


def test_identical_request_is_served_from_the_cache(client):
    b = body(seed=11)
    r = client.post("/api/runs", json=b)
    assert r.json()["cached"] is False
    assert client.post("/api/runs", json=b).json()["id"] == r.json()["id"]  # the same job, running
    first = run(client, b)
    r = client.post("/api/runs", json=b)
    assert r.status_code == 202 and r.json()["state"] == "done" and r.json()["cached"] is True
    assert r.json()["id"] == first["id"]
    assert client.get("/api/status").json()["stats"]["cache_hits"] >= 1


def test_events_stream_progress_until_done(client):
    r = client.post("/api/runs", json=body(seed=21, persons=20_000))
    fractions, states = [], []
    with client.stream("GET", f"/api/jobs/{r.json()['id']}/events") as s:
        for line in s.iter_lines():
            if line.startswith("data: "):
                snap = json.loads(line[6:])
                fractions.append(snap["fraction"])
                states.append(snap["state"])
    assert states[-1] == "done" and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(set(fractions)) > 2  # it moved in steps


@pytest.mark.parametrize("change, field, words", [
    ({"persons": 400_000}, "persons", "300,000"),
    ({"persons": 10}, "persons", "between 100"),
    ({"days": 1000}, "days", "400"),
    ({"seeds": 5}, "seeds", "between 1 and 4"),
    ({"arms": [{"label": x} for x in "ABCD"]}, "arms", "between 1 and 3"),
    ({"arms": [{"label": "A"}, {"label": "A"}]}, "arms", "same label"),
    ({"arms": [{"label": "A"}, {"label": "B", "set": {"population.marginals": 1}}]}, "arms[1]",
     "not a slider"),
    ({"arms": [{"label": "A"}, {"label": "B", "set": {"appeals.probability": 2}}]}, "arms[1]",
     "appeals.probability"),
    ({"arms": [{"label": "A", "set": {"regime.bands[4].min": 5000}}]}, "arms[0]", "bands"),
    ({"regime": "../../etc/passwd"}, "regime", "no shipped regime"),
    ({"persons": "many"}, "persons", "integer"),
])
def test_caps_and_bad_fields_name_the_field(client, change, field, words):
    r = client.post("/api/runs", json=body(**change))
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert field in errors, errors
    assert any(words in m for m in errors[field]), errors


def test_request_and_upload_size_limits(client):
    big = {"persons": 1000, "pad": "x" * (LIMITS.max_body_bytes + 10)}
    r = client.post("/api/runs", json=big)
    assert r.status_code == 413 and "--max-body-bytes" in r.json()["error"]
    # a body that does not say its size is counted as it arrives
    r = client.post("/api/runs", content=iter([b"{" + b" " * 150_000, b" " * 150_000 + b"}"]),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    up = {"name": "big.toml", "text": "# " + "x" * (LIMITS.max_upload_bytes + 1)}
    r = client.post("/api/runs", json=body(upload=up))
    assert r.status_code == 400 and "at most 50,000 bytes" in r.json()["errors"]["upload"][0]
    assert client.post("/api/runs", content=b"not json").json()["errors"]["request"]


def _regime_text(**replace: str) -> str:
    text = (SHIPPED / "rongcheng.toml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize("text, words", [
    ("score = [1, 2", "not valid TOML"),
    ("answer = 42", "neither a regime"),
    (None, "bands"),  # a broken band: filled in below
    ('name = "x"\n[population]\npersons = 5\n[regime]\nfile = "../../../etc/passwd.toml"\n',
     "inside the scenario's folder"),
    ('name = "x"\n[population]\npersons = 5\n[regime]\nfile = "/etc/passwd.toml"\n',
     "inside the scenario's folder"),
    ('name = "x"\n[population]\npersons = 5\nmarginals = "/etc/hosts.toml"\n[regime]\nuse = "ficp"\n',
     "inside the scenario's folder"),
    ('name = "x"\n[population]\npersons = 5\n[regime]\nuse = "ficp"\n[behaviour]\n'
     'catalogue = "x; rm -rf /"\n', "no shipped"),
])
def test_bad_uploads_give_errors_naming_the_field(client, text, words):
    if text is None:
        text = _regime_text(**{'label = "AA"\nmin = 1030': 'label = "AA"\nmin = "high"'})
    r = client.post("/api/controls", json={"upload": {"name": "mine.toml", "text": text}})
    assert r.status_code == 400, r.text
    msgs = r.json()["errors"]["upload"]
    assert any(words in m for m in msgs), msgs
    assert all("mine.toml" in m and "credsim-serve-" not in m for m in msgs), msgs  # no temp path
    assert client.post("/api/runs", json=body(upload={"name": "mine.toml", "text": text})).status_code == 400


def test_uploaded_regime_runs_and_equals_the_python_api(client, tmp_path):
    text = _regime_text(**{'label = "AA"\nmin = 1030': 'label = "AA"\nmin = 1010'})
    ctl = client.post("/api/controls", json={"upload": {"name": "r.toml", "text": text}}).json()
    assert [s for s in ctl["sliders"] if s["label"] == "Grade AA from"][0]["default"] == 1010
    res = run(client, body(upload={"name": "r.toml", "text": text}, chilling=False))
    (tmp_path / "regime.toml").write_text(text)
    row, _ = python_api(PERSONS, DAYS, 3, regime={"file": "regime.toml"}, base=tmp_path, chilling=False)
    got = res["views"]["runs"][0]
    for m in ("grade_AA", "grade_A", "acts_recorded", "restricted_person_days", "score_mean_end"):
        assert got[m] == pytest.approx(row[m]), m
    assert client.get(f"/api/jobs/{res['id']}/regime.toml").text == text


def test_downloads_are_the_views_data_and_reproduce_the_request(client, tmp_path):
    from credsim.experiment import Experiment

    res = run(client, body(seed=5, arms=[{"label": "A"}, {"label": "B", "set": {"appeals.delay_days": 90}}]))
    jid = res["id"]
    for view in ("grades", "harms", "differences", "runs"):
        want = pd.DataFrame(res["views"][view])
        csv = pd.read_csv(io.StringIO(client.get(f"/api/jobs/{jid}/views/{view}.csv").text))
        pq = pd.read_parquet(io.BytesIO(client.get(f"/api/jobs/{jid}/views/{view}.parquet").content))
        for got in (csv, pq):
            assert list(got.columns) == list(want.columns) and len(got) == len(want)
            num = want.select_dtypes("number").columns
            assert np.allclose(got[num].to_numpy(float), want[num].to_numpy(float), equal_nan=True)
    (tmp_path / "scenario.toml").write_text(client.get(f"/api/jobs/{jid}/scenario.toml").text)
    (tmp_path / "experiment.toml").write_text(client.get(f"/api/jobs/{jid}/experiment.toml").text)
    exp = Experiment.from_file(tmp_path / "experiment.toml")
    assert [a.label for a in exp.arms] == ["A", "B"] and exp.seeds == [5]
    assert exp.arms[1].overrides == {"appeals.delay_days": 90}
    assert tomllib.loads((tmp_path / "scenario.toml").read_text())["population"]["persons"] == PERSONS
    page = client.get(f"/api/jobs/{jid}/page.html").text
    assert "window.CREDSIM_SNAPSHOT" in page and '<script src="' not in page and 'href="static/' not in page
    assert client.get(f"/api/jobs/{jid}/views/secret.csv").status_code == 404


def test_no_endpoint_reads_a_file_a_request_names(client):
    for url in ("/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/../app.py",
                "/api/jobs/..%2f..%2fetc/result", "/etc/passwd"):
        r = client.get(url)
        assert r.status_code == 404 and "root:" not in r.text, url
    csp = client.get("/").headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-eval';" in csp and "connect-src 'self'" in csp  # no inline scripts
    assert client.get("/static/vendor/vega-lite.min.js").status_code == 200
    assert client.get("/static/vendor/LICENSE-vega").status_code == 200


def test_a_full_queue_answers_429_and_a_slow_request_is_stopped():
    limits = ServeLimits(workers=1, max_queue=1, max_wall_seconds=10.0, max_agents=5_000_000,
                         max_days=1830)
    with TestClient(create_app(limits)) as c:
        wait_ready(c)
        slow = c.post("/api/runs", json=body(persons=4_000_000, days=1830, seed=1))  # minutes
        assert slow.status_code == 202
        r = c.post("/api/runs", json=body(seed=2))
        assert r.status_code == 429 and "at most 1" in r.json()["error"] and r.headers["Retry-After"]
        snap = wait_done(c, slow.json()["id"], timeout=60)
        assert snap["state"] == "failed" and "--max-wall-seconds" in snap["error"]
        assert c.get(f"/api/jobs/{snap['id']}/result").status_code == 409
        wait_ready(c)  # the worker that was stopped is replaced
        assert c.get("/api/status").json()["stats"]["workers_replaced"] == 1
        later = c.post("/api/runs", json=body(seed=2))
        assert later.status_code == 202 and wait_done(c, later.json()["id"])["state"] == "done"


def test_listens_on_loopback_by_default_and_core_import_stays_light():
    assert DEFAULT_HOST == "127.0.0.1"
    out = subprocess.run([sys.executable, "-m", "credsim.cli", "serve", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "default: 127.0.0.1" in out and "--max-agents" in out and "--max-queue" in out
    code = ("import sys, credsim; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_a_worker_killed_mid_run_fails_its_request_and_is_replaced():
    import os
    import signal
    import time

    app = create_app(ServeLimits(workers=1))
    with TestClient(app) as c:
        wait_ready(c)
        r = c.post("/api/runs", json=body(persons=1_000_000, days=365, seed=9))
        t0 = time.monotonic()
        while c.get(f"/api/jobs/{r.json()['id']}").json()["fraction"] == 0:  # the run has started
            assert time.monotonic() - t0 < 120
            time.sleep(0.05)
        os.kill(app.state.jobs.workers[0].proc.pid, signal.SIGKILL)
        snap = wait_done(c, r.json()["id"], timeout=60)
        assert snap["state"] == "failed" and "ended unexpectedly" in snap["error"]
        wait_ready(c)
        later = c.post("/api/runs", json=body(seed=9))
        assert later.status_code == 202 and wait_done(c, later.json()["id"])["state"] == "done"
        assert c.get("/api/status").json()["stats"]["workers_replaced"] == 1


def test_chilling_index_only_for_arms_with_chilling(client):
    r = client.post("/api/runs", json=body(seed=31, arms=[{"label": "A"},
                                                        {"label": "none", "set": {"response.chilling": 0}}]))
    res = client.get(f"/api/jobs/{wait_done(client, r.json()['id'])['id']}/result").json()
    ratio = {h["arm"]: h["median"] for h in res["views"]["harms"] if h["metric"] == "chilling_ratio"}
    row, _ = python_api(PERSONS, DAYS, 31)
    assert ratio["A"] == pytest.approx(row["chilling_ratio"]) and ratio["A"] < 1
    assert ratio["none"] is None  # as Sim.run: no chilling, no rerun, no index
    off = run(client, body(seed=31, chilling=False))
    assert [h["median"] for h in off["views"]["harms"] if h["metric"] == "chilling_ratio"] == [None]
