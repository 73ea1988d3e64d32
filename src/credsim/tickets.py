"""Ticket purchase attempts: the observation model of the figures that count purchases blocked
(person-times), not persons.

Persons under a sanction that blocks a ticket kind (``Sanction.blocks_tickets``) try to buy that
kind at ``rate_per_year`` times their own multiplier (gamma, mean 1, shape ``dispersion.shape``,
drawn once per agent from its counter-based stream, ``rng.gamma_mean1``); every attempt is
blocked. Firms buy no tickets. The kernel carries, per daily cell, the sum of the multipliers of
the persons each kind is blocked for (a difference-array measure in fixed point,
``layout.TICKET_FIX``); a community's blocked count of a day is then Poisson of that sum times
the daily rate (a sum of independent Poisson counts is Poisson of the sum), drawn here from a
counter-based stream keyed by (seed, community, ticket kind): exact in distribution, and
independent of threads, workers and the order communities finish in.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import Field

from credsim import limits as L
from credsim.config import Strict, read_toml, validate
from credsim.data import data_path
from credsim.layout import TICKET_FIX, TICKET_KINDS
from credsim.provenance import Sourced

DATA_FILE = "tickets.toml"
_STREAM = 0x7469636B  # "tick": the tickets' share of the run's seed space


class TicketRate(Sourced):
    """How often a person under a blocking sanction tries to buy one kind of ticket."""

    rate_per_year: float = Field(ge=0, le=L.RATE)


class Dispersion(Sourced):
    """Shape of the per-person gamma multiplier of the attempt rates (mean 1, variance
    1 / shape); 0 gives every person the same rates."""

    shape: float = Field(ge=0, le=1e6)


def _default(key: str):
    return lambda: getattr(default_tickets(), key)


class TicketsSpec(Strict):
    """A scenario's ``[tickets]`` (defaults: data/tickets.toml)."""

    flight: TicketRate = Field(default_factory=_default("flight"))
    train: TicketRate = Field(default_factory=_default("train"))
    dispersion: Dispersion = Field(default_factory=_default("dispersion"))

    def rates_per_day(self) -> np.ndarray:
        """Attempt rates per person-day, in ``layout.TICKET_KINDS`` order."""
        return np.array([getattr(self, k).rate_per_year / 365.0 for k in TICKET_KINDS])


@lru_cache(maxsize=1)
def default_tickets() -> TicketsSpec:
    path = data_path(DATA_FILE)
    data = read_toml(path)
    return validate(TicketsFile, data, str(path)).as_spec()


class TicketsFile(Strict):
    """data/tickets.toml: every table given, each with its provenance."""

    flight: TicketRate
    train: TicketRate
    dispersion: Dispersion

    def as_spec(self) -> TicketsSpec:
        return TicketsSpec(flight=self.flight, train=self.train, dispersion=self.dispersion)


def blocked(level: np.ndarray, rates_per_day: np.ndarray, seed: int,
            community: int) -> tuple[np.ndarray, np.ndarray]:
    """(expected attempts, blocked attempts) per cell of one community: ``level`` holds the
    multiplier sums per (day, group, grade, kind) in fixed point; the counts are Poisson draws
    from a Philox stream keyed by (seed, community, kind), in the cells' order."""
    expected = level * (rates_per_day / TICKET_FIX)
    counts = np.zeros(level.shape, np.int64)
    for k in range(level.shape[-1]):
        key = np.array([seed, (_STREAM << 32) + community * len(TICKET_KINDS) + k], np.uint64)
        gen = np.random.Generator(np.random.Philox(key=key))
        counts[..., k] = gen.poisson(expected[..., k])
    return expected, counts
