"""Package data: regimes, behaviour catalogue, population marginals. Every figure cites its source."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def data_path(*parts: str) -> Path:
    return ROOT.joinpath(*parts)
