"""Which kernel a compiled scenario needs: the ``layout.FEAT_*`` bits each part of it uses.

Each mechanism says when it is in use (``Mechanism.uses``). Four other parts of a scenario
select kernel code too and are not mechanisms; their rules live here, named:

- ``detection``: acts recorded with a probability below 1 (the catalogue's sensors);
- ``regime_timers``: the regime's lists and recoveries (due days);
- ``peer_ratings``: the regime's peer ratings (links between raters at every epoch);
- ``links``: links between agents, which the engine decides (household children, firms and
  their legal representatives, reruns): its ``links`` argument.
"""

from __future__ import annotations

from credsim.layout import FEAT_ACTS, FEAT_ALL, FEAT_LINKS, FEAT_TIMERS
from credsim.mechanisms.base import Compiled
from credsim.mechanisms.registry import MECHANISMS


def detection(spec: Compiled) -> int:
    return FEAT_ACTS if (spec.behaviour.p_detect < 1.0).any() else 0


def regime_timers(spec: Compiled) -> int:
    return FEAT_TIMERS if spec.n_lists or spec.regime.rec_after.shape[0] else 0


def peer_ratings(spec: Compiled) -> int:
    return FEAT_LINKS if spec.peer is not None else 0


NOT_MECHANISMS = {"detection": detection, "regime_timers": regime_timers, "peer_ratings": peer_ratings}


def features_in_use(spec: Compiled, links: bool) -> dict[str, int]:
    """The feature bits each mechanism and each other part needs (0: none), by name: why a
    scenario gets the kernel it gets."""
    used = {m.section: m.uses(spec) for m in MECHANISMS}
    used.update({name: rule(spec) for name, rule in NOT_MECHANISMS.items()})
    used["links"] = FEAT_LINKS if links else 0
    return used


def kernel_features(spec: Compiled, links: bool) -> int:
    """The features the kernel is compiled with (``engine.mechanism_features``): every one when
    any part of the scenario uses any, else none, so that there are two kernels to compile and
    cache, the lean one for the scenarios that use nothing."""
    return FEAT_ALL if any(features_in_use(spec, links).values()) else 0
