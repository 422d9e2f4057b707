"""Compiled (numba) CPU versions of :mod:`zentai.rng`'s hashing: the same integers, fused.

The torch versions build each SplitMix64 finaliser from ~12 whole-tensor operations; for the
hundreds of millions of draws of a full-scale build that is memory traffic, not arithmetic.
These loops give bit-identical results (tested against the torch versions and the pure-Python
reference) and are used by :mod:`zentai.rng` for CPU tensors when numba is installed.

:func:`_normal` is the exception: the build's fused loop (``zentai.build._wiring_cpu``) draws
rng.normal's Box–Muller numbers with its own log and cos polynomials, which LLVM vectorises
(with libm's scalar log1p/cos that loop took 19 s at full scale, with these 7-8 s). They are
within 2 ulp of the exact log and 1e-15 of the exact cos; torch's vector library differs from
them in the last bits of ~60 % of the float64 normals, which float32 storage rounds away but
at rare ties.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

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


@njit(inline="always")
def _uniform(h, counter):
    """rng.uniform (float64, top 53 bits) of stream state ``h`` and ``counter``."""
    return np.float64(_mix(h + counter * _G2) >> _S11) * _INV53


@njit(cache=True, nogil=True, parallel=True)
def uniform_pair(k, stream, counter, u1, u2):  # pragma: no cover - compiled
    """The uniforms of counters 2c and 2c + 1 (as rng.normal draws them), one stream key each."""
    two = np.uint64(2)
    one = np.uint64(1)
    for i in prange(u1.shape[0]):
        h = _mix(stream[i] * _G1 + k)
        c = counter[i] * two
        u1[i] = _uniform(h, c)
        u2[i] = _uniform(h, c + one)


# ------------------------------------------------- vectorisable Box-Muller (the build's draws)
@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE-754 bits of float64 ``x`` as an int64."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, b):
    """The float64 whose IEEE-754 bits are int64 ``b``."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


def _series() -> tuple[float, float, tuple, tuple, tuple]:
    """ln 2 split in a 32-bit head and a tail, and Taylor coefficients (rounded from 50 digits):
    2 atanh(s) = 2 s + s z (2/3 + 2/5 z + ...), z = s^2; cos(2 pi b) and sin(2 pi b) / b in
    powers of b^2 (|b| <= 1/8: the 10th terms are below 2^-54)."""
    with localcontext() as ctx:
        ctx.prec = 50
        pi = Decimal("3.14159265358979323846264338327950288419716939937510")
        ln2 = Decimal("0.69314718055994530941723212145817656807550013436026")
        head = math.ldexp(math.floor(math.ldexp(float(ln2), 32)), -32)
        tail = float(ln2 - Decimal(head))
        atanh = tuple(float(Decimal(2) / (2 * k + 3)) for k in range(10))
        cos = tuple(
            float((-1) ** k * (2 * pi) ** (2 * k) / math.factorial(2 * k)) for k in range(10)
        )
        sin = tuple(
            float((-1) ** k * (2 * pi) ** (2 * k + 1) / math.factorial(2 * k + 1))
            for k in range(10)
        )
    return head, tail, atanh, cos, sin


_LN2_HI, _LN2_LO, _ATANH, _COS, _SIN = _series()
_SQRT2 = math.sqrt(2.0)
_MANT = np.int64((1 << 52) - 1)
_EXP1 = np.int64(1023 << 52)
# exp(r) = sum r^n / n!, n <= 13, for |r| <= ln 2 / 2 (the 14th term is below 2^-57)
_EXPS = tuple(1.0 / math.factorial(n) for n in range(14))
_INV_LN2 = 1.0 / math.log(2.0)


@intrinsic
def _as_type_of(typingctx, x, like):
    """``x`` converted to the (float) type of ``like``."""

    def codegen(context, builder, sig, args):
        return context.cast(builder, args[0], sig.args[0], sig.return_type)

    return like(x, like), codegen


@njit(inline="always")
def _horner(c, z):
    p = c[-1]
    for i in range(len(c) - 2, -1, -1):
        p = c[i] + z * p
    return p


@njit(inline="always")
def _log_unit(x):
    """log(x) for a normal float64 x > 0, within 2 ulp: x = 2^e m, m in [sqrt(1/2), sqrt(2)),
    log m = 2 atanh(s), s = (m - 1) / (m + 1)."""
    b = _f64_bits(x)
    e = (b >> 52) - 1023
    m = _bits_f64((b & _MANT) | _EXP1)  # [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    ef = np.float64(e)
    return ef * _LN2_HI + ((s + s + s * (s * s) * _horner(_ATANH, s * s)) + ef * _LN2_LO)


@njit(inline="always")
def _exp(x):
    """exp(x) in float64 for a float32 or float64 ``x``, returned in x's type, within 2 float64
    ulp (so float32 results are rounded from a nearly exact value): x = k ln 2 + r, |r| <= ln
    2 / 2, exp(r) by its series, times 2^k from the exponent bits. No branch and no libm
    call, so a loop of them vectorises (libm's exp is a call per element). Below -708 it
    gives 0 (exp underflows there anyway), above 709 inf."""
    y = np.float64(x)
    k = np.floor(y * _INV_LN2 + 0.5)
    k = min(max(k, -1022.0), 1023.0)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    e = _horner(_EXPS, r) * _bits_f64((np.int64(k) + 1023) << 52)
    e = 0.0 if y < -708.0 else e
    e = np.inf if y > 709.0 else e
    e = y if y != y else e  # NaN
    return _as_type_of(e, x)


@njit(inline="always")
def _cos_2pi(u):
    """cos(2 pi u) for u in [0, 1], by exact reductions to |b| <= 1/8 and a polynomial."""
    a = abs(u - 0.5)  # cos(2 pi u) = -cos(2 pi a)
    far = a > 0.25
    a = 0.5 - a if far else a  # [0, 1/4]; cos(2 pi (1/2 - a)) = -cos(2 pi a)
    b = 0.25 - a  # cos(2 pi a) = sin(2 pi b)
    cs, sn = _horner(_COS, a * a), b * _horner(_SIN, b * b)  # both: a select, no branch
    c = cs if a <= 0.125 else sn
    return c if far else -c


@njit(inline="always")
def _normal(h, slot):
    """rng.normal for stream state ``h`` (``mix(stream G1 + key)``) and draw ``slot``: the
    Box–Muller transform of the uniforms of counters 2 slot and 2 slot + 1."""
    c = slot * np.uint64(2)
    u1, u2 = _uniform(h, c), _uniform(h, c + np.uint64(1))
    return math.sqrt(-2.0 * _log_unit(1.0 - u1)) * _cos_2pi(u2)  # 1 - u1 is exact


@njit(inline="always")
def _skips(h, c0, log1mp, out):
    """Geometric skips (failures before the next success of probability p, log1mp = log(1 - p))
    from the uniforms of counters ``c0, c0 + 1, ...``: floor(log(1 - u) / log1mp), as floats
    (those of very sparse draws may exceed any integer type). A loop LLVM vectorises."""
    for x in range(out.shape[0]):
        u = _uniform(h, c0 + np.uint64(x))
        out[x] = math.floor(_log_unit(1.0 - u) / log1mp)  # 1 - u is exact


@njit(inline="always")
def _walk(h, c0, end, ja, p, log1mp, pos, n, left, skips, js):
    """A Bernoulli(p) walk along positions (the build's Bernoulli rule, the procedural
    projections' segments): from ``pos``, each step moves 1 + the next geometric skip (draws
    ``c0 + n``, ``n`` taken so far, ``left`` still unused in ``skips``; p >= 1: every
    position). Up to len(js) positions >= ``ja`` below ``end`` go to ``js``. Returns (how
    many, pos, n, left) to carry on from; pos is ``end`` when the walk is done."""
    c = 0
    while c < js.shape[0]:
        if p >= 1.0:
            pos += 1.0
        else:
            if left == 0:
                _skips(h, np.uint64(c0 + n), log1mp, skips)
                left = skips.shape[0]
            pos += 1.0 + skips[skips.shape[0] - left]
            left -= 1
            n += 1
        if pos >= end:
            pos = np.float64(end)
            break
        if pos >= ja:
            js[c] = np.int64(pos)
            c += 1
    return c, pos, n, left


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def normal_fast(k, stream, counter, out):  # pragma: no cover - compiled
    """out[i] = rng.normal(k, stream[i], counter[i]) by :func:`_normal` (for the tests)."""
    for i in prange(out.shape[0]):
        out[i] = _normal(_mix(stream[i] * _G1 + k), counter[i])


@njit(cache=True, nogil=True, error_model="numpy")
def unit_funcs(u, log_out, cos_out):  # pragma: no cover - compiled
    """log(1 - u) and cos(2 pi u) by the polynomials of :func:`_normal` (for the tests)."""
    for i in range(u.shape[0]):
        log_out[i] = _log_unit(1.0 - u[i])
        cos_out[i] = _cos_2pi(u[i])


@njit(cache=True, nogil=True, error_model="numpy")
def exp_array(x, out):  # pragma: no cover - compiled
    """``out[i] = _exp(x[i])`` (for the tests; float32 or float64)."""
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])
