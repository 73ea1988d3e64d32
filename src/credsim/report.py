"""A self-contained HTML report of a run, written for readers who are not modellers.

``write_report(res, out)`` writes ``out/plots/<kind>.png`` for every plot kind and
``out/report.html``, which links them by relative path. No JavaScript, no external assets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt

from credsim import plots
from credsim.layout import UNSCORED
from credsim.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from credsim.view import RunView

DPI = 110

CAPTIONS = {
    "grades": "Each coloured band is the share of scored agents holding that grade on a given day; "
              "the best grade is on top, and a band that widens over time means more agents in that grade.",
    "sanctions": "Each line counts the simulated agents under one sanction on each day (solid: restriction, "
                 "dashed: shaming, dotted: privilege; privileges get a panel of their own); the right-hand "
                 "axis, when present, divides by the scale to a nation-equivalent model output.",
    "lists": "Each line counts the simulated agents on one list on each day; lists grow with recorded acts "
             "and shrink as listings expire or are removed.",
    "acts": "For each kind of act, the grey bar is how many the simulated agents committed over the whole "
            "run and the red bar how many were recorded; only recorded acts change scores.",
    "scores": "The distribution of scores on the last day among scored agents; the dashed line is the mean "
              "and taller bars mean more agents with that score.",
    "regions": "For each region, the percentage of scored adults (firms excluded) under each of the most "
               "common restrictions on the last day; compare bars of the same colour across regions.",
    "groups": "For each population group (sex and urban/rural; firms separately), the percentage of scored "
              "agents under each of the most common restrictions on the last day.",
}

HEADINGS = {
    "grades": "Grades over time",
    "sanctions": "Sanctions over time",
    "lists": "Lists over time",
    "acts": "Acts committed and recorded",
    "scores": "Final scores",
    "regions": "Restrictions by region",
    "groups": "Restrictions by population group",
}

PERF_LABELS = {
    "wall_seconds": "wall-clock time (seconds)",
    "agents": "agents simulated (persons and firms)",
    "communities": "communities (independent blocks of the population)",
    "communities_resumed": "communities resumed from a checkpoint",
    "events": "events processed (candidate acts and false matches)",
    "ns_per_event": "nanoseconds per event",
    "agent_days_per_second": "agent-days per second",
    "peak_rss_mb": "peak memory (MB)",
    "executor": "executor",
}

CSS = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.5; }
h1 { font-size: 1.7rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
h3 { margin-bottom: 0.3rem; }
.sub { color: #555; margin-top: 0; }
.box { background: #f6f3ea; border-left: 4px solid #b58900; padding: 0.6rem 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-family: Helvetica, Arial, sans-serif;
        font-size: 0.9rem; }
th, td { padding: 0.25rem 0.7rem; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9rem; color: #444; }
footer { margin-top: 3rem; font-size: 0.85rem; color: #555; border-top: 1px solid #ccc; padding-top: 0.5rem; }
"""


# -------------------------------------------------------------------- formatting
def _int(v: Any) -> str:
    return "—" if v is None else f"{int(round(v)):,}"


def _num(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:,.{digits}f}"


def _pct(part: float, whole: float) -> str:
    if not whole:
        return "—"
    share = 100 * part / whole
    return "< 0.1 %" if 0 < share < 0.05 else f"{share:.1f} %"


def _approx(v: float) -> str:
    """A nation-equivalent count to three significant figures: a model output, not a census."""
    if not v:
        return "0"
    digits = max(0, len(str(int(abs(v)))) - 3)
    return f"≈ {int(round(v, -digits)):,}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    """An HTML table; every cell is escaped. Columns in ``numeric`` are right-aligned."""
    def cell(tag: str, k: int, text: Any) -> str:
        cls = ' class="n"' if k in numeric else ""
        return f"<{tag}{cls}>{escape(str(text))}</{tag}>"

    head = "".join(cell("th", k, h) for k, h in enumerate(headers))
    body = "\n".join("<tr>" + "".join(cell("td", k, c) for k, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def _p(text: str, cls: str = "") -> str:
    attr = f' class="{escape(cls)}"' if cls else ""
    return f"<p{attr}>{escape(text)}</p>"


# -------------------------------------------------------------------- sections
def _dates(m: dict) -> str:
    """`` from 2013-10-01 to 2025-12-31`` for a run with a calendar."""
    return f" from {m['start']} to {m['end']}" if m.get("start") else ""


def _intro(res: RunView) -> str:
    m = res.meta
    scale = m.get("scale") or 0
    agents = f"{m['persons']:,} persons" + (f" and {m['firms']:,} firms" if m.get("firms") else "")
    text = (
        f"This page reports one run of credsim, a simulator of social credit systems. It applied the regime "
        f"“{m.get('regime_title', m['regime'])}” ({m['regime']}) to a synthetic population of {agents} for "
        f"{m['days']:,} days{_dates(m)} (random seed {m.get('seed', '?')}). The population is synthetic: "
        f"its agents are "
        f"numbers drawn from aggregate statistics (population by province, sex, age, urban or rural), not "
        f"people, and nobody real was scored. "
    )
    if scale and scale < 1:
        text += (f"Each simulated person stands for about {1 / scale:,.0f} real ones. Figures scaled to the "
                 "nation (“nation-equivalent”) are simulated counts divided by that scale: they are model "
                 "outputs under the regime's rules and assumptions, not estimates of how many real people "
                 "are affected.")
    else:
        text += ("The simulated population is as large as the population it represents, so nation-equivalent "
                 "figures equal the simulated ones; they remain model outputs, not estimates of real counts.")
    return f'<h2>What this is</h2>\n<div class="box">{_p(text)}</div>'


def _population_table(res: RunView) -> str:
    m = res.meta
    s = res.summary["population"]
    rows = [("persons simulated", _int(m["persons"]))]
    if m.get("firms"):
        rows.append(("firms simulated", _int(m["firms"])))
    scale = s.get("scale") or 0
    rows += [
        ("scale (simulated persons / persons of the provinces simulated)", f"{scale:.6g}"),
        ("real persons per simulated person", _num(1 / scale, 1) if scale else "—"),
        ("days simulated", _int(m["days"])),
        *([("dates reported", f"{m['start']} to {m['end']}"
            + (f" (burn-in: {m['burn_in_days']:,} days before {m['start']})"
               if m.get("burn_in_days") else ""))] if m.get("start") else []),
        ("provinces simulated", _int(res.daily["province"].nunique())),
    ]
    return "<h3>Population</h3>\n" + _table(("", "value"), rows, numeric=(1,))


def _grades_table(res: RunView) -> str:
    fd = res.summary["final_day"]["grades"]
    nat = res.summary["final_day_nation_equivalent"].get("grades", {})
    scored = sum(v for g, v in fd.items() if g != UNSCORED)
    rows = []
    for g in res.meta["grades"]:
        n = fd.get(g, 0)
        share = _pct(n, scored) if g != UNSCORED else "not scored (minors, or not covered)"
        rows.append((g, _int(n), share, _approx(nat.get(g, 0))))
    return ("<h3>Grades on the last day (best first)</h3>\n"
            + _table(("grade", "simulated", "share of scored", "nation-equivalent"), rows, numeric=(1, 2, 3)))


def _sanctions_table(res: RunView) -> str:
    m, s = res.meta, res.summary
    if not m["sanctions"]:
        return "<h3>Sanctions</h3>\n" + _p("This regime has no sanctions.")
    nat = s["final_day_nation_equivalent"].get("sanctions", {})
    rows = [(m["sanction_labels"].get(x, x), m["sanction_kinds"].get(x, ""),
             _int(s["final_day"]["sanctions"].get(x, 0)), _approx(nat.get(x, 0)),
             _int(s["person_days_under_sanction"].get(x, 0))) for x in m["sanctions"]]
    return ("<h3>Under each sanction on the last day</h3>\n"
            + _table(("sanction", "kind", "simulated", "nation-equivalent", "agent-days over the run"),
                     rows, numeric=(2, 3, 4)))


def _lists_table(res: RunView) -> str:
    m, s = res.meta, res.summary
    if not m["lists"]:
        return "<h3>Lists</h3>\n" + _p("This regime has no lists.")
    nat = s["final_day_nation_equivalent"].get("lists", {})
    labels = m.get("list_labels", {})
    rows = [(labels.get(x, x), _int(s["final_day"]["lists"].get(x, 0)), _approx(nat.get(x, 0)))
            for x in m["lists"]]
    return ("<h3>List sizes on the last day</h3>\n"
            + _table(("list", "simulated", "nation-equivalent"), rows, numeric=(1, 2)))


def _observed_table(res: RunView) -> str:
    """The run in the units the sources count (``summary['observed']``), persons and
    organisations apart, simulated and nation-equivalent."""
    obs = res.summary.get("observed")
    if not obs:
        return ""
    scale = res.meta["scale"]
    nat = (lambda v: _approx(v / scale)) if scale > 0 else (lambda v: "")
    rows = []
    labels = res.meta.get("list_labels", {})
    for x, flows in obs["lists"].items():
        for flow, v in flows.items():
            if flow == "under_pressure":
                continue
            what = {"stock_final_day": "on the list, last day",
                    "ever_listed": "ever listed since day 0"}.get(flow, flow.replace("_", " "))
            rows.append((f"{labels.get(x, x)}: {what}", _int(v["persons"]), _int(v["organisations"]),
                         nat(v["persons"] + v["organisations"])))
    for kind, t in obs["tickets_blocked"].items():
        if t["blocked_by"]:
            rows.append((f"{kind} purchases blocked (person-times; expected {_num(t['expected'])})",
                         _int(t["blocked"]), "0", nat(t["blocked"])))
    if any(t["blocked_by"] for t in obs["tickets_blocked"].values()):
        rows.append(("persons under a ticket-blocking sanction on some day",
                     _int(obs["travel_restricted_persons"]), "-", nat(obs["travel_restricted_persons"])))
    if not rows:
        return ""
    return ("<h3>In the units of the published figures</h3>\n"
            + _p("Flows and purchases over the simulated days after the burn-in; ever listed "
                 "since the run's day 0, burn-in included. Firms buy no tickets.")
            + _table(("figure", "persons", "organisations", "nation-equivalent"), rows,
                     numeric=(1, 2, 3)))


def _acts_table(res: RunView) -> str:
    tot = plots._act_totals(res)
    labels = res.meta.get("act_labels", {})
    false = "false" in tot
    rows = []
    for a, r in [*tot.iterrows(), ("all acts", tot.sum())]:
        row = [labels.get(str(a), str(a)), _int(r["true"]), _int(r["recorded"]),
               _pct(r["recorded"], r["true"])]
        rows.append(row + [_int(r["false"])] if false else row)
    headers = ["act", "committed", "recorded", "recorded share"] + (["false records"] if false else [])
    text = ("“Committed” counts every act the simulated agents performed; “recorded” counts those the "
            "system detected and recorded. Only recorded acts change scores.")
    if false:
        text += " “False records” are records of acts that were not committed (sensor errors)."
    return ("<h3>Acts over the whole run</h3>\n" + _p(text)
            + _table(headers, rows, numeric=(1, 2, 3, 4)))


def _score_table(res: RunView) -> str:
    sc = res.summary["score"]
    m = res.meta
    rows = [
        ("score range of the regime", f"{m['score_min']:,} to {m['score_max']:,}"),
        ("mean score, day 0", _num(sc.get("mean_start"))),
        ("mean score, last day", _num(sc.get("mean_end"))),
        ("standard deviation, last day", _num(sc.get("sd_end"))),
    ]
    rows += [(f"percentile {q}, last day", _int(v)) for q, v in sc.get("percentiles_end", {}).items()]
    return "<h3>Scores</h3>\n" + _table(("", "value"), rows, numeric=(1,))


def _headline(res: RunView) -> str:
    parts = [_population_table(res), _grades_table(res), _sanctions_table(res), _lists_table(res),
             _observed_table(res), _acts_table(res), _score_table(res)]
    note = ("Grade, sanction and list counts are of simulated agents on the last simulated day"
            + (", firms included where the regime scores firms" if res.meta.get("firms") else "")
            + ". Agent-days add up, over every day of the run, the agents under a sanction that day.")
    return "<h2>Headline figures</h2>\n" + _p(note) + "\n".join(parts)


def _figures(files: dict[str, str]) -> str:
    out = ["<h2>Plots</h2>"]
    for kind, rel in files.items():
        k = escape(kind)
        out.append(f"<h3>{escape(HEADINGS.get(kind, kind))}</h3>\n<figure id=\"{k}\">\n"
                   f"<img src=\"{escape(rel)}\" alt=\"{k} plot\">\n"
                   f"<figcaption>{escape(CAPTIONS.get(kind, ''))}</figcaption>\n</figure>")
    return "\n".join(out)


def _performance(res: RunView) -> str:
    perf = res.meta.get("performance") or {}
    if not perf:
        return "<h2>Performance</h2>\n" + _p("No performance figures were recorded for this run.")
    rows = [(PERF_LABELS.get(k, k.replace("_", " ")), _num(v, 3 if k == "wall_seconds" else 1))
            for k, v in perf.items()]
    return ("<h2>Performance</h2>\n" + _p("How long the computer took; this says nothing about the regime.")
            + _table(("", "value"), rows, numeric=(1,)))


def _footer(res: RunView) -> str:
    version = res.meta.get("credsim_version", __version__)
    text = (f"Made with credsim {version} (report code {__version__}), regime {res.meta['regime']}, "
            f"scenario {res.meta['scenario']}. Every value in a regime file carries either a source or an "
            "assumption; values marked as assumptions are not sourced and were chosen by the regime's author "
            "(see the regime file for which ones). Agents are numbers drawn from aggregate statistics: "
            "credsim never scores real people.")
    return f"<footer>{_p(text)}</footer>"


# -------------------------------------------------------------------- entry point
def write_plots(res: RunView, plot_dir: Path) -> dict[str, str]:
    """Write one PNG per plot kind into ``plot_dir``; returns {kind: file name}. Figures are closed."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind in plots.KINDS:
        if not plots.applicable(res, kind):
            continue  # an empty frame says nothing: the headline tables say it has none
        fig = plots.plot(res, kind)
        try:
            fig.savefig(plot_dir / f"{kind}.png", dpi=DPI)
        finally:
            plt.close(fig)
        files[kind] = f"{kind}.png"
    return files


def write_report(res: RunView, out: Path) -> Path:
    """Write ``out/plots/*.png`` and ``out/report.html``; returns the path of the HTML file."""
    out = Path(out)
    files = write_plots(res, out / "plots")
    m = res.meta
    title = f"{m.get('regime_title', m['regime'])} — scenario {m['scenario']}"
    body = "\n".join([
        f"<h1>{escape(title)}</h1>",
        _p(f"credsim run: regime {m['regime']}, {m['days']:,} days{_dates(m)}, {m['persons']:,} "
           "simulated persons (a synthetic population).", "sub"),
        _intro(res),
        _headline(res),
        _figures({k: f"plots/{f}" for k, f in files.items()}),
        _performance(res),
        _footer(res),
    ])
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
