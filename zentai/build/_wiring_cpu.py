"""Compiled (numba) CPU loops for the wiring's hot spots, bit-identical to the tensor code.

* :func:`draw_per_post` — the partners of fixed in-degree / fixed total number rules:
  ``uniform_int(k, post, slot, n)`` for every slot of every post (one stream key per post
  instead of one per synapse), with the autapse skip.
* :func:`slots` — index of each synapse among its post's synapses (post ids sorted).
* :func:`affine` — ``mu + sigma * z`` (two roundings, as torch computes it) and a count of the
  values outside [low, high].

:mod:`zentai.build.wiring` calls them for CPU tensors when numba is installed; its tensor code
stays the reference (tests compare both).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from zentai._rng_cpu import _G1, _G2, _mix

_S32 = np.uint64(32)


@njit(cache=True, nogil=True, parallel=True)
def draw_per_post(k, a, degrees, first, n_eff, exclude_self, pre_out, post_out):  # pragma: no cover
    """Partners of posts a, a+1, ...: ``degrees[j]`` draws for post a + j from ``first[j]``."""
    n = np.uint64(n_eff)
    for j in prange(degrees.shape[0]):
        post = a + j
        h = _mix(np.uint64(post) * _G1 + k)
        base = first[j]
        for s in range(degrees[j]):
            b = _mix(h + np.uint64(s) * _G2) >> _S32
            r = np.int64((b * n) >> _S32)
            if exclude_self and r >= post:
                r += 1
            pre_out[base + s] = r
            post_out[base + s] = post


@njit(cache=True, nogil=True)
def slots(post, out):  # pragma: no cover - compiled
    """out[i] = i - (first index of post[i]'s run); returns False if ``post`` is unsorted."""
    start = 0
    for i in range(post.shape[0]):
        if i and post[i] != post[i - 1]:
            if post[i] < post[i - 1]:
                return False
            start = i
        out[i] = i - start
    return True


@njit(cache=True, nogil=True, parallel=True)
def affine(z, mu, sigma, low, high, out):  # pragma: no cover - compiled
    """out = mu + sigma * z; returns how many values fall outside [low, high]."""
    bad = 0
    for i in prange(z.shape[0]):
        x = mu + sigma * z[i]
        out[i] = x
        bad += (x < low) | (x > high)
    return bad
