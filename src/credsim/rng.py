"""Counter-based randomness: every draw is a pure function of (seed, agent, stream, counter).

A run's results are then identical on any number of threads, processes or machines, and one
agent's life can be replayed alone. The mixer is SplitMix64's finaliser (Steele et al. 2014),
applied once per key part so nearby keys give unrelated outputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S32 = np.uint64(32)
_LO32 = np.uint64(0xFFFFFFFF)
_INV53 = 1.0 / 9007199254740992.0
_INV32 = 1.0 / 4294967296.0

# Streams: one per purpose, so changing one part of a scenario does not reshuffle the others.
S_ATTR = 1  # + attribute index (sex, age, place, panel, household...)
S_TRAIT = 64  # + trait index
S_SCORE0 = 128
S_WAIT = 256  # time to the next act (counter: the agent's event number)
S_CHOICE = 257  # which act
S_DETECT = 258  # whether a sensor records it
S_ACCEPT = 259  # thinning acceptance (behaviour response)
S_EPOCH = 260  # redraw of the next event when watching changes (counter: the day)
S_EXTEND = 512  # + list index: listing extension
S_REMOVE = 640  # + list index: time to performance / regularisation


@njit(inline="always", cache=True)
def mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always", cache=True)
def agent_key(seed, agent):
    """The key of one agent: hashed once, reused for all its draws."""
    return mix(np.uint64(seed) ^ mix(np.uint64(agent) * _GOLD + _M1))


@njit(inline="always", cache=True)
def draw(akey, stream, counter):
    """64 random bits for (agent, stream, counter)."""
    return mix(mix(akey + np.uint64(stream) * _GOLD) ^ (np.uint64(counter) * _M2 + _GOLD))


@njit(inline="always", cache=True)
def uniform(akey, stream, counter):
    """A float in (0, 1), never 0 or 1."""
    return ((draw(akey, stream, counter) >> _S11) + 0.5) * _INV53


@njit(inline="always", cache=True)
def normal(akey, stream, counter):
    """A standard normal draw (Box-Muller on the two 32-bit halves of one hash)."""
    h = draw(akey, stream, counter)
    u1 = ((h >> _S32) + 0.5) * _INV32
    u2 = ((h & _LO32) + 0.5) * _INV32
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


_S21 = np.uint64(21)
_S42 = np.uint64(42)
_LO21 = np.uint64((1 << 21) - 1)
_INV21 = 1.0 / 2097152.0


@njit(inline="always", cache=True)
def uniform3(akey, stream, counter):
    """Three floats in (0, 1) with 21 bits each, from one hash (for coarse attributes)."""
    h = draw(akey, stream, counter)
    return (((h & _LO21) + 0.5) * _INV21, (((h >> _S21) & _LO21) + 0.5) * _INV21,
            (((h >> _S42) & _LO21) + 0.5) * _INV21)


@njit(inline="always", cache=True)
def normal_pair(akey, stream, counter):
    """Two independent standard normal draws (both Box-Muller outputs of one hash)."""
    h = draw(akey, stream, counter)
    u1 = ((h >> _S32) + 0.5) * _INV32
    u2 = ((h & _LO32) + 0.5) * _INV32
    r = np.sqrt(-2.0 * np.log(u1))
    return r * np.cos(2.0 * np.pi * u2), r * np.sin(2.0 * np.pi * u2)


@njit(inline="always", cache=True)
def exponential(akey, stream, counter, rate):
    """Waiting time of a Poisson process of ``rate`` per day; inf when the rate is 0."""
    if rate <= 0.0:
        return np.inf
    return -np.log(uniform(akey, stream, counter)) / rate


@njit(cache=True)
def uniforms(seed, agents, stream, counter):
    """Vectorised helper for tests: uniform draws for many agents."""
    out = np.empty(agents.shape[0])
    for i in range(agents.shape[0]):
        out[i] = uniform(agent_key(seed, agents[i]), stream, counter)
    return out
