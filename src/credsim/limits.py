"""The bounds of numeric keys, from what each quantity means and what the kernels store.

Each is documented with its reason in docs/reference.md ("Bounds"). Bounds never change a valid
scenario's results: they refuse values that would overflow, hang or mean nothing.
"""

from __future__ import annotations

INT32 = 2**31 - 1  # scores, points, days and timers are int32 in the kernels
SCORE = 1_000_000  # |score bound|: a score histogram of up to 2,000,001 bins per community
DAYS = 100_000  # durations and delays (274 years): far beyond any horizon (days + burn-in)
RATE = 365.0  # events per agent-year of one act or sensor, and of all of a subject's acts
TRAIT_SIGMA = 1.5  # the most extreme of 1.4 billion agents (z ~ 6) has exp(9) ~ 8,000 x the rate
PERSONS = 2_000_000_000  # above the largest nation (1.41 billion); firm indices start at 2**40
COMMUNITIES = 100_000  # a run's shards (the nation at the default size has 14,100)
WEIGHT = 100.0  # a dimension's weight, a multiplier of points
PROBES = 1_000_000.0  # biometric searches a person can be a candidate of per year
FEMALE_MULTIPLIER = 20.0  # women's false-match rate vs men's (NISTIR 8280 reports up to ~10)
ACTS, TRAITS, SENSORS = 256, 64, 64  # per catalogue (the acts table grows with acts x days)
BANDS = 32  # grades of a regime (the daily table grows with grades x measures)
THREADS = 1024
HORIZON = 7320  # days reported: 20 years at daily resolution (outputs grow with days x acts)
FIRST_YEAR, LAST_YEAR = 1900, 2199  # a calendar start date (dates are datetime64[D] in outputs)
STEPS = 1000  # steps of one schedule
