"""``explain`` on malformed histories: a clear error, bounded days, linear time (issue 16)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from credsim.cli import main

BAD_JSON = {
    "infinity": '[{"day": Infinity, "act": "speeding_lt20"}]',
    "nan": '[{"day": NaN, "act": "speeding_lt20"}]',
    "2**63": f'[{{"day": {2**63}, "act": "speeding_lt20"}}]',
    "2**31": f'[{{"day": {2**31}, "act": "speeding_lt20"}}]',
    "1e400": '[{"day": 1e400, "act": "speeding_lt20"}]',
    "float": '[{"day": 3.5, "act": "speeding_lt20"}]',
    "true": '[{"day": true, "act": "speeding_lt20"}]',
    "negative": '[{"day": -1, "act": "speeding_lt20"}]',
    "nested": "[" * 100_000 + "]" * 100_000,
    "not a list": '{"day": 1}',
}


def _explain(path, *extra):
    return CliRunner().invoke(main, ["explain", "--regime", "permis-a-points", str(path), *extra])


@pytest.mark.parametrize("name", sorted(BAD_JSON))
def test_bad_json_histories_are_clear_errors(tmp_path, name):
    p = tmp_path / "h.json"
    p.write_text(BAD_JSON[name], encoding="utf-8")
    r = _explain(p)
    assert r.exit_code == 2, r.output
    assert str(p) in r.output and "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.mark.parametrize("content", [b"\xff\xfe", b"day,act\n1,\x00x\n", b"day,act\n" + b"9" * 200_000])
def test_bad_csv_histories_are_clear_errors(tmp_path, content):
    p = tmp_path / "h.csv"
    p.write_bytes(content)
    r = _explain(p)
    assert r.exit_code == 2, r.output
    assert str(p) in r.output


def test_until_is_bounded(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("day,act\n1,speeding_lt20\n", encoding="utf-8")
    r = _explain(p, "--until", str(2**40))
    assert r.exit_code == 2 and "--until" in r.output


def test_many_distinct_days_are_each_applied_once(tmp_path, monkeypatch):
    """50,000 distinct days: each day's acts are applied in one pass (the history grouped by day
    once; its speed is benchmarks' business, not a timed test's)."""
    import credsim.explain as ex

    p = tmp_path / "h.csv"
    rows = "".join(f"{d},speeding_lt20\n" for d in range(0, 100_000, 2))
    p.write_text("day,act\n" + rows, encoding="utf-8")
    calls = []
    real = ex.close_day
    monkeypatch.setattr(ex, "close_day", lambda *a: calls.append(a[1]) or real(*a))
    r = CliRunner().invoke(main, ["explain", "--regime", "permis-a-points", str(p), "--json"])
    assert r.exit_code == 0, r.output[-500:]
    assert calls == list(range(0, 100_000, 2))  # every day closed once, in order
