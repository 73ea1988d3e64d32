"""Counter-based randomness: every draw is a pure function of (seed, agent, stream, counter).

A run's results are then identical on any number of threads, processes or machines, and one
agent's life can be replayed alone. The mixer is SplitMix64's finaliser (Steele et al. 2014),
applied once per key part so nearby keys give unrelated outputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from credsim import jitcache  # noqa: F401  (before any @njit: cache keyed by the package)

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
_ONE = np.uint64(1)

# Streams: one per purpose, so changing one part of a scenario does not reshuffle the others.
S_ATTR = 1  # + attribute index (sex, age, place, panel, household...)
S_TRAIT = 64  # + trait index
S_SCORE0 = 128
S_WAIT = 256  # time to the next act (counter: the agent's event number)
S_CHOICE = 257  # which act: group (high half of the hash), act in the group (low half)
S_ACCEPT = 259  # thinning acceptance (high half), whether a sensor records it (low half)
S_EPOCH = 260  # redraw of the next event when watching changes (counter: the day)
S_EXTEND = 512  # + list index: listing extension
S_REMOVE = 640  # + list index: time to performance / regularisation
S_TICKET = 768  # the agent's ticket-purchase multiplier (gamma, mean 1)


@njit(forceinline=True, _nrt=False, cache=True)
def mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(forceinline=True, _nrt=False, cache=True)
def agent_key(seed, agent):
    """The key of one agent: hashed once, reused for all its draws."""
    return mix(np.uint64(seed) ^ mix(np.uint64(agent) * _GOLD + _M1))


@njit(forceinline=True, _nrt=False, cache=True)
def draw(akey, stream, counter):
    """64 random bits for (agent, stream, counter)."""
    return mix(mix(akey + np.uint64(stream) * _GOLD) ^ (np.uint64(counter) * _M2 + _GOLD))


@njit(forceinline=True, _nrt=False, cache=True)
def uniform(akey, stream, counter):
    """A float in (0, 1), never 0 or 1."""
    return ((draw(akey, stream, counter) >> _S11) + 0.5) * _INV53


@njit(forceinline=True, _nrt=False, cache=True)
def halves(h):
    """Two independent floats in (0, 1) with 32 bits each, from the two halves of one hash."""
    return ((h >> _S32) + 0.5) * _INV32, ((h & _LO32) + 0.5) * _INV32


@njit(forceinline=True, _nrt=False, cache=True)
def normal(akey, stream, counter):
    """A standard normal draw (Box-Muller on the two 32-bit halves of one hash)."""
    u1, u2 = halves(draw(akey, stream, counter))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


_S21 = np.uint64(21)
_S42 = np.uint64(42)
_LO21 = np.uint64((1 << 21) - 1)
_INV21 = 1.0 / 2097152.0


@njit(forceinline=True, _nrt=False, cache=True)
def uniform3(akey, stream, counter):
    """Three floats in (0, 1) with 21 bits each, from one hash (for coarse attributes)."""
    h = draw(akey, stream, counter)
    return (((h & _LO21) + 0.5) * _INV21, (((h >> _S21) & _LO21) + 0.5) * _INV21,
            (((h >> _S42) & _LO21) + 0.5) * _INV21)


def _ziggurat_tables(n: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer tables of the normal ziggurat (Marsaglia & Tsang 2000, "The Ziggurat Method for
    Generating Random Variables", J. Stat. Softw. 5(8)): acceptance bounds ``kn`` on a signed
    32-bit value, widths ``wn`` and densities ``fn`` of the 128 layers."""
    m1 = 2147483648.0
    dn = tn = ZIG_R
    vn = 9.91256303526217e-3
    q = vn / np.exp(-0.5 * dn * dn)
    kn = np.zeros(n, np.int64)
    wn = np.zeros(n)
    fn = np.zeros(n)
    kn[0] = int(dn / q * m1)
    wn[0], wn[n - 1] = q / m1, dn / m1
    fn[0], fn[n - 1] = 1.0, np.exp(-0.5 * dn * dn)
    for i in range(n - 2, 0, -1):
        dn = np.sqrt(-2.0 * np.log(vn / dn + np.exp(-0.5 * dn * dn)))
        kn[i + 1] = int(dn / tn * m1)
        tn = dn
        fn[i] = np.exp(-0.5 * dn * dn)
        wn[i] = dn / m1
    return kn, wn, fn


ZIG_R = 3.442619855899  # start of the tail
_ZKN, _ZWN, _ZFN = _ziggurat_tables()
_LO7 = np.uint64(127)
_TRY = np.uint64(1 << 40)  # counter offset of each further try, far from the caller's counters


@njit(forceinline=True, _nrt=False, cache=True)
def standard_normal(akey, stream, counter):
    """A standard normal draw by the ziggurat: one hash gives the layer (7 low bits) and a signed
    32-bit value (high bits, independent of the layer); 98.8% of draws end there, with no
    logarithm or cosine. Rejections retry on the same stream at counters ``counter + k * 2**40``."""
    hz, iz = _zig_layer(draw(akey, stream, counter))
    if abs(hz) < _ZKN[iz]:
        return hz * _ZWN[iz]
    return _normal_slow(akey, stream, counter, hz, iz)


@njit(forceinline=True, _nrt=False, cache=True)
def _zig_layer(h):
    """A signed 32-bit value (high bits) and a layer (7 low bits) from one hash."""
    return np.int64(h >> _S32) - 2147483648, np.int64(h & _LO7)


@njit(forceinline=False, _nrt=False, cache=True)  # a rare path: not forced inline
def _normal_slow(akey, stream, counter, hz, iz):
    """The ziggurat's rare path: the tail beyond ``ZIG_R`` and the wedges of the layers."""
    c0 = np.uint64(counter)
    k = np.uint64(1)
    while True:
        x = hz * _ZWN[iz]
        if iz == 0:  # the tail (Marsaglia 1964)
            while True:
                xt = -np.log(uniform(akey, stream, c0 + k * _TRY)) / ZIG_R
                y = -np.log(uniform(akey, stream, c0 + (k + _ONE) * _TRY))
                k += np.uint64(2)
                if y + y >= xt * xt:
                    break
            return ZIG_R + xt if hz > 0 else -ZIG_R - xt
        u = uniform(akey, stream, c0 + k * _TRY)
        k += _ONE
        if _ZFN[iz] + u * (_ZFN[iz - 1] - _ZFN[iz]) < np.exp(-0.5 * x * x):
            return x
        hz, iz = _zig_layer(draw(akey, stream, c0 + k * _TRY))
        k += _ONE
        if abs(hz) < _ZKN[iz]:
            return hz * _ZWN[iz]


@njit(cache=True)
def standard_normals(seed, agents, stream, counter):
    """Vectorised helper for tests: ziggurat normal draws for many agents."""
    out = np.empty(agents.shape[0])
    for i in range(agents.shape[0]):
        out[i] = standard_normal(agent_key(seed, agents[i]), stream, counter)
    return out


def _exp_ziggurat_tables(n: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer tables of the exponential ziggurat (Marsaglia & Tsang 2000): acceptance bounds
    ``ke`` on an unsigned 32-bit value, widths ``we`` and densities ``fe`` of the 256 layers."""
    m2 = 4294967296.0
    de = te = ZIGE_R
    ve = 3.949659822581572e-3
    q = ve / np.exp(-de)
    ke = np.zeros(n, np.int64)
    we = np.zeros(n)
    fe = np.zeros(n)
    ke[0] = int(de / q * m2)
    we[0], we[n - 1] = q / m2, de / m2
    fe[0], fe[n - 1] = 1.0, np.exp(-de)
    for i in range(n - 2, 0, -1):
        de = -np.log(ve / de + np.exp(-de))
        ke[i + 1] = int(de / te * m2)
        te = de
        fe[i] = np.exp(-de)
        we[i] = de / m2
    return ke, we, fe


ZIGE_R = 7.697117470131487  # start of the exponential ziggurat's tail
_ZKE, _ZWE, _ZFE = _exp_ziggurat_tables()
_LO8 = np.uint64(255)


@njit(forceinline=True, _nrt=False, cache=True)
def standard_exponential(akey, stream, counter):
    """An exponential draw of mean 1 by the ziggurat: one hash gives the layer (8 low bits) and
    an unsigned 32-bit value (high bits); 98.9% of draws end there, with no logarithm.
    Rejections retry on the same stream at counters ``counter + k * 2**40``."""
    h = draw(akey, stream, counter)
    jz = np.int64(h >> _S32)
    iz = np.int64(h & _LO8)
    if jz < _ZKE[iz]:
        return jz * _ZWE[iz]
    return _exponential_slow(akey, stream, counter, jz, iz)


@njit(forceinline=False, _nrt=False, cache=True)  # a rare path: not forced inline
def _exponential_slow(akey, stream, counter, jz, iz):
    """The exponential ziggurat's rare path: the tail beyond ``ZIGE_R`` (memoryless: the start
    plus a fresh draw) and the wedges of the layers."""
    c0 = np.uint64(counter)
    k = np.uint64(1)
    while True:
        if iz == 0:
            return ZIGE_R - np.log(uniform(akey, stream, c0 + k * _TRY))
        x = jz * _ZWE[iz]
        u = uniform(akey, stream, c0 + k * _TRY)
        k += _ONE
        if _ZFE[iz] + u * (_ZFE[iz - 1] - _ZFE[iz]) < np.exp(-x):
            return x
        h = draw(akey, stream, c0 + k * _TRY)
        k += _ONE
        jz = np.int64(h >> _S32)
        iz = np.int64(h & _LO8)
        if jz < _ZKE[iz]:
            return jz * _ZWE[iz]


@njit(cache=True)
def standard_exponentials(seed, agents, stream, counter):
    """Vectorised helper for tests: ziggurat exponential draws for many agents."""
    out = np.empty(agents.shape[0])
    for i in range(agents.shape[0]):
        out[i] = standard_exponential(agent_key(seed, agents[i]), stream, counter)
    return out


@njit(forceinline=True, _nrt=False, cache=True)
def exponential(akey, stream, counter, rate):
    """Waiting time of a Poisson process of ``rate`` per day; inf when the rate is 0."""
    if rate <= 0.0:
        return np.inf
    return standard_exponential(akey, stream, counter) / rate


@njit(cache=True)
def uniforms(seed, agents, stream, counter):
    """Vectorised helper for tests: uniform draws for many agents."""
    out = np.empty(agents.shape[0])
    for i in range(agents.shape[0]):
        out[i] = uniform(agent_key(seed, agents[i]), stream, counter)
    return out


@njit(forceinline=True, _nrt=False, cache=True)
def gamma_mean1(akey, stream, shape):
    """A gamma draw of shape ``shape`` and mean 1 (variance 1 / shape) for one agent: Marsaglia
    and Tsang's squeeze on counter-based normals and uniforms (counter k at attempt k); for
    shape < 1, a draw of shape + 1 times U ** (1 / shape). ``shape`` <= 0: 1 (no dispersion)."""
    if shape <= 0.0:
        return 1.0
    k = shape if shape >= 1.0 else shape + 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    g = d
    for j in range(1000):
        x = normal(akey, stream, 2 * j)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform(akey, stream, 2 * j + 1)
        if u < 1.0 - 0.0331 * x * x * x * x or np.log(u) < 0.5 * x * x + d * (1.0 - v + np.log(v)):
            g = d * v
            break
    if shape < 1.0:
        g *= uniform(akey, stream + 1, 0) ** (1.0 / shape)
    return g / shape
