"""Procedural connectivity: synapses regenerated at every spike instead of stored.

A projection built with ``Projection(..., procedural=True)`` (rule :class:`Bernoulli`) keeps no
per-synapse memory. When presynaptic neuron ``i`` fires, its outgoing synapses are drawn again
from counter-based random numbers that depend only on (projection key, i, position), so every
spike of ``i`` reaches the same targets with the same weights and delays — the network is
fixed, it is just not stored (the idea of GeNN's procedural connectivity, Knight & Nowotny 2021,
Nat. Comput. Sci. 1:136). Memory then grows with neurons, not synapses: what lets 10⁷ neurons
and 10¹⁰ synapses fit one GPU.

The draw, defined here once and followed exactly by the torch reference path (:func:`row`),
the compiled CPU loop (``zentai.sim.cpu_kernels``) and the Triton kernel
(``zentai.sim.gpu_kernels.deliver_procedural``):

* the postsynaptic population is cut into segments of :func:`segment_length` (p) neurons
  (256, or longer for sparse projections so that a segment holds ~32 targets); in segment ``s``
  the targets are found by geometric skipping (each pair independently with probability ``p``):
  starting before the segment, draw ``n = 0, 1, ...`` moves the position by
  ``1 + floor(log(1 - u_n) / log(1 - p))`` until it leaves the segment, with ``u_n`` the uniform
  of counter ``s * 2**20 + n`` of the stream ``(key_conn, i)``;
* the weight of the synapse onto local post ``j`` is Normal(mu, sigma) by Box–Muller from the
  uniforms of counters ``2 (j R + r)`` and ``+ 1`` of the stream ``(key_weight, i)``, for rounds
  ``r = 0 .. R - 1`` until the value falls inside [low, high] (NEST's redraw; after R rounds it
  is clipped); the delay likewise with ``key_delay``, then ``max(1, rint(d / dt))`` steps.

Uniforms are the top 53 bits of SplitMix64 (:mod:`zentai.rng`). The realised connectivity is a
Bernoulli graph like the stored rule's, but not the same draw as a stored build of the same spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from zentai import rng
from zentai.connectome.rules import Constant, Normal
from zentai.errors import SpecError

__all__ = ["REDRAW_ROUNDS", "ProceduralProjection", "row", "segment_length"]

#: shortest segment of the geometric skipping (postsynaptic neurons)
SEG = 256
#: Normal redraw rounds before a value is clipped to [low, high]
REDRAW_ROUNDS = 16


def segment_length(p: float) -> int:
    """Posts per segment: a power of two >= 256 holding about 32 expected targets, at most
    2**19 (so a segment's draw counter, below 2**20, never runs into the next segment's)."""
    if p <= 0:
        return SEG
    return int(min(1 << 19, max(SEG, 1 << math.ceil(math.log2(32.0 / p)))))


@dataclass(frozen=True)
class ProceduralProjection:
    """A built procedural projection: where it connects and what it draws (module docstring).

    ``w`` and ``d`` are (mu, sigma, low, high) of the weight (receptor unit) and delay (ms),
    sigma 0 for a constant; ``slot_base`` is the input slot of local post 0 for the receptor.
    """

    name: str
    pre_start: int
    pre_stop: int
    n_post: int
    slot_base: int
    p: float
    w: tuple[float, float, float, float]
    d: tuple[float, float, float, float]
    key_conn: int
    key_weight: int
    key_delay: int
    seg: int = SEG

    @property
    def expected_synapses(self) -> float:
        return self.p * (self.pre_stop - self.pre_start) * self.n_post

    def max_delay_steps(self, dt: float) -> int:
        mu, sigma, _, high = self.d
        top = mu if sigma == 0 else high
        return max(1, round(top / dt))


def params_of(dist, owner: str, unit: str) -> tuple[float, float, float, float]:
    """(mu, sigma, low, high) of a Constant or Normal distribution in ``unit``."""
    d = dist.in_unit(unit, owner)
    if isinstance(d, Constant):
        v = float(d.value)
        return (v, 0.0, -math.inf, math.inf)
    if isinstance(d, Normal):
        lo = -math.inf if d.low is None else float(d.low)
        hi = math.inf if d.high is None else float(d.high)
        mu, sigma = float(d.mu), float(d.sigma)
        if not (math.isfinite(mu) and math.isfinite(sigma) and sigma >= 0 and lo < hi):
            raise SpecError(
                f"{owner}: Normal(mu={mu}, sigma={sigma}, low={lo}, high={hi}) is invalid."
            )
        return (mu, sigma, lo, hi)
    raise SpecError(
        f"{owner}: a procedural projection draws Constant or Normal values; got {dist}."
    )


def _uniform(h: torch.Tensor, counter: torch.Tensor) -> torch.Tensor:
    return rng.to_uniform(rng.bits_from(h, counter))


def _normal_redraw(
    key: int, i: torch.Tensor, j: torch.Tensor, prm: tuple[float, float, float, float]
) -> torch.Tensor:
    """The Normal (or constant) value of synapse (i, j) by the redraw rule (module docstring)."""
    mu, sigma, lo, hi = prm
    if sigma == 0:
        return torch.full(i.shape, mu, dtype=torch.float64)
    h = rng.stream_key(key, i)
    out = torch.full(i.shape, math.nan, dtype=torch.float64)
    todo = torch.ones(i.shape, dtype=torch.bool)
    for r in range(REDRAW_ROUNDS):
        c = 2 * (j * REDRAW_ROUNDS + r)
        u1, u2 = _uniform(h, c), _uniform(h, c + 1)
        z = torch.sqrt(-2.0 * torch.log(1.0 - u1)) * torch.cos(2.0 * math.pi * u2)
        v = mu + sigma * z
        ok = todo & (v >= lo) & (v <= hi)
        out = torch.where(ok, v, out)
        todo &= ~ok
        if not bool(todo.any()):
            break
    return torch.where(todo, torch.clamp(v, lo, hi), out)  # (v: the last round's value)


def row(
    proj: ProceduralProjection, pre: torch.Tensor, dt: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synapses of the presynaptic neurons ``pre`` (global ids, CPU int64): (index into
    ``pre``, local post, weight float64, delay steps int64), by the module docstring's draw."""
    pre = torch.as_tensor(pre, dtype=torch.int64)
    seg_len = proj.seg
    n_seg = -(-proj.n_post // seg_len)
    # one lane per (spike, segment)
    lane_pre = torch.arange(pre.numel()).repeat_interleave(n_seg)
    seg = torch.arange(n_seg).repeat(pre.numel())
    i = pre[lane_pre]
    h = rng.stream_key(proj.key_conn, i)
    end = torch.clamp((seg + 1) * seg_len, max=proj.n_post)
    pos = seg * seg_len - 1
    hits_k, hits_j = [], []
    if proj.p >= 1.0:  # every pair
        j = torch.arange(proj.n_post)
        k = torch.arange(pre.numel()).repeat_interleave(proj.n_post)
        hits_k, hits_j = [k], [j.repeat(pre.numel())]
    elif proj.p > 0.0:
        log1mp = math.log1p(-proj.p)
        n = 0
        active = torch.ones(i.shape, dtype=torch.bool)
        while bool(active.any()):
            u = _uniform(h, seg * (1 << 20) + n)
            skip = torch.floor(torch.log(1.0 - u) / log1mp).to(torch.int64)
            pos = torch.where(active, pos + 1 + skip, pos)
            active &= pos < end
            hits_k.append(lane_pre[active])
            hits_j.append(pos[active])
            n += 1
    if not hits_k:
        z = torch.zeros(0, dtype=torch.int64)
        return z, z, z.double(), z
    k = torch.cat(hits_k)
    j = torch.cat(hits_j)
    order = torch.argsort(k * proj.n_post + j)  # by spike, then target
    k, j = k[order], j[order]
    i = pre[k]
    w = _normal_redraw(proj.key_weight, i, j, proj.w)
    d = _normal_redraw(proj.key_delay, i, j, proj.d)
    steps = torch.clamp(torch.round(d / dt), min=1).to(torch.int64)
    return k, j, w, steps
