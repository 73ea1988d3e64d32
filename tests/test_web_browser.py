"""The explorer end to end in a real browser: Playwright driving the machine's Chromium (Debian's
``chromium``, installed by ``make install``; never a downloaded browser) against a real
``credsim serve`` process. Change a slider, run, read the chart's own data and compare it with
the Python API's run of the same scenario; compare two arms; reload the share link; download a
view; upload a bad regime; open the saved page with the network cut off."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

sync_api = pytest.importorskip("playwright.sync_api")

from webutil import Server, python_api  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PERSONS, DAYS = 3_000, 40
RENDER_TIMEOUT = 120_000  # ms

if not Path(CHROMIUM).exists():  # pragma: no cover - `make install` installs it
    why = f"{CHROMIUM} is missing: `make install` installs Debian's chromium"
    if os.environ.get("CREDSIM_REQUIRE_BROWSER"):  # `make test` sets it: a missing browser fails
        pytest.fail(why, pytrace=False)
    pytest.skip(why, allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    s = Server("--workers", "2", "--max-agents", "200000")
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, errors


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#sliders .slider", timeout=RENDER_TIMEOUT)


def set_size(page, seed: int = 1) -> None:
    page.fill("#persons", str(PERSONS))
    page.fill("#days", str(DAYS))
    page.fill("#seed", str(seed))


def slider(page, path: str):
    return page.locator(f'.slider[data-path="{path}"] input[type=range]')


def run_and_wait(page) -> str:
    before = page.evaluate("document.getElementById('results').dataset.rendered || ''")
    page.click("#run")
    page.wait_for_function(f"(document.getElementById('results').dataset.rendered || '') !== '{before}'",
                           timeout=RENDER_TIMEOUT)
    return page.evaluate("document.getElementById('results').dataset.rendered")


def chart_data(page, name: str) -> pd.DataFrame:
    """The values the Vega view of chart ``name`` draws (its named dataset)."""
    return pd.DataFrame(page.evaluate(f"window.credsim.charts['{name}'].view.data('{name}')"))


def harms_cells(page) -> dict[tuple[str, str], float | None]:
    cells = page.evaluate("""[...document.querySelectorAll('#table-harms td.num')].map(td =>
        [td.closest('tr').dataset.metric, td.dataset.arm, td.dataset.value])""")
    return {(m, a): (float(v) if v != "" else None) for m, a, v in cells}


def test_slider_run_chart_equals_python_api(server, page):
    open_page(page, server.url)
    set_size(page, seed=2)
    slider(page, "detection.errors.cameras.fpir").fill("0.05")
    assert page.locator('.slider[data-path="detection.errors.cameras.fpir"] output').inner_text() == "0.0500"
    run_and_wait(page)
    assert page.locator("#chart-grades svg").count() == 1 and page.locator("#chart-harms svg").count() == 1
    row, daily = python_api(PERSONS, DAYS, 2, {"detection.errors.cameras.fpir": 0.05})
    g = chart_data(page, "grades")
    for grade in ("A", "B", "unscored"):
        shown = g[g.grade == grade].sort_values("day")["median"].to_numpy()
        want = daily[f"grade_{grade}"].to_numpy(float) if f"grade_{grade}" in daily else np.zeros(DAYS)
        assert np.array_equal(shown, want), grade
    acts = chart_data(page, "acts")
    assert acts[acts.kind == "false records"]["median"].sum() == row["acts_false"] > 0
    cells = harms_cells(page)
    for m in ("wrongful_restricted_days", "restricted_final_day", "ever_sanctioned_through_link"):
        assert cells[(m, "A")] == row[m], m
    assert cells[("chilling_ratio", "A")] == pytest.approx(row["chilling_ratio"])
    text = page.locator("#table-harms").inner_text()
    assert "only because of a false record" in text  # each metric explained in a sentence


def test_compare_two_arms_share_link_and_download(server, page, browser, tmp_path):
    open_page(page, server.url)
    set_size(page, seed=4)
    page.click("#add-arm")
    assert page.locator("#arm-tab-1").get_attribute("aria-selected") == "true"
    page.fill("#arm-label", "no appeals")
    slider(page, "appeals.probability").fill("0")
    slider(page, "detection.errors.cameras.fpir").fill("0.08")
    run_and_wait(page)
    assert page.locator("#view-differences").is_visible()
    base, _ = python_api(PERSONS, DAYS, 4)
    arm, _ = python_api(PERSONS, DAYS, 4, {"appeals.probability": 0.0, "detection.errors.cameras.fpir": 0.08})
    d = chart_data(page, "differences").set_index("metric")
    for m in ("wrongful_restricted_days", "falsely_restricted_final_day", "restricted_final_day"):
        assert d.loc[m, "median"] == arm[m] - base[m], m
        assert d.loc[m, "arm"] == "no appeals" and d.loc[m, "versus"] == "A"
    cells = harms_cells(page)
    assert cells[("wrongful_restricted_days", "no appeals")] == arm["wrongful_restricted_days"]
    # the share link reproduces the view in a fresh browser context
    page.click("#copy-link")
    link = page.input_value("#share-link")
    assert re.search(r"#s=[A-Za-z0-9_-]+$", link)
    ctx = browser.new_context()
    other = ctx.new_page()
    other.goto(link)
    other.wait_for_function("document.getElementById('results').dataset.rendered", timeout=RENDER_TIMEOUT)
    assert harms_cells(other) == cells
    assert other.input_value("#persons") == str(PERSONS)
    other.click("#arm-tab-1")
    assert other.locator('.slider[data-path="appeals.probability"] output').inner_text() == "0.00"
    ctx.close()
    # a download returns the chart's data
    with page.expect_download() as dl:
        page.click('#view-harms .downloads a[href$="harms.csv"]')
    got = pd.read_csv(dl.value.path())
    shown = chart_data(page, "harms")
    assert len(got) == len(shown) and set(got.arm) == {"A", "no appeals"}
    wr = got[(got.arm == "no appeals") & (got.metric == "wrongful_restricted_days")]["median"].iloc[0]
    assert wr == arm["wrongful_restricted_days"]
    with page.expect_download() as dl:
        page.click('#view-grades .downloads a[href$="grades.parquet"]')
    pq = pd.read_parquet(io.BytesIO(Path(dl.value.path()).read_bytes()))
    assert len(pq) == len(chart_data(page, "grades"))
    # "save page": the same numbers with no server and no network
    with page.expect_download() as dl:
        page.click("#save-page")
    saved = tmp_path / "saved.html"
    dl.value.save_as(saved)
    ctx = browser.new_context(offline=True)
    off = ctx.new_page()
    off.route(re.compile(r"^https?://"), lambda route: route.abort())
    off.goto(saved.as_uri())
    off.wait_for_function("document.getElementById('results').dataset.rendered", timeout=RENDER_TIMEOUT)
    assert harms_cells(off) == cells and off.locator("#saved-note").is_visible()
    assert off.locator("#chart-grades svg").count() == 1
    ctx.close()


def test_bad_upload_shows_the_error_next_to_its_field(server, page):
    open_page(page, server.url)
    bad = (Path(__file__).resolve().parents[1] / "src/credsim/data/regimes/rongcheng.toml").read_text()
    bad = bad.replace('label = "AA"\nmin = 1030', 'label = "AA"\nmin = "high"', 1)
    page.set_input_files("#upload", files=[{"name": "mine.toml", "mimeType": "text/plain",
                                            "buffer": bad.encode()}])
    err = page.locator("#err-upload")
    err.wait_for(state="visible", timeout=RENDER_TIMEOUT)
    assert "mine.toml" in err.inner_text() and "bands" in err.inner_text()
    assert page.locator("#run").is_disabled()
    # a cap broken in the form is shown next to that field
    page.click("#clear-upload")
    page.wait_for_selector("#sliders .slider")
    page.fill("#persons", "5000000")
    page.click("#run")
    page.locator("#err-persons").wait_for(state="visible")
    assert "200,000" in page.locator("#err-persons").inner_text()


def test_server_listens_on_loopback_only(server):
    conns = [c for c in psutil.Process(server.proc.pid).net_connections(kind="inet")
             if c.status == psutil.CONN_LISTEN]
    assert conns and {c.laddr.ip for c in conns} == {"127.0.0.1"}


def test_phone_width_keyboard_and_labels(server, browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    open_page(page, server.url)
    # every control is labelled (a <label for>, or aria-label)
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select, button, progress')]
        .filter(el => !el.hidden && !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                      && !(el.textContent || '').trim())
        .map(el => el.outerHTML.slice(0, 80))""")
    assert unlabelled == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than a phone
    # keyboard only: type the size, move a slider with the arrow keys, Enter runs
    page.focus("#persons")
    page.keyboard.press("Control+A")
    page.keyboard.type(str(PERSONS))
    page.focus("#days")
    page.keyboard.press("Control+A")
    page.keyboard.type(str(DAYS))
    page.focus('.slider[data-path="appeals.probability"] input')
    page.keyboard.press("ArrowRight")
    assert page.locator('.slider[data-path="appeals.probability"] output').inner_text() == "0.35"
    page.focus("#days")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('results').dataset.rendered", timeout=RENDER_TIMEOUT)
    assert page.evaluate("window.credsim.req.arms[0].set") == {"appeals.probability": 0.35}
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ctx.close()


def test_names_from_an_uploaded_regime_are_shown_as_text_never_run(server, page):
    open_page(page, server.url)
    text = (Path(__file__).resolve().parents[1] / "src/credsim/data/regimes/rongcheng.toml").read_text()
    evil = '<img src=x onerror="window.pwned=1">'
    # a band named with markup where the regime uses it (the AA band and its sanctions)...
    broken = text.replace('label = "AA"\nmin = 1030', f"label = '{evil}'\nmin = 1030", 1)
    page.set_input_files("#upload", files=[{"name": "evil.toml", "mimeType": "text/plain",
                                            "buffer": broken.encode()}])
    page.locator("#err-upload").wait_for(state="visible", timeout=RENDER_TIMEOUT)
    assert evil in page.locator("#err-upload").inner_text()  # its error quotes the name as text
    # ...and everywhere (a valid regime): the slider labels show it as text
    text = text.replace('"AA"', f"'{evil}'")
    page.set_input_files("#upload", files=[{"name": "evil.toml", "mimeType": "text/plain",
                                            "buffer": text.encode()}])
    page.wait_for_function("document.getElementById('upload-desc').textContent.includes('evil.toml')")
    page.wait_for_selector("#sliders details.group")
    page.evaluate("document.querySelectorAll('#sliders details').forEach(d => d.open = true)")
    assert page.get_by_text(f"Grade {evil} from").count() == 1  # shown as text
    assert page.evaluate("window.pwned") is None
