"""The ``credsim`` command line. Heavy modules (Numba, pandas) load only when a command needs them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from credsim.errors import ConfigError
from credsim.validation import KINDS
from credsim.version import __version__


def _fail(exc: Exception, code: int = 2):
    click.echo(f"error: {exc}" if not isinstance(exc, ConfigError) else str(exc), err=True)
    sys.exit(code)


class _CleanErrors(click.Group):
    """A credsim error from any command (a bad file, an unwritable run directory) is its
    message and exit code 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(exc)


@click.group(cls=_CleanErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="credsim")
@click.option("--trusted-paths/--no-trusted-paths", default=True, show_default=True,
              help="Whether a file reference in a scenario (regime, catalogue, marginals) may "
                   "leave the scenario's folder.")
@click.pass_context
def main(ctx: click.Context, trusted_paths: bool) -> None:
    """credsim: simulate social credit systems on synthetic populations.

    Agents are numbers drawn from aggregate statistics: credsim never scores real people.
    """
    from credsim.refs import trusted_paths as trust

    ctx.with_resource(trust(trusted_paths))


_SET_HELP = ("Change a value by key path, e.g. --set appeals.probability=0.5 or "
             "--set regime.bands[3].min=900 (repeatable; docs/reference.md).")


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (default: runs/<scenario name>).")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Local worker processes (default: one per core when there are several communities).")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster: a scheduler address (tcp://host:8786) or 'local'.")
@click.option("--resume", is_flag=True,
              help="Reuse the finished communities' checkpoints in --out "
                   "(with --seeds: keep the finished runs).")
@click.option("--seed", type=int, default=None,
              help="Override the scenario's seed (with --seeds: the first seed).")
@click.option("--seeds", type=click.IntRange(1, 10_000), default=None,
              help="Replicates: run K seeds (from the scenario's) and report the median and 50/90% bands.")
@click.option("--scale", type=float, default=None, help="Override population.scale (1.0 = the nation).")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE", help=_SET_HELP)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True,
              help="Run even if the estimated peak memory exceeds the memory available.")
def run(scenario, out, workers, dask_address, resume, seed, seeds, scale, sets, quiet, force):
    """Run SCENARIO (a TOML file) and write the run directory with its report."""
    try:
        changes = _changes(sets, seed, scale)
        if seeds is not None:
            return _run_experiment(lambda: _experiment().replicates(
                scenario, seeds, changes, name=None), out, workers, dask_address, resume, quiet)
        sc = _load_with_overrides(scenario, changes)
    except ConfigError as exc:
        _fail(exc)
    from credsim.sim import Sim

    out = out or Path("runs") / sc.name
    res = Sim(sc).run(out, workers=workers, dask=dask_address, resume=resume, progress=not quiet,
                      force=force)
    s = res.summary
    click.echo(f"wrote {out}/ (report: {out / 'report.html'})")
    fd = s["final_day"]
    if s.get("start"):
        click.echo(f"dates: {s['start']} to {s['end']} ({s['days']:,} days)")
    last = "final day" + (f" ({s['end']})" if s.get("end") else "")
    click.echo(f"{last}: " + ", ".join(f"{g} {n:,}" for g, n in fd["grades"].items() if n))


def _estimate_line(path: Path) -> str:
    """The resource estimate of a valid scenario file, on the default workers."""
    from credsim.estimate import estimate
    from credsim.scenario import Scenario
    from credsim.sim import Sim

    est = estimate(Sim(Scenario.from_file(path)))
    return est.line() + ("" if est.fits else f"\n  warning: {est.too_big()}")


def _changes(sets: tuple[str, ...], seed: int | None = None, scale: float | None = None) -> dict:
    """``--set`` assignments (and ``--seed``/``--scale``) as key-path overrides."""
    from credsim.overrides import parse_assignment

    changes = {}
    for text in sets:
        try:
            key, value = parse_assignment(text)
        except ValueError as exc:
            raise ConfigError("--set", [str(exc)]) from None
        changes[key] = value
    if seed is not None:
        changes["seed"] = seed
    if scale is not None:
        changes["population.scale"] = scale
    return changes


def _experiment():
    from credsim.experiment import Experiment

    return Experiment


def _run_experiment(build, out, workers, dask_address, resume, quiet):
    """Build an experiment (errors before any run), run it, print where its report is."""
    try:
        exp = build()
        out = out or Path("runs") / exp.name
        res = exp.run(out, workers=workers, dask=dask_address, resume=resume, progress=not quiet)
    except (ConfigError, ValueError) as exc:
        _fail(exc)
    except KeyboardInterrupt as exc:
        click.echo(f"\n{exc}", err=True)
        sys.exit(130)
    click.echo(f"wrote {out}/ ({len(res.runs):,} runs; report: {out / 'report.html'}; "
               f"query: credsim query {out} \"select * from runs\")")
    return res


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
              help="With one scenario: the changes of the second arm (the first is the scenario as it "
                   "is). With several scenarios (each an arm): applied to every arm.")
@click.option("--all", "common", multiple=True, metavar="KEY.PATH=VALUE",
              help="A change applied to every arm (e.g. --all population.persons=100000).")
@click.option("--arm", "arms", multiple=True, metavar="'KEY=V KEY2=V2'",
              help="One more arm: the first scenario with these changes (space-separated; repeatable).")
@click.option("--seeds", type=click.IntRange(1, 10_000), default=8, show_default=True,
              help="Seeds; every arm runs on the same seeds (common random numbers).")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              help="Experiment directory (default: runs/compare-<arms>).")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Local processes (default: one per core).")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS", help="A Dask scheduler, or 'local'.")
@click.option("--resume", is_flag=True, help="Keep the finished runs in --out.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def compare(scenarios, sets, common, arms, seeds, out, workers, dask_address, resume, quiet):
    """Compare SCENARIOS (or one scenario and its changes) on the same synthetic population and
    random streams: differences of every figure with 95% intervals over seeds."""

    def build():
        changes = _changes(sets)
        shared = _changes(common)
        extra = [_changes(tuple(text.split())) for text in arms]
        if len(scenarios) == 1:
            if not changes and not extra:
                raise ConfigError("compare", ["give a second scenario, --set KEY=VALUE or "
                                              "--arm 'KEY=VALUE ...'"])
            specs = [("baseline", scenarios[0], dict(shared))]
            specs += [(_arm_label(ch), scenarios[0], {**shared, **ch})
                      for ch in ([changes] if changes else []) + extra]
        else:
            from credsim.scenario import Scenario

            names = [Scenario.from_file(p).name for p in scenarios]
            if len(set(names)) != len(names):
                names = [f"{n}-{i}" for i, n in enumerate(names)]
            changes = {**shared, **changes}
            specs = [(n, p, changes) for n, p in zip(names, scenarios, strict=True)]
            specs += [(_arm_label(ch), scenarios[0], {**changes, **ch}) for ch in extra]
        return _experiment().compare(specs, seeds)

    _run_experiment(build, out, workers, dask_address, resume, quiet)


def _arm_label(changes: dict) -> str:
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in changes.items())[:80]


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              help="Experiment directory (default: runs/<experiment name>).")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
              help="A change applied to every run, after the experiment's own.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Local processes (default: one per core).")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS", help="A Dask scheduler, or 'local'.")
@click.option("--resume", is_flag=True, help="Keep the finished (point, seed) runs in --out.")
@click.option("--dry-run", is_flag=True,
              help="Validate every point, print the runs and the estimate; run nothing.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def sweep(experiment, out, sets, workers, dask_address, resume, dry_run, quiet):
    """Run an EXPERIMENT file: a grid, list, Latin hypercube, Sobol or Morris design over key
    paths, or named arms, each for its seeds, into one DuckDB-queryable directory."""

    def build():
        exp = _experiment().from_file(experiment)
        if sets:
            exp = exp.with_changes(_changes(sets))
        return exp

    if dry_run:
        try:
            exp = build()
            sizes = exp.check()
        except ConfigError as exc:
            _fail(exc)
        import os

        w = workers or os.cpu_count() or 1
        click.echo(f"{exp.name}: {exp.kind}, {len(exp.arms)} points x {len(exp.seeds)} seeds = "
                   f"{exp.n_runs:,} runs; all points valid; about {exp.estimate(w, sizes) / 60:.1f} min "
                   f"on {w} workers")
        return
    _run_experiment(build, out, workers, dask_address, resume, quiet)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("sql")
@click.option("--csv", "as_csv", is_flag=True, help="CSV output instead of a table.")
def query(directory, sql, as_csv):
    """Run SQL (DuckDB) on an experiment DIRECTORY: tables runs, daily, points, timing."""
    from credsim.experiment.store import RunStore

    store = RunStore(directory)
    try:
        store.meta()
        df = store.sql(sql)
    except FileNotFoundError as exc:
        _fail(exc)
    except Exception as exc:  # duckdb's own errors (syntax, unknown column) are the user's to fix
        if type(exc).__module__.split(".")[0] != "duckdb" and not type(exc).__name__.endswith("Exception"):
            raise
        _fail(ValueError(f"{directory}: {str(exc).splitlines()[0]}"))
    if as_csv:
        click.echo(df.to_csv(index=False), nl=False)
        return
    import pandas as pd

    with pd.option_context("display.max_rows", 200, "display.max_columns", 30, "display.width", 140):
        click.echo(df.to_string(index=False))


def _load_with_overrides(path: Path, changes: dict):
    from credsim.scenario import Scenario

    sc = Scenario.from_file(path)
    return sc.with_overrides(changes, source=f"{path} --set") if changes else sc


@main.command(name="compile")
@click.option("--jobs", type=click.IntRange(1), default=2, show_default=True,
              help="Processes compiling at once.")
def compile_kernels(jobs):
    """Compile the kernels into Numba's on-disk cache now, in parallel processes, so that first
    runs load them (a no-op, about a second each, when they are cached already)."""
    import time

    from credsim.warmup import warm_all

    t0 = time.perf_counter()
    took = warm_all(jobs)
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in took.items())
    click.echo(f"kernels ready in {time.perf_counter() - t0:.0f} s ({parts})")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def regimes(as_json):
    """List the shipped regimes, one line each, with their sources."""
    from credsim.regime import load_regime, shipped_regimes

    rows = []
    for name in shipped_regimes():
        r = load_regime(name)
        items = [r.score, *r.bands, *r.lists, *r.rules, *r.sanctions, *r.recovery, *r.thresholds,
                 *r.dimensions, *([r.peer_rating] if r.peer_rating else [])]
        for x in r.lists:
            items += [y for y in (x.extension, x.removal, x.early_removal) if y is not None]
        n_assumed = sum(1 for x in items if x.is_assumption)
        sources = sorted({x.source for x in items if x.source})
        rows.append({"name": r.name, "title": r.title, "summary": r.summary,
                     "values": len(items), "assumptions": n_assumed, "sources": sources})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo("\n".join(_regime_lines(row)))


REGIME_SOURCES_SHOWN = 3


def _regime_lines(row: dict, width: int = 80) -> list[str]:
    """One regime for ``credsim regimes``: name and counts, the summary wrapped, then the
    documents its values cite (a citation up to its first bracket, colon or semicolon), each
    shortened at a word boundary: lines of at most ``width`` characters."""
    import re
    import textwrap

    docs = list(dict.fromkeys(re.split(r" \(|; |: ", s, maxsplit=1)[0].strip() for s in row["sources"]))
    n = len(row["sources"])
    head = (f"{row['name']}: {row['values']} values, {row['assumptions']} labelled assumptions, "
            f"{n} with a source")
    lines = textwrap.wrap(head, width, subsequent_indent="    ")
    lines += textwrap.wrap(row["summary"], width, initial_indent="  ", subsequent_indent="  ")
    if not docs:
        lines.append("  no sources: every value is a labelled assumption")
    else:
        lines.append(f"  cites {len(docs)} document{'' if len(docs) == 1 else 's'}:")
    for doc in docs[:REGIME_SOURCES_SHOWN]:
        lines.append("  - " + textwrap.shorten(doc, width - 4, placeholder=" ..."))
    if len(docs) > REGIME_SOURCES_SHOWN:
        lines.append(f"  - and {len(docs) - REGIME_SOURCES_SHOWN} more (credsim regimes --json)")
    return lines + [""]


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(list(KINDS)),
              default=None, help="The kind of file (default: told from its keys).")
@click.option("--catalogue", default="default", show_default=True,
              help="The behaviour catalogue a regime's acts are checked against.")
def validate(files, kind, catalogue):
    """Check scenario, regime, catalogue, marginals, tickets, experiment or calibration files:
    clear errors, exit 2, nothing run."""
    from credsim.validation import check_file

    bad = 0
    for f in files:
        try:
            got, note = check_file(f, kind, catalogue)
            click.echo(f"{f}: valid {got}" + (f" ({note})" if note else ""))
            if got == "scenario":
                click.echo(f"  {_estimate_line(f)}")
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            bad += 1
    if bad:
        sys.exit(2)


@main.command()
@click.argument("history", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--regime", "regime_ref", default=None, help="A shipped regime name or a regime file.")
@click.option("--catalogue", default="default", show_default=True, help="Behaviour catalogue.")
@click.option("--until", type=int, default=None, help="Fire timers up to this day (default: +5 years).")
@click.option("--run", "run_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A run directory: explain one agent of its anonymous panel.")
@click.option("--agent", type=int, default=None, help="Panel agent number (with --run).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def explain(history, regime_ref, catalogue, until, run_dir, agent, as_json):
    """Apply a regime to one HISTORY of recorded acts (CSV day,act or JSON), rule by rule."""
    if run_dir is not None:
        return _explain_panel(run_dir, agent, as_json)
    if history is None or regime_ref is None:
        _fail(click.UsageError("give HISTORY and --regime (or --run DIR --agent K)"))
    from credsim.behaviour import load_catalogue
    from credsim.explain import Explainer, read_history
    from credsim.regime import load_regime, regime_problems

    try:
        regime = load_regime(regime_ref)
        cat = load_catalogue(catalogue)
        rp = regime_problems(regime, set(cat.act_names))
        if rp:
            raise ConfigError(str(regime_ref), rp)
        rows = read_history(history, cat.act_names, [x.name for x in regime.lists])
    except ConfigError as exc:
        _fail(exc)
    steps = Explainer(regime, cat).explain(rows, until)
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in steps], indent=2))
        return
    _print_steps(f"{regime.title}: {history}", steps)


def _print_steps(title: str, steps) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for col in ("day", "event", "effect", "score", "grade", "lists", "sanctions"):
        t.add_column(col, overflow="fold")
    for s in steps:
        t.add_row(str(s.day), s.event, s.effect, str(s.score), s.grade, ", ".join(s.lists),
                  ", ".join(s.sanctions))
    Console().print(t)


def _explain_panel(run_dir: Path, agent: int | None, as_json: bool):
    from credsim.results import Results

    if agent is None:
        _fail(click.UsageError("--run needs --agent K (a panel agent number)"))
    try:
        res = Results.load(run_dir)
    except FileNotFoundError as exc:
        _fail(exc)
    p = res.panel
    rows = p[p.agent == agent]
    if rows.empty:
        n = p.agent.nunique()
        _fail(ValueError(f"{run_dir}: no panel agent {agent} (the panel has agents 0..{n - 1})"))
    if as_json:
        click.echo(rows.to_json(orient="records", indent=2))
        return
    from credsim.explain import panel_chains, panel_steps

    meta = res.meta
    _print_steps(f"{meta['regime_title']}: panel agent {agent} of {run_dir}", panel_steps(rows, meta))
    for line in panel_chains(rows, meta):
        click.echo(line)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The calibration directory (default runs/<name>).")
@click.option("--resume", is_flag=True, help="Continue the trials in --out up to the number asked.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Local worker processes (default: one per core).")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS", help="A Dask scheduler, or 'local'.")
@click.option("--trials", type=click.IntRange(1, 100_000), default=None, help="Trials (default: the file's).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def calibrate(spec, out, resume, workers, dask_address, trials, quiet):
    """Fit a scenario's parameters to observed figures (a calibration file: docs/reference.md).

    Writes the trials (an Optuna journal, resumable), the posterior, calibrated.toml (a scenario
    credsim run accepts) and report.html into -o.
    """
    try:
        import optuna  # noqa: F401
    except ImportError:
        _fail(ImportError("credsim calibrate needs Optuna: pip install 'credsim[calibrate]'"))
    from credsim.calibration import Calibration

    try:
        cal = Calibration.from_file(spec)
        out = out or Path("runs") / cal.name
        res = cal.run(out, workers=workers, dask=dask_address, resume=resume, progress=not quiet,
                      trials=trials)
    except (ConfigError, ValueError, ImportError) as exc:
        _fail(exc)
    except KeyboardInterrupt as exc:
        click.echo(f"\n{exc}", err=True)
        sys.exit(130)
    for r in res.fit().itertuples():
        click.echo(f"  {r.target}: observed {r.observed:,.6g}, best {r.best:,.6g} (x{r.best_ratio:.3f})"
                   + (f", held out: {r.check}" if r.holdout else ""))
    click.echo(f"best: {', '.join(f'{k}={v:.6g}' for k, v in res.best.items())}; posterior ESS "
               f"{res.posterior.ess:.1f}")
    click.echo(f"wrote {out}/ (calibrated scenario: {out / 'calibrated.toml'}; "
               f"report: {out / 'report.html'})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0 opens it to the network).")
@click.option("--port", type=click.IntRange(1, 65535), default=8050, show_default=True)
@click.option("--max-agents", type=click.IntRange(100), default=None,
              help="Persons and firms of one run [2,000,000].")
@click.option("--max-days", type=click.IntRange(1, 3660), default=None, help="Days of one run [1,830].")
@click.option("--max-seeds", type=click.IntRange(1, 1000), default=None, help="Seeds of one request [10].")
@click.option("--max-arms", type=click.IntRange(1, 10), default=None, help="Arms of one request [3].")
@click.option("--max-wall-seconds", type=click.FloatRange(1), default=None,
              help="Wall time of one request's runs; longer ones are stopped [300].")
@click.option("--max-queue", type=click.IntRange(1), default=None,
              help="Requests queued or running; one more gets HTTP 429 [8].")
@click.option("--max-body-bytes", type=click.IntRange(1024), default=None, help="A request's body [262,144].")
@click.option("--max-upload-bytes", type=click.IntRange(1024), default=None,
              help="An uploaded TOML file [65,536].")
@click.option("--workers", type=click.IntRange(1), default=None, help="Runs at once [one per core].")
@click.option("--cache", "cache_entries", type=click.IntRange(0), default=None,
              help="Finished identical requests kept in memory [32].")
def serve(host, port, **caps):
    """The explorer: a web page to run and compare regimes (needs credsim[web])."""
    try:
        from credsim.web.serve import serve as run_server
    except ImportError as exc:
        _fail(ImportError(f"credsim serve needs the web extra: pip install 'credsim[web]' ({exc})"))
    run_server(host, port, {k: v for k, v in caps.items() if v is not None})


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="credsim")  # python -m credsim.cli: its usage lines say credsim, as the script's
