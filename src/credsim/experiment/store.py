"""An experiment directory: one Parquet row per finished (point, seed), its daily series, the
points and the experiment itself, queried with DuckDB.

    DIR/experiment.json       what was run (kind, points, seeds, outputs, credsim version, fingerprint)
    DIR/experiment.toml       the experiment file, when there was one
    DIR/points.parquet        one row per point: point, label, factor values
    DIR/runs/p0003/s17.parquet    the run table's row of point 3, seed 17
    DIR/daily/p0003/s17.parquet   its daily series
    DIR/timing.jsonl          seconds per run (apart, so that the tables do not depend on speed)

Each run's files are written to a temporary name and renamed, the row last: a row on disk means
a whole run, so ``--resume`` skips exactly the runs that finished.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from credsim.experiment.runner import RunOutput

TABLES = ("runs", "daily", "points")
_RUN_FILE = re.compile(r"s(-?\d+)\.parquet$")


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
    os.replace(tmp, path)


class RunStore:
    """The files of one experiment directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def run_path(self, table: str, point: int, seed: int) -> Path:
        return self.root / table / f"p{point:04d}" / f"s{seed}.parquet"

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
            for t in ("runs", "daily"):
                shutil.rmtree(self.root / t, ignore_errors=True)
            (self.root / "timing.jsonl").unlink(missing_ok=True)
        for tmp in self.root.glob("*/p*/*.tmp"):
            tmp.unlink()
        (self.root / "experiment.json").write_text(json.dumps(meta, indent=2, default=str))
        if text is not None:
            (self.root / "experiment.toml").write_text(text)
        _atomic_parquet(points, self.root / "points.parquet")

    def write(self, out: RunOutput) -> None:
        """Write one finished run: daily series first, its row last (the row marks it done)."""
        if out.daily is not None:
            _atomic_parquet(out.daily, self.run_path("daily", out.point, out.seed))
        row = pd.DataFrame([{"point": out.point, "seed": out.seed, **out.row}])
        _atomic_parquet(row, self.run_path("runs", out.point, out.seed))
        with open(self.root / "timing.jsonl", "a") as f:
            f.write(json.dumps({"point": out.point, "seed": out.seed, "seconds": round(out.seconds, 4),
                                "sim_seconds": round(out.sim_seconds, 4), "events": out.events}) + "\n")

    def finish(self, meta_update: dict[str, Any]) -> None:
        meta = self.meta()
        meta.update(meta_update)
        (self.root / "experiment.json").write_text(json.dumps(meta, indent=2, default=str))

    # ------------------------------------------------------------------ reading
    def meta(self) -> dict[str, Any]:
        p = self.root / "experiment.json"
        if not p.exists():
            raise FileNotFoundError(f"{self.root}: not a credsim experiment directory (no experiment.json)")
        return json.loads(p.read_text())

    def done(self) -> set[tuple[int, int]]:
        """The (point, seed) keys whose row is on disk."""
        keys = set()
        for p in (self.root / "runs").glob("p*/s*.parquet"):
            m = _RUN_FILE.search(p.name)
            if m:
                keys.add((int(p.parent.name[1:]), int(m.group(1))))
        return keys

    def _glob(self, table: str) -> str | None:
        d = self.root / table
        return str(d / "p*" / "s*.parquet") if any(d.glob("p*/s*.parquet")) else None

    def connect(self):
        """A DuckDB connection with the views ``runs``, ``daily``, ``points`` and ``timing``."""
        import duckdb

        con = duckdb.connect()
        for t in ("runs", "daily"):
            g = self._glob(t)
            if g is not None:
                con.execute(f"create view {t} as select * from read_parquet('{_sql_str(g)}', "
                            f"union_by_name = true)")
        pts = self.root / "points.parquet"
        if pts.exists():
            con.execute(f"create view points as select * from read_parquet('{_sql_str(str(pts))}')")
        tim = self.root / "timing.jsonl"
        if tim.exists() and tim.stat().st_size:
            con.execute(f"create view timing as select * from read_json_auto('{_sql_str(str(tim))}')")
        return con

    def sql(self, query: str) -> pd.DataFrame:
        """Run a DuckDB query over the experiment's tables; returns a DataFrame."""
        con = self.connect()
        try:
            return con.execute(query).df()
        finally:
            con.close()

    def table(self, name: str, where: str | None = None) -> pd.DataFrame:
        """A whole table (``runs``, ``daily``, ``points``), ordered by point and seed."""
        order = {"runs": "point, seed", "daily": "point, seed, day", "points": "point"}[name]
        if name != "points" and self._glob(name) is None:
            return pd.DataFrame()
        w = f" where {where}" if where else ""
        return self.sql(f"select * from {name}{w} order by {order}")


def _sql_str(s: str) -> str:
    return s.replace("'", "''")
