"""An experiment directory: one row per finished (point, seed), its daily series, the points and
the experiment itself, queried with DuckDB.

    DIR/experiment.json       what was run (kind, points, seeds, outputs, credsim version, fingerprint)
    DIR/experiment.toml       the experiment file, when there was one
    DIR/points.parquet        one row per point: point, label, factor values
    DIR/runs.parquet          the run table: one row per (point, seed), in that order
    DIR/daily/point=3/*.parquet   the daily series, partitioned by point (Hive layout)
    DIR/timing.jsonl          seconds per run (apart, so that the tables do not depend on speed)

While an experiment runs, each finished run's row is one line appended to ``journal.jsonl``,
after its daily series is on disk in a chunk file (``daily/chunk-*.parquet``, written to a
temporary name and renamed; a chunk holds the runs that finished within a few seconds of each
other). A line in the journal is a whole run, so ``--resume`` skips exactly those runs; a line
cut by a kill is ignored. Few files, not one per run: creating and deleting files is the slow
part of a sweep of small runs on many file systems. At the end (``finish``) the journal becomes
``runs.parquet`` and the chunks the point-partitioned daily table (DuckDB, out of core).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from credsim.experiment.runner import RunOutput

JOURNAL = "journal.jsonl"
CHUNK_RUNS = 64  # daily series buffered before a chunk is written ...
CHUNK_SECONDS = 5.0  # ... or after this long: a kill loses at most that much work


def _atomic_parquet(table: pa.Table | pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _json_value(v: Any) -> Any:
    """A table value as JSON: non-finite floats as null (read back as NaN)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class RunStore:
    """The files of one experiment directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._buffer: list[RunOutput] = []
        self._last_flush = time.monotonic()
        self._chunks = 0

    # ------------------------------------------------------------------ writing
    def start(self, meta: dict[str, Any], points: pd.DataFrame, text: str | None, resume: bool) -> None:
        """Make the directory. Without ``resume`` earlier runs are removed; with it, they must
        belong to the same experiment (same fingerprint)."""
        self.root.mkdir(parents=True, exist_ok=True)
        old = self.meta() if (self.root / "experiment.json").exists() else None
        if resume and old is not None and old.get("fingerprint") != meta["fingerprint"]:
            raise ValueError(f"{self.root}: holds another experiment ({old.get('name')!r}, or the same one "
                             f"changed since): --resume needs the same experiment and credsim version; "
                             f"use another -o, or run without --resume to start over")
        if not resume:
            for t in ("daily", "daily.tmp", "daily.old"):
                shutil.rmtree(self.root / t, ignore_errors=True)
            for f in ("timing.jsonl", "runs.parquet", JOURNAL):
                (self.root / f).unlink(missing_ok=True)
        for tmp in [*self.root.glob("*.tmp"), *self.root.glob("daily/*.tmp")]:
            tmp.unlink()
        self._chunks = len(list(self.root.glob("daily/chunk-*.parquet")))
        (self.root / "experiment.json").write_text(json.dumps(meta, indent=2, default=str))
        if text is not None:
            (self.root / "experiment.toml").write_text(text)
        _atomic_parquet(points, self.root / "points.parquet")

    def write(self, out: RunOutput) -> None:
        """Take one finished run: on disk within ``CHUNK_SECONDS`` (or ``CHUNK_RUNS`` runs)."""
        self._buffer.append(out)
        if len(self._buffer) >= CHUNK_RUNS or time.monotonic() - self._last_flush >= CHUNK_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the buffered runs: their daily series in one chunk, then their rows."""
        runs, self._buffer = self._buffer, []
        self._last_flush = time.monotonic()
        if not runs:
            return
        daily = [r.daily for r in runs if r.daily is not None]
        if daily:
            _atomic_parquet(pd.concat(daily, ignore_index=True),
                            self.root / "daily" / f"chunk-{os.getpid()}-{self._chunks:06d}.parquet")
            self._chunks += 1
        with open(self.root / JOURNAL, "a", encoding="utf-8") as f:
            for r in runs:
                f.write(json.dumps({
                    "point": r.point, "seed": r.seed, "row": {k: _json_value(v) for k, v in r.row.items()},
                    "timing": {"seconds": round(r.seconds, 4), "sim_seconds": round(r.sim_seconds, 4),
                               "events": r.events}}) + "\n")

    def finish(self, meta_update: dict[str, Any]) -> None:
        """Write what is buffered, consolidate the tables and record how the experiment ran."""
        self.flush()
        self.consolidate()
        meta = self.meta()
        meta.update(meta_update)
        (self.root / "experiment.json").write_text(json.dumps(meta, indent=2, default=str))

    def consolidate(self) -> None:
        """Move the journal into ``runs.parquet`` (and its timings into ``timing.jsonl``) and the
        daily chunks into the point-partitioned daily table."""
        entries = self._journal()
        if entries:
            rows = pd.DataFrame([{"point": e["point"], "seed": e["seed"], **e["row"]} for e in entries])
            if (self.root / "runs.parquet").exists():
                rows = pd.concat([pd.read_parquet(self.root / "runs.parquet"), rows], ignore_index=True)
            rows = rows.drop_duplicates(["point", "seed"]).sort_values(["point", "seed"])
            _atomic_parquet(rows.reset_index(drop=True), self.root / "runs.parquet")
            with open(self.root / "timing.jsonl", "a", encoding="utf-8") as f:
                for e in entries:
                    f.write(json.dumps({"point": e["point"], "seed": e["seed"], **e["timing"]}) + "\n")
            (self.root / JOURNAL).unlink()
        chunks = sorted((self.root / "daily").glob("chunk-*.parquet"))
        if chunks:
            self._partition_daily(chunks)

    def _partition_daily(self, chunks: list[Path]) -> None:
        import duckdb

        files = chunks + sorted((self.root / "daily").glob("point=*/*.parquet"))
        tmp = self.root / "daily.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        con = duckdb.connect()
        con.execute("set enable_progress_bar = false")
        try:
            con.execute(f"copy (select * from read_parquet({_sql_list(files)}, hive_partitioning = true, "
                        f"union_by_name = true) order by point, seed, day) to '{_sql_str(str(tmp))}' "
                        f"(format parquet, partition_by (point))")
        finally:
            con.close()
        old = self.root / "daily.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(self.root / "daily", old)
        os.replace(tmp, self.root / "daily")
        shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ reading
    def meta(self) -> dict[str, Any]:
        p = self.root / "experiment.json"
        if not p.exists():
            raise FileNotFoundError(f"{self.root}: not a credsim experiment directory (no experiment.json)")
        return json.loads(p.read_text())

    def _journal(self) -> list[dict[str, Any]]:
        """The journal's whole lines (a line cut by a kill is ignored)."""
        p = self.root / JOURNAL
        if not p.exists():
            return []
        out = []
        for line in p.read_text(encoding="utf-8").splitlines(keepends=True):
            if not line.endswith("\n"):
                break
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return out

    def done(self) -> set[tuple[int, int]]:
        """The (point, seed) keys of the runs on disk."""
        keys = {(e["point"], e["seed"]) for e in self._journal()}
        if (self.root / "runs.parquet").exists():
            t = pq.read_table(self.root / "runs.parquet", columns=["point", "seed"])
            keys |= set(zip(t.column("point").to_pylist(), t.column("seed").to_pylist(), strict=True))
        return keys

    def _daily_files(self, points: list[int] | None = None) -> list[str]:
        d = self.root / "daily"
        parts = (d.glob("point=*/*.parquet") if points is None
                 else (f for p in points for f in (d / f"point={p}").glob("*.parquet")))
        return [str(f) for f in sorted(parts)] + [str(f) for f in sorted(d.glob("chunk-*.parquet"))]

    def connect(self, points: list[int] | None = None):
        """A DuckDB connection with the views ``runs``, ``daily``, ``points`` and ``timing``
        (``points``: the daily view opens only those points' files)."""
        import duckdb

        con = duckdb.connect()
        con.execute("set enable_progress_bar = false")
        parts = []
        if (self.root / "runs.parquet").exists():
            parts.append(f"select * from read_parquet('{_sql_str(str(self.root / 'runs.parquet'))}')")
        entries = self._journal()
        if entries:
            con.register("_journal_rows", pd.DataFrame(
                [{"point": e["point"], "seed": e["seed"], **e["row"]} for e in entries]))
            parts.append("select * from _journal_rows")
        if parts:
            con.execute("create view runs as " + " union all by name ".join(f"({q})" for q in parts))
        files = self._daily_files(points)
        if files:
            where = "" if points is None else f" where point in ({', '.join(str(int(p)) for p in points)})"
            con.execute(f"create view daily as select * from read_parquet({_sql_list(files)}, "
                        f"hive_partitioning = true, union_by_name = true){where}")
        pts = self.root / "points.parquet"
        if pts.exists():
            con.execute(f"create view points as select * from read_parquet('{_sql_str(str(pts))}')")
        timing = [{"point": e["point"], "seed": e["seed"], **e["timing"]} for e in entries]
        tim = self.root / "timing.jsonl"
        if tim.exists() and tim.stat().st_size:
            timing += [json.loads(x) for x in tim.read_text().splitlines() if x.strip()]
        if timing:
            con.register("_timing", pd.DataFrame(timing))
            con.execute("create view timing as select * from _timing")
        return con

    def sql(self, query: str, points: list[int] | None = None) -> pd.DataFrame:
        """Run a DuckDB query over the experiment's tables; returns a DataFrame."""
        con = self.connect(points)
        try:
            return con.execute(query).df()
        finally:
            con.close()

    def table(self, name: str, points: list[int] | None = None) -> pd.DataFrame:
        """A whole table (``runs``, ``daily``, ``points``) in key order; ``points`` reads only
        those points' daily series."""
        order = {"runs": "point, seed", "daily": "point, seed, day", "points": "point"}[name]
        con = self.connect(points)
        try:
            views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
            if name not in views:
                return pd.DataFrame()
            df = con.execute(f"select * from {name} order by {order}").df()
        finally:
            con.close()
        if "point" in df.columns:
            df["point"] = df["point"].astype("int64")
        return df


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _sql_list(items: list[str] | list[Path]) -> str:
    return "[" + ", ".join(f"'{_sql_str(str(x))}'" for x in items) + "]"
