"""Peer ratings (the 'nosedive' regime): the exchange rule and a run."""

import numpy as np
import pytest
from conftest import make_scenario

from credsim.peer import peer_update
from credsim.sim import Sim


def test_scripted_two_agent_exchange_gives_hand_computed_ratings():
    # A is at 4.20 stars, B at 3.10; memory weight 40.
    a, b, memory = 420, 310, 40.0
    # B rates A 2 stars (B's weight 310/500 = 0.62); A rates B 5 stars (weight 420/500 = 0.84).
    new_a = peer_update(a, np.array([float(b)]), np.array([2.0]), memory)
    new_b = peer_update(b, np.array([float(a)]), np.array([5.0]), memory)
    # by hand: (420*40 + 0.62*200) / 40.62 = 416.65 -> 417 ; (310*40 + 0.84*500) / 40.84 = 313.91 -> 314
    assert new_a == 417
    assert new_b == 314
    # a second round from the new ratings, both at once (synchronous update)
    assert peer_update(new_a, np.array([float(new_b)]), np.array([2.0]), memory) == round(
        (417 * 40 + 314 / 500 * 200) / (40 + 314 / 500))
    # a higher-rated rater moves the rating more
    hi = peer_update(300, np.array([500.0]), np.array([5.0]), memory)
    lo = peer_update(300, np.array([100.0]), np.array([5.0]), memory)
    assert hi > lo > 300
    # no ratings: nothing changes
    assert peer_update(333, np.array([]), np.array([]), memory) == 333


@pytest.fixture(scope="module")
def nosedive_run():
    sc = make_scenario(days=120, epoch_days=7, regime={"use": "nosedive"},
                       population={"persons": 30_000, "community_size": 10_000, "firms": False})
    return Sim(sc).run(workers=1, progress=False)


def test_ratings_move_inside_bounds_and_privileges_follow_grades(nosedive_run):
    res = nosedive_run
    d = res.daily
    assert (d.groupby("day").persons.sum() == res.meta["persons"]).all()
    bd = res.by_day
    # ratings drift from the initial spread toward what agents earn, week by week
    assert bd.mean_score.iloc[-1] != pytest.approx(bd.mean_score.iloc[0], abs=0.5)
    changes = np.diff(bd.mean_score.to_numpy())
    assert (np.abs(changes) > 0).sum() >= 10  # one change per epoch, ~17 epochs
    assert (d.sanction_housing_discount == np.where(d.grade == "prime", d.persons, 0)).all()
    hist = res.score_hist
    assert hist.sum() > 0 and len(hist) == 401
