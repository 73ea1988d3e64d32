"""The explorer's speed and memory (not a timed test): time from pressing Run to the charts in a
real browser (Playwright on Debian's Chromium) for 100k and 1M persons x 365 days, the kernels
loaded (warm), and the server's peak memory (its process and its workers) under a burst of 100
concurrent clients. Takes the README's screenshot (docs/explorer.png) on the way.

    python benchmarks/serve.py                      # both sizes, 3 rounds each, default workers
    python benchmarks/serve.py --workers 1          # one worker with every core's threads
    python benchmarks/serve.py --sizes 100000 --rounds 1 --no-load --no-screenshot
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def start(port: int, *flags: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "credsim.cli", "serve", "--port", str(port), *flags],
                            env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while True:
        try:
            if httpx.get(url + "/api/status", timeout=2).json()["ready"]:
                print(f"server ready in {time.monotonic() - t0:.1f} s", flush=True)
                return proc
        except (httpx.HTTPError, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() - t0 > 900:
            raise SystemExit("the server did not start")
        time.sleep(0.5)


def tree_rss_mb(pid: int) -> float:
    p = psutil.Process(pid)
    total = 0
    for q in [p, *p.children(recursive=True)]:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def press_run(page, persons: int, days: int, seed: int, chilling: bool) -> tuple[float, float, dict, float]:
    """Seconds from the click on Run to the charts drawn (measured in the page and around it),
    the result's meta, and seconds from the click to the server's "done"."""
    page.fill("#persons", str(persons))
    page.fill("#days", str(days))
    page.fill("#seed", str(seed))
    page.set_checked("#chilling", chilling)
    before = page.evaluate("document.getElementById('results').dataset.rendered || ''")
    t0 = time.perf_counter()
    page.click("#run")
    page.wait_for_function(f"(document.getElementById('results').dataset.rendered || '') !== '{before}'",
                           timeout=600_000)
    outside = time.perf_counter() - t0
    timings = page.evaluate("window.credsimTimings")
    meta = page.evaluate("window.credsim.result.meta")
    return timings["run_to_chart_ms"] / 1000, outside, meta, timings["run_to_done_ms"] / 1000


def burst(url: str, pid: int, clients: int = 100) -> dict:
    peak = [tree_rss_mb(pid)]
    start_mb = peak[0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_mb(pid))
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    codes: list[int] = []
    lock = threading.Lock()

    def client(i: int):
        body = {"persons": 100_000, "days": 365, "seed": 50_000 + i, "chilling": False}
        with httpx.Client(base_url=url, timeout=900) as c:
            r = c.post("/api/runs", json=body)
            if r.status_code == 202:
                while c.get(f"/api/jobs/{r.json()['id']}").json()["state"] not in ("done", "failed"):
                    time.sleep(0.2)
            with lock:
                codes.append(r.status_code)

    t0 = time.monotonic()
    ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    stop.set()
    return {"clients": clients, "accepted": codes.count(202), "refused": codes.count(429),
            "seconds": round(time.monotonic() - t0, 1), "rss_start_mb": round(start_mb),
            "rss_peak_mb": round(peak[0])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--port", type=int, default=8057)
    ap.add_argument("--no-load", action="store_true")
    ap.add_argument("--no-screenshot", action="store_true")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    flags = ["--max-agents", "2000000", "--max-queue", "8"]
    if a.workers:
        flags += ["--workers", str(a.workers)]
    proc = start(a.port, *flags)
    url = f"http://127.0.0.1:{a.port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_selector("#sliders .slider")
            press_run(page, 10_000, 30, 999, False)  # the page's and the workers' first run
            for persons in a.sizes:
                press_run(page, persons, a.days, 7, False)  # warm at this size (first allocations)
                for chilling in (False, True):
                    rows = [press_run(page, persons, a.days, 100 + r, chilling) for r in range(a.rounds)]
                    inside = [r[0] for r in rows]
                    state = "on " if chilling else "off"
                    print(f"{persons:,} persons x {a.days} days, chilling index {state}: "
                          f"Run -> chart median {statistics.median(inside):.2f} s "
                          f"(rounds {', '.join(f'{x:.2f}' for x in inside)}; outside the page "
                          f"{statistics.median(r[1] for r in rows):.2f} s; server done after "
                          f"{statistics.median(r[3] for r in rows):.2f} s; engine "
                          f"{statistics.median(r[2]['engine_seconds'] for r in rows):.2f} s; "
                          f"{rows[0][2]['agents']:,} agents)", flush=True)
            if not a.no_screenshot:
                shot(page)
            browser.close()
        if not a.no_load:
            print(f"burst of 100 clients (100k persons x 365 days each): {burst(url, proc.pid)}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def shot(page) -> None:
    """docs/explorer.png: two arms (NIST cameras vs ten times worse, slower appeals) at 100k persons."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.fill("#persons", "100000")
    page.fill("#days", "365")
    page.fill("#seeds", "3")
    page.fill("#seed", "1")
    page.set_checked("#chilling", True)
    if page.locator("#arm-tab-1").count() == 0:
        page.click("#add-arm")
    page.fill("#arm-label", "cameras x10, slow appeals")
    page.locator('.slider[data-path="detection.errors.cameras.fpir"] input').fill("0.03")
    page.locator('.slider[data-path="appeals.delay_days"] input').fill("90")
    before = page.evaluate("document.getElementById('results').dataset.rendered || ''")
    page.click("#run")
    page.wait_for_function(f"(document.getElementById('results').dataset.rendered || '') !== '{before}'",
                           timeout=600_000)
    out = ROOT / "docs" / "explorer.png"
    page.screenshot(path=str(out), full_page=True)
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
