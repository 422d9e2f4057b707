"""Counter-based random numbers: every draw is a pure function of its key and counter.

A draw is ``mix64(mix64(key + stream * G1) + counter * G2)`` where ``mix64`` is the
SplitMix64 finaliser (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number
generators", OOPSLA; the constants are those published with SplitMix64). Because a draw
depends only on integers, the same numbers come out on CPU and CUDA, in any order and
however neurons are split across processes. Integer arithmetic wraps modulo 2**64 in
torch's int64, which is what the hash needs.

Keys are built from named integer parts with :func:`key`, e.g. ``key(seed, "conn", proj)``.

Examples
--------
>>> import torch
>>> from zentai import rng
>>> k = rng.key(7, "demo")
>>> u1 = rng.uniform(k, torch.arange(3), torch.zeros(3, dtype=torch.int64))
>>> u2 = rng.uniform(k, torch.arange(3), torch.zeros(3, dtype=torch.int64))
>>> bool(torch.equal(u1, u2)) and bool(((u1 >= 0) & (u1 < 1)).all())
True
"""

from __future__ import annotations

import hashlib
import importlib
import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "bits",
    "bits_from",
    "key",
    "mix64",
    "normal",
    "stream_key",
    "to_uniform",
    "uniform",
    "uniform_int",
]

_M64 = (1 << 64) - 1
_G1 = 0x9E3779B97F4A7C15  # golden-ratio increment of SplitMix64
_G2 = 0xD1B54A32D192ED03
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB


def _s64(x: int) -> int:
    """Python int (mod 2**64) -> signed int64 value."""
    x &= _M64
    return x - (1 << 64) if x >= (1 << 63) else x


def _srl(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 tensor ``x`` by ``k`` bits."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def mix64(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finaliser applied elementwise to an int64 tensor (wrapping arithmetic)."""
    x = (x ^ _srl(x, 30)) * _s64(_C1)
    x = (x ^ _srl(x, 27)) * _s64(_C2)
    return x ^ _srl(x, 31)


def mix64_int(x: int) -> int:
    """Pure-Python SplitMix64 finaliser on an unsigned 64-bit int (the reference for tests)."""
    x &= _M64
    x = ((x ^ (x >> 30)) * _C1) & _M64
    x = ((x ^ (x >> 27)) * _C2) & _M64
    return x ^ (x >> 31)


def key(*parts: int | str) -> int:
    """Combine integers and labels into one 64-bit key (returned as a signed int64 value)."""
    h = 0x6A09E667F3BCC908
    for part in parts:
        if isinstance(part, str):
            part = int.from_bytes(hashlib.blake2b(part.encode(), digest_size=8).digest(), "little")
        elif isinstance(part, bool) or not isinstance(part, int):
            if hasattr(part, "__index__"):  # numpy / torch integers
                part = int(part.__index__())
            else:
                raise TypeError(f"rng.key parts must be integers or strings; got {part!r}.")
        h = mix64_int((h ^ (part & _M64)) + _G1)
    return _s64(h)


def stream_key(k: int | torch.Tensor, stream: torch.Tensor) -> torch.Tensor:
    """The per-stream state ``mix64(stream * G1 + k)``; precompute it for repeated draws."""
    stream = torch.as_tensor(stream, dtype=torch.int64)
    return mix64(stream * _s64(_G1) + k)


def bits_from(h: torch.Tensor, counter: torch.Tensor | int) -> torch.Tensor:
    """64 random bits for counter ``counter`` of streams whose :func:`stream_key` is ``h``."""
    return mix64(h + torch.as_tensor(counter, dtype=torch.int64, device=h.device) * _s64(_G2))


_COMPILED: dict[str, Any] = {}


def compiled_module(name: str) -> Any:
    """``zentai.<name>``, a module of numba loops, or None where numba is missing (the tensor
    code then runs); imported on first use."""
    if name not in _COMPILED:
        try:
            _COMPILED[name] = importlib.import_module(f"zentai.{name}")
        except ImportError:  # pragma: no cover - without numba
            _COMPILED[name] = None
    return _COMPILED[name]


def _compiled() -> Any:
    """The numba module for CPU draws, or None."""
    return compiled_module("_rng_cpu")


#: smallest draw for which the compiled CPU path is used (below it, dispatch dominates)
_COMPILED_MIN = 4096


def _flat_u64(stream: torch.Tensor, counter: torch.Tensor) -> tuple:
    s, c = torch.broadcast_tensors(stream, counter)
    shape = s.shape
    s = s.contiguous().reshape(-1).numpy().view(np.uint64)
    c = c.contiguous().reshape(-1).numpy().view(np.uint64)
    return s, c, shape


def _use_compiled(k: Any, *ts: torch.Tensor) -> bool:
    return (
        isinstance(k, int)
        and all(t.device.type == "cpu" for t in ts)
        and max(t.numel() for t in ts) >= _COMPILED_MIN
        and _compiled() is not None
    )


def bits(k: int | torch.Tensor, stream: torch.Tensor, counter: torch.Tensor | int) -> torch.Tensor:
    """64 random bits (int64) for each (stream, counter) pair under key ``k``."""
    stream = torch.as_tensor(stream, dtype=torch.int64)
    counter = torch.as_tensor(counter, dtype=torch.int64, device=stream.device)
    if _use_compiled(k, stream, counter):
        s, c, shape = _flat_u64(stream, counter)
        out = np.empty(s.shape[0], np.uint64)
        _compiled().bits(np.uint64(k & _M64), s, c, out)
        return torch.from_numpy(out.view(np.int64)).reshape(shape)
    return bits_from(stream_key(k, stream), counter)


def to_uniform(b: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Map 64 random bits to [0, 1): top 53 bits (float64) or 24 bits (float32)."""
    if dtype == torch.float64:
        return _srl(b, 11).to(torch.float64) * (1.0 / (1 << 53))
    if dtype == torch.float32:
        return _srl(b, 40).to(torch.float32) * (1.0 / (1 << 24))
    raise TypeError(f"rng.uniform dtype must be torch.float64 or torch.float32; got {dtype}.")


def uniform(
    k: int | torch.Tensor,
    stream: torch.Tensor,
    counter: torch.Tensor | int,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Uniform numbers in [0, 1) from the top 53 bits (float64) or 24 bits (float32)."""
    return to_uniform(bits(k, stream, counter), dtype)


def uniform_int(
    k: int | torch.Tensor, stream: torch.Tensor, counter: torch.Tensor | int, n: int | torch.Tensor
) -> torch.Tensor:
    """Integers uniform in ``[0, n)`` (n < 2**31), by the multiply-shift map of 32 random bits.

    The bias of this map is below n / 2**32, i.e. < 5e-5 for n < 2e5 targets.
    """
    if isinstance(n, int) and not 0 < n < 2**31:
        raise ValueError(f"rng.uniform_int needs 0 < n < 2**31; got {n}.")
    b = _srl(bits(k, stream, counter), 32)  # 32 random bits, non-negative
    return (b * torch.as_tensor(n, dtype=torch.int64, device=b.device)) >> 32


def normal(
    k: int | torch.Tensor, stream: torch.Tensor, counter: torch.Tensor | int
) -> torch.Tensor:
    """Standard normal numbers (float64) by the Box–Muller transform of two uniforms.

    Counters ``2c`` and ``2c + 1`` are used for draw ``c``.
    """
    stream = torch.as_tensor(stream, dtype=torch.int64)
    counter = torch.as_tensor(counter, dtype=torch.int64, device=stream.device)
    if _use_compiled(k, stream, counter):
        s, c, shape = _flat_u64(stream, counter)
        u1n, u2n = np.empty(s.shape[0]), np.empty(s.shape[0])
        _compiled().uniform_pair(np.uint64(k & _M64), s, c, u1n, u2n)
        u1 = torch.from_numpy(u1n).reshape(shape)
        u2 = torch.from_numpy(u2n).reshape(shape)
    else:
        u1 = uniform(k, stream, 2 * counter)
        u2 = uniform(k, stream, 2 * counter + 1)
    r = torch.sqrt(-2.0 * torch.log1p(-u1))  # 1 - u1 in (0, 1]
    return r * torch.cos(2.0 * math.pi * u2)
