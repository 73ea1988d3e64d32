"""The server's caps (each a ``credsim serve`` flag): what one request may ask for and how much
work the server takes on at once. Beyond them a request gets a clear error (HTTP 400 naming the
field) or, when the queue is full, HTTP 429."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ServeLimits:
    max_agents: int = 2_000_000  # persons and their firms of one run (a 1M-person year takes seconds)
    max_days: int = 1_830  # five years
    max_seeds: int = 10
    max_arms: int = 3
    max_wall_seconds: float = 300.0  # one request's runs, from its first run's start
    max_queue: int = 8  # requests queued or running; one more gets HTTP 429
    max_body_bytes: int = 256 * 1024  # a request's JSON body
    max_upload_bytes: int = 64 * 1024  # an uploaded TOML file (the largest shipped regime is ~20 kB)
    workers: int = field(default_factory=_cores)  # runs at once: one per core by default
    cache_entries: int = 32  # results of identical requests kept (least recently used dropped)

    def public(self) -> dict[str, float | int]:
        """The caps the page shows next to its fields."""
        return {k: getattr(self, k) for k in ("max_agents", "max_days", "max_seeds", "max_arms",
                                              "max_wall_seconds", "max_queue", "max_upload_bytes")}
