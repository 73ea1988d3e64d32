"""Seeds of many runs (experiments, calibrations): a count from a first seed, or a list."""

from __future__ import annotations

SEED_END = 2**63  # seeds are in [0, 2**63): the counter-based generator's key


def seed_problems(seeds: int | list[int], most: int) -> list[str]:
    """What is wrong with a ``seeds`` key (a count of at most ``most``, or a list); [] if nothing."""
    if isinstance(seeds, int):
        return [] if 1 <= seeds <= most else [f"seeds: {seeds} should be between 1 and {most} "
                                              f"(or a list of seeds)"]
    problems = []
    if not seeds:
        problems.append("seeds: the list is empty")
    if len(set(seeds)) != len(seeds):
        problems.append("seeds: a seed is listed twice")
    if any(not 0 <= s < SEED_END for s in seeds):
        problems.append("seeds: every seed must be in [0, 2**63)")
    return problems


def seed_list(seeds: int | list[int], first_seed: int | None, scenario_seed: int) -> list[int]:
    """The seeds themselves: the list, or ``seeds`` of them from ``first_seed`` (default: the
    scenario's own seed)."""
    if isinstance(seeds, list):
        return list(seeds)
    first = scenario_seed if first_seed is None else first_seed
    return [first + k for k in range(seeds)]
