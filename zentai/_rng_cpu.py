"""Compiled (numba) CPU versions of :mod:`zentai.rng`'s hashing: the same integers, fused.

The torch versions build each SplitMix64 finaliser from ~12 whole-tensor operations; for the
hundreds of millions of draws of a full-scale build that is memory traffic, not arithmetic.
These loops give bit-identical results (tested against the torch versions and the pure-Python
reference) and are used by :mod:`zentai.rng` for CPU tensors when numba is installed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_G1 = np.uint64(0x9E3779B97F4A7C15)
_G2 = np.uint64(0xD1B54A32D192ED03)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / (1 << 53)


@njit(inline="always")
def _mix(x):
    x = (x ^ (x >> _S30)) * _C1
    x = (x ^ (x >> _S27)) * _C2
    return x ^ (x >> _S31)


@njit(cache=True, nogil=True, parallel=True)
def bits(k, stream, counter, out):  # pragma: no cover - compiled
    """out[i] = mix(mix(stream[i] G1 + k) + counter[i] G2), all uint64 (wrapping)."""
    for i in prange(out.shape[0]):
        h = _mix(stream[i] * _G1 + k)
        out[i] = _mix(h + counter[i] * _G2)


@njit(cache=True, nogil=True, parallel=True)
def uniform_pair(k, stream, counter, u1, u2):  # pragma: no cover - compiled
    """The uniforms of counters 2c and 2c + 1 (as rng.normal draws them), one stream key each."""
    two = np.uint64(2)
    one = np.uint64(1)
    for i in prange(u1.shape[0]):
        h = _mix(stream[i] * _G1 + k)
        c = counter[i] * two
        u1[i] = np.float64(_mix(h + c * _G2) >> _S11) * _INV53
        u2[i] = np.float64(_mix(h + (c + one) * _G2) >> _S11) * _INV53
