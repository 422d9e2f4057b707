"""Connectivity generation: turn a connection rule into (pre, post) index tensors.

Every random number is a pure function of ``(key, postsynaptic neuron, draw index)`` through
the counter-based generator :mod:`zentai.rng`. Hence

* generating only the posts in ``post_range=(a, b)`` gives exactly the rows of the full result
  whose post lies in ``[a, b)`` (the basis for splitting neurons across processes), and
* CPU and CUDA give the same synapses (integer hashing is exact on both).

``key`` encodes (seed, projection); this module derives one sub-key per purpose with
:func:`zentai.rng.key`, e.g. ``rng.key(key, "pre")``. Synapse values (weights, delays) are drawn
by :func:`draw`, keyed by (key, post neuron, slot) where :func:`slots` numbers the synapses of
each post neuron 0, 1, 2, ... in draw order, so that they too do not depend on chunking.

Memory: work is done in chunks of posts (or of synapses) so that temporary tensors stay below
about 256 MB whatever ``n_pre * n_post`` is; only the returned index tensors grow with the number
of synapses (16 bytes each).

Examples
--------
>>> from zentai import rng
>>> from zentai.connectome.rules import FixedIndegree, Normal
>>> key = rng.key(7, "projection", "E->I")
>>> pre, post = connect(FixedIndegree(3), n_pre=10, n_post=4, key=key)
>>> post.tolist()
[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
>>> part_pre, part_post = connect(FixedIndegree(3), 10, 4, key, post_range=(2, 4))
>>> bool(torch.equal(part_pre, pre[6:])) and bool(torch.equal(part_post, post[6:]))
True
>>> w = draw(Normal(100.0, 10.0, low=0.0), rng.key(key, "weight"), post, slots(post))
>>> w.shape
torch.Size([12])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from zentai import rng
from zentai import units as u
from zentai.connectome.rules import (
    Bernoulli,
    Constant,
    DistanceGaussian,
    Distribution,
    Explicit,
    FixedIndegree,
    FixedTotalNumber,
    GroupBernoulli,
    Normal,
    OneToOne,
    Rule,
    Uniform,
)
from zentai.errors import DeviceError, SpecError, ZentaiInternalError

__all__ = [
    "MAX_REDRAW_ROUNDS",
    "TEMP_BYTES",
    "PerPostDraws",
    "connect",
    "count_rows",
    "draw",
    "draw_into_rows",
    "per_post_draws",
    "slots",
]

#: upper bound on the bytes of temporary tensors held at once while wiring one chunk
TEMP_BYTES = 256 * 2**20
#: rounds of redrawing out-of-bounds values of a bounded :class:`Normal` before giving up
MAX_REDRAW_ROUNDS = 1000

# Bytes of temporaries per element of a chunk: the hash in rng.bits keeps about four int64
# tensors alive, plus the chunk's own index/result tensors.
_BYTES_PER_ELEM = 64
# On CPU, chunks that stay in cache are much faster than large ones (measured on 2 cores:
# 3e7 uniform_int draws took 0.15 s in chunks of 2**18 and 3.1 s in one piece).
_CPU_CHUNK = 1 << 18
_MAX_DISTINCT_ROUNDS = 10_000
_M64 = (1 << 64) - 1


# ----------------------------------------------------------------------------- helpers
def _chunk_elems(device: torch.device) -> int:
    budget = TEMP_BYTES // _BYTES_PER_ELEM
    return min(budget, _CPU_CHUNK) if device.type == "cpu" else budget


def _as_device(device: Any) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise SpecError(
            f"connect.device must be a torch device such as 'cpu' or 'cuda'; got {device!r}."
        ) from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"device={str(device)!r} requested, but CUDA is not available in this torch "
            "build or on this machine. Use device='cpu'."
        )
    return dev


def _check_size(owner: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise SpecError(f"{owner} must be a non-negative integer; got {n!r}.")
    if n >= 2**31:
        raise SpecError(f"{owner} must be below 2**31 (the range of rng.uniform_int); got {n!r}.")
    return int(n)


def _empty(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    e = torch.empty(0, dtype=torch.int64, device=device)
    return e, e.clone()


def _compiled() -> Any:
    """The numba wiring loops, or None without numba."""
    return rng.compiled_module("build._wiring_cpu")


def _skip_self(r: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
    """Map draws ``r`` in [0, n - 1) onto [0, n) without ``post`` (a bijection)."""
    return r + (r >= post).to(torch.int64)


# ----------------------------------------------------------------------------- connect
def connect(
    rule: Rule,
    n_pre: int,
    n_post: int,
    key: int,
    *,
    pre_positions: Any = None,
    post_positions: Any = None,
    post_range: tuple[int, int] | None = None,
    self_connection: bool = False,
    device: str | torch.device = "cpu",
    post_normals: Any = None,
    index_dtype: torch.dtype = torch.int64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate the synapses of one projection.

    Parameters
    ----------
    rule : Rule
        A rule from :mod:`zentai.connectome.rules`.
    n_pre, n_post : int
        Sizes of the presynaptic and postsynaptic populations.
    key : int
        Key of the projection (e.g. ``rng.key(seed, "projection", name)``); sub-keys are
        derived from it for each purpose.
    pre_positions, post_positions : array or Tensor, (n_pre, D) and (n_post, D), µm, optional
        Soma positions; needed by :class:`DistanceGaussian` only.
    post_range : (int, int), optional
        Generate only the synapses onto posts ``a <= j < b``; the result is exactly the part of
        the full result with those posts. Default: all posts.
    self_connection : bool
        Pre and post are the same population, so pre ``i`` and post ``i`` are the same neuron;
        then ``allow_autapses=False`` excludes ``i == j``.
    device : str or torch.device
        Where the tensors are generated; the result is the same on every device.
    index_dtype : torch.int64 or torch.int32
        dtype of the result; int32 halves the memory of large projections (the fixed in-degree
        and total number rules then write int32 directly).

    Returns
    -------
    pre_idx, post_idx : Tensor, (n_synapses,), ``index_dtype``
        Indices local to each population (``post_idx`` is not shifted by ``post_range``),
        sorted by post, and within a post in draw order:

        * ``FixedIndegree``, ``FixedTotalNumber``: the order of the draws (slot 0, 1, ...);
        * ``Bernoulli``, ``DistanceGaussian``, ``OneToOne``: ascending pre;
        * ``Explicit``: the given order (stable sort by post).

    Notes
    -----
    Per rule (``n_eff = n_pre - 1`` when ``self_connection`` and autapses are excluded, else
    ``n_pre``):

    * ``FixedIndegree(k)`` with multapses: draw ``c = 0..k-1`` of post ``j`` is
      ``uniform_int(rng.key(key, "pre"), j, c, n_eff)``. Without autapses the draw ``r`` in
      ``[0, n_eff)`` is mapped to ``r + (r >= j)``, which skips ``j`` exactly.
    * ``FixedIndegree(k)`` without multapses (``k <= n_eff``): for ``2 k <= n_eff``, draws as
      above, then rounds of redrawing: in each round, among slots holding the same value all
      but the lowest slot redraw (round ``r`` uses counter ``c + r k``). Decisions depend only
      on equality of draws, so the result is a uniformly random ordered k-subset. For
      ``2 k > n_eff`` (where redrawing would need many rounds): each candidate gets a random
      key ``uniform(rng.key(key, "order"), j, i)`` and the ``k`` smallest keys win, in order
      of their keys. Cost O(n_eff) per post, and one post's n_eff keys are held at once.
    * ``FixedTotalNumber(n)``: in-degrees are multinomial(n, 1/n_post) as in NEST's
      ``fixed_total_number``; the whole vector is drawn by ``numpy.random.Generator(Philox)``
      keyed by ``rng.key(key, "indegree")`` (O(n_post), independent of ``post_range``); then
      pres are drawn per (post, slot) as for ``FixedIndegree`` with multapses. (Its exact
      numbers depend on numpy's multinomial, which numpy may change between versions.)
    * ``Bernoulli(p)``, 0 < p < 1: each pair independently with probability ``p`` (NEST's
      ``pairwise_bernoulli``), by geometric skipping along each post's pres: with
      ``u_n = uniform(rng.key(key, "skip"), j, n)``, n = 0, 1, ..., the next pre of post j is
      the last one (first: -1) + 1 + ``floor(log(1 - u_n) / log(1 - p))``, until past
      ``n_pre``; a pre equal to j is dropped when autapses are excluded. Time O(synapses), not
      O(pairs) (the same walk as the procedural projections', :mod:`zentai.build.procedural`,
      there per pre). ``p = 1`` connects every pair.
    * ``DistanceGaussian``: pair (i, j) is connected when
      ``uniform(rng.key(key, "pair"), j, i) < p_ij``. This visits all ``n_pre * n_post`` pairs
      (in chunks of posts, so memory stays bounded); time is O(n_pre n_post). It uses
      ``p_ij = p_max exp(-d² / (2 sigma²))`` for ``d <= cutoff_sigma * sigma`` and 0 beyond,
      with ``d`` the Euclidean distance over ``dims``. (CPU and CUDA ``exp`` may differ in the
      last bit, so a pair whose uniform falls within one rounding step of ``p_ij``,
      probability ~1e-16 per pair, could differ between devices; likewise ``log`` for a
      Bernoulli skip that falls within a rounding step of a whole number.)
    * ``GroupBernoulli``: as ``DistanceGaussian`` with ``p_ij`` from the group table (and the
      normalised topographic kernel when given), visiting the pairs of groups with p > 0.
    * ``OneToOne``: ``i -> i``; needs ``n_pre == n_post``.
    * ``Explicit``: the given pairs, validated against the population sizes.

    Examples
    --------
    >>> from zentai import rng
    >>> from zentai.connectome.rules import Bernoulli
    >>> pre, post = connect(Bernoulli(0.5), 4, 3, rng.key(1, "demo"))
    >>> bool((post[1:] >= post[:-1]).all())
    True
    """
    dev = _as_device(device)
    n_pre, n_post, key, a, b, exclude_self = _connect_args(
        rule, n_pre, n_post, key, post_range, self_connection
    )
    if index_dtype not in (torch.int64, torch.int32):
        raise SpecError(
            f"connect.index_dtype must be torch.int64 or torch.int32; got {index_dtype}."
        )
    pre, post = _connect_rule(
        rule,
        n_pre,
        n_post,
        key,
        a,
        b,
        exclude_self,
        dev,
        index_dtype,
        pre_positions,
        post_positions,
        post_normals,
    )
    return pre.to(index_dtype), post.to(index_dtype)


def _connect_args(
    rule: Rule,
    n_pre: int,
    n_post: int,
    key: int,
    post_range: tuple[int, int] | None,
    self_connection: bool,
) -> tuple[int, int, int, int, int, bool]:
    """connect()'s arguments checked: (n_pre, n_post, key, a, b, exclude_self)."""
    if not isinstance(rule, Rule):
        raise SpecError(
            f"connect.rule must be a connection rule from zentai.connectome.rules "
            f"(e.g. FixedIndegree(100)); got {rule!r}."
        )
    n_pre = _check_size("connect.n_pre", n_pre)
    n_post = _check_size("connect.n_post", n_post)
    key = int(key)
    if post_range is None:
        a, b = 0, n_post
    else:
        try:
            a, b = (int(x) for x in post_range)
        except (TypeError, ValueError) as e:
            raise SpecError(
                f"connect.post_range must be a pair (a, b) with 0 <= a <= b <= n_post="
                f"{n_post}; got {post_range!r}."
            ) from e
        if not 0 <= a <= b <= n_post:
            raise SpecError(
                f"connect.post_range must be a pair (a, b) with 0 <= a <= b <= n_post="
                f"{n_post}; got {post_range!r}."
            )
    if self_connection and n_pre != n_post:
        raise SpecError(
            f"connect.self_connection=True needs n_pre == n_post (one population); got "
            f"n_pre={n_pre}, n_post={n_post}."
        )
    exclude_self = bool(self_connection) and not getattr(rule, "allow_autapses", True)
    return n_pre, n_post, key, a, b, exclude_self


def _connect_rule(
    rule: Rule,
    n_pre: int,
    n_post: int,
    key: int,
    a: int,
    b: int,
    exclude_self: bool,
    dev: torch.device,
    dtype: torch.dtype,
    pre_positions: Any,
    post_positions: Any,
    post_normals: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """connect() after its checks: the rule's synapses of posts [a, b) (int64, or ``dtype``
    where the rule can write it directly)."""
    plan = _per_post(rule, n_pre, n_post, key, a, b, exclude_self)
    if plan is not None:
        return _draw_per_post(plan, dev, dtype)
    if isinstance(rule, FixedIndegree):  # without multapses
        return _distinct(rule, n_pre, key, a, b, exclude_self, dev)
    if isinstance(rule, Bernoulli):
        if rule.p == 0.0:
            return _empty(dev)
        if rule.p < 1.0:
            return _bernoulli(rule.p, n_pre, key, a, b, exclude_self, dev)
        every = n_pre * (b - a)  # (the buffer's size)
        return _pairwise(_BernoulliProb(rule.p), n_pre, key, a, b, exclude_self, dev, every)
    if isinstance(rule, DistanceGaussian):
        prob = _GaussianProb(rule, n_pre, n_post, pre_positions, post_positions, dev, post_normals)
        if rule.mean_indegree is not None:
            prob.calibrate(float(rule.mean_indegree), n_pre, n_post, key, exclude_self)
        if prob.p_max == 0.0:
            return _empty(dev)
        return _pairwise(prob, n_pre, key, a, b, exclude_self, dev)
    if isinstance(rule, GroupBernoulli):
        prob = _GroupProb(rule, n_pre, n_post, dev)
        if not prob.any:
            return _empty(dev)
        return _pairwise_by_group(prob, n_pre, key, a, b, exclude_self, dev)
    if isinstance(rule, OneToOne):
        if n_pre != n_post:
            raise SpecError(
                f"OneToOne needs populations of equal size; got n_pre={n_pre}, "
                f"n_post={n_post}. Use another rule or match the sizes."
            )
        idx = torch.arange(a, b, dtype=torch.int64, device=dev)
        return idx, idx.clone()
    if isinstance(rule, Explicit):
        return _explicit(rule, n_pre, n_post, a, b, dev)
    raise SpecError(
        f"connect.rule must be one of FixedIndegree, FixedTotalNumber, Bernoulli, OneToOne, "
        f"DistanceGaussian, Explicit, GroupBernoulli; got {type(rule).__name__}."
    )


# ------------------------------------------------------------ draws per (post, slot)
@dataclass(frozen=True)
class PerPostDraws:
    """Partners drawn per (post, slot), as the fixed in-degree (with multapses) and fixed
    total number rules draw them: slot s of post j (j = a, a + 1, ...; ``degrees[j - a]``
    slots) has pre ``uniform_int(kpre, j, s, n_eff)``, moved up by one at or above j when
    autapses are excluded. A pure function of these numbers: the CPU build counts the rows
    from it and draws the partners again while placing them, holding no partner arrays."""

    kpre: int
    a: int
    degrees: torch.Tensor  # int64, one per post
    n_pre: int
    exclude_self: bool

    @property
    def n(self) -> int:
        """Number of synapses."""
        return int(self.degrees.sum())

    @property
    def n_eff(self) -> int:
        """Number of candidate partners of a post."""
        return self.n_pre - 1 if self.exclude_self else self.n_pre


def per_post_draws(
    rule: Rule,
    n_pre: int,
    n_post: int,
    key: int,
    *,
    post_range: tuple[int, int] | None = None,
    self_connection: bool = False,
) -> PerPostDraws | None:
    """The :class:`PerPostDraws` of what :func:`connect` would return for these arguments
    (checked as there), or None when the rule does not draw its partners per (post, slot)."""
    n_pre, n_post, key, a, b, exclude_self = _connect_args(
        rule, n_pre, n_post, key, post_range, self_connection
    )
    return _per_post(rule, n_pre, n_post, key, a, b, exclude_self)


def _per_post(
    rule: Rule, n_pre: int, n_post: int, key: int, a: int, b: int, exclude_self: bool
) -> PerPostDraws | None:
    if isinstance(rule, FixedIndegree):
        k = _indegree(rule, n_pre, exclude_self)
        if k and a < b and not rule.allow_multapses:
            return None  # distinct partners: redraw rounds or random keys (_distinct)
        degrees = torch.full((b - a,), k, dtype=torch.int64)
    elif isinstance(rule, FixedTotalNumber):
        degrees = _total_number_degrees(rule, n_pre, n_post, key, exclude_self)[a:b]
    else:
        return None
    return PerPostDraws(rng.key(key, "pre"), a, degrees, n_pre, exclude_self)


def _draw_per_post(
    plan: PerPostDraws, dev: torch.device, dtype: torch.dtype = torch.int64
) -> tuple[torch.Tensor, torch.Tensor]:
    """The partners of ``plan`` as (pre, post) tensors (the compiled loop writes ``dtype``,
    the tensor code int64)."""
    kpre, a, n_eff, exclude_self = plan.kpre, plan.a, plan.n_eff, plan.exclude_self
    degrees = plan.degrees.to(dev)
    nb = _compiled()
    if nb is not None and dev.type == "cpu" and degrees.numel():
        first = torch.cumsum(degrees, 0) - degrees
        total = int(degrees.sum())
        pre_out = torch.empty(total, dtype=dtype)
        post_out = torch.empty(total, dtype=dtype)
        nb.draw_per_post(
            np.uint64(kpre & (2**64 - 1)),
            a,
            degrees.numpy(),
            first.numpy(),
            n_eff,
            exclude_self,
            pre_out.numpy(),
            post_out.numpy(),
        )
        return pre_out, post_out
    posts = torch.arange(a, a + degrees.numel(), dtype=torch.int64, device=dev)
    post_out = torch.repeat_interleave(posts, degrees)
    total = post_out.numel()
    pre_out = torch.empty(total, dtype=torch.int64, device=dev)
    starts = torch.cumsum(degrees, 0) - degrees  # first synapse of each post
    step = _chunk_elems(dev)
    for s0 in range(0, total, step):
        s1 = min(s0 + step, total)
        p = post_out[s0:s1]
        slot = torch.arange(s0, s1, dtype=torch.int64, device=dev) - starts[p - a]
        r = rng.uniform_int(kpre, p, slot, n_eff)
        pre_out[s0:s1] = _skip_self(r, p) if exclude_self else r
    return pre_out, post_out


def _indegree(rule: FixedIndegree, n_pre: int, exclude_self: bool) -> int:
    """FixedIndegree.k, checked against the candidates."""
    k = int(rule.k)
    n_eff = n_pre - 1 if exclude_self else n_pre
    what = f"n_pre - 1 = {n_eff}, autapses excluded" if exclude_self else f"n_pre = {n_eff}"
    if k > 0 and n_eff == 0:
        raise SpecError(
            f"FixedIndegree.k must be 0 when there are no candidate presynaptic neurons "
            f"({what}); got {k}."
        )
    if k > n_eff and not rule.allow_multapses:
        raise SpecError(
            f"FixedIndegree.k must be at most the number of candidate presynaptic neurons "
            f"({what}) without multapses; got {k}. Allow multapses or lower k."
        )
    return k


def _distinct(
    rule: FixedIndegree, n_pre: int, key: int, a: int, b: int, exclude_self: bool, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """FixedIndegree without multapses: k distinct partners per post."""
    k = int(rule.k)
    n_eff = n_pre - 1 if exclude_self else n_pre
    if 2 * k <= n_eff:
        return _distinct_by_redraw(rng.key(key, "pre"), k, n_eff, a, b, exclude_self, dev)
    return _distinct_by_keys(rng.key(key, "order"), k, n_eff, a, b, exclude_self, dev)


def _distinct_by_redraw(
    kpre: int, k: int, n_eff: int, a: int, b: int, exclude_self: bool, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """k distinct draws per post: draw, then redraw all but the lowest slot of equal values."""
    rows_per_chunk = max(1, _chunk_elems(dev) // k)
    slot = torch.arange(k, dtype=torch.int64, device=dev)
    pre_out = torch.empty((b - a, k), dtype=torch.int64, device=dev)
    for r0 in range(a, b, rows_per_chunk):
        r1 = min(r0 + rows_per_chunk, b)
        posts = torch.arange(r0, r1, dtype=torch.int64, device=dev)
        vals = rng.uniform_int(kpre, posts[:, None], slot[None, :], n_eff)  # (rows, k)
        active = torch.arange(r1 - r0, device=dev)  # rows that may still hold duplicates
        for rnd in range(1, _MAX_DISTINCT_ROUNDS + 1):
            # One flat sort of (row, value) keys; stable, so equal values keep slot order.
            # (Measured: 3-4x faster than a row-wise sort of the (rows, k) matrix.)
            flat = vals[active] + (torch.arange(active.numel(), device=dev) * n_eff)[:, None]
            sv, si = torch.sort(flat.reshape(-1), stable=True)
            (dup,) = (sv[1:] == sv[:-1]).nonzero(as_tuple=True)
            if dup.numel() == 0:
                break
            lose = si[dup + 1]  # the later slot of each equal pair
            lose_row = active[lose // k]
            lose_slot = lose % k
            vals[lose_row, lose_slot] = rng.uniform_int(
                kpre, posts[lose_row], lose_slot + rnd * k, n_eff
            )
            active = torch.unique(lose_row)
        else:  # pragma: no cover - needs ~1e4 rounds, far beyond 2k <= n_eff expectations
            raise ZentaiInternalError(
                f"FixedIndegree without multapses did not settle after {_MAX_DISTINCT_ROUNDS} "
                "redraw rounds. Please report."
            )
        if exclude_self:
            vals = _skip_self(vals, posts[:, None])
        pre_out[r0 - a : r1 - a] = vals
    post_out = torch.arange(a, b, dtype=torch.int64, device=dev).repeat_interleave(k)
    return pre_out.reshape(-1), post_out


def _distinct_by_keys(
    kord: int, k: int, n_eff: int, a: int, b: int, exclude_self: bool, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """k distinct draws per post: the k candidates with the smallest random keys."""
    rows_per_chunk = max(1, _chunk_elems(dev) // n_eff)
    cand = torch.arange(n_eff, dtype=torch.int64, device=dev)
    pre_out = torch.empty((b - a, k), dtype=torch.int64, device=dev)
    for r0 in range(a, b, rows_per_chunk):
        r1 = min(r0 + rows_per_chunk, b)
        posts = torch.arange(r0, r1, dtype=torch.int64, device=dev)
        keys = rng.uniform(kord, posts[:, None], cand[None, :])  # (rows, n_eff)
        vals = torch.topk(keys, k, dim=1, largest=False, sorted=True).indices
        if exclude_self:
            vals = _skip_self(vals, posts[:, None])
        pre_out[r0 - a : r1 - a] = vals
    post_out = torch.arange(a, b, dtype=torch.int64, device=dev).repeat_interleave(k)
    return pre_out.reshape(-1), post_out


def _total_number_degrees(
    rule: FixedTotalNumber, n_pre: int, n_post: int, key: int, exclude_self: bool
) -> torch.Tensor:
    """In-degrees of all posts of FixedTotalNumber (checked), int64."""
    n = int(rule.n)
    n_eff = n_pre - 1 if exclude_self else n_pre
    if n == 0:
        return torch.zeros(n_post, dtype=torch.int64)
    if n_post == 0 or n_eff == 0:
        what = (
            "n_pre - 1 = 0 candidates (autapses excluded)"
            if exclude_self and n_post
            else (f"n_pre={n_pre}, n_post={n_post}")
        )
        raise SpecError(
            f"FixedTotalNumber.n must be 0 when there are no pre/post pairs to connect "
            f"({what}); got {n}."
        )
    return torch.from_numpy(_multinomial_indegrees(rng.key(key, "indegree"), n, n_post))


def _multinomial_indegrees(k: int, n: int, n_post: int) -> np.ndarray:
    """In-degree of every post: multinomial(n, uniform over n_post), from a Philox stream."""
    gen = np.random.Generator(np.random.Philox(key=k & _M64))
    return gen.multinomial(n, np.full(n_post, 1.0 / n_post)).astype(np.int64)


# ------------------------------------------------------------------------ Bernoulli
def _bernoulli(
    p: float, n_pre: int, key: int, a: int, b: int, exclude_self: bool, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bernoulli(p), 0 < p < 1, for posts [a, b) by geometric skipping (see :func:`connect`):
    O(synapses) instead of O(pairs). Counted in a first walk, written in a second."""
    kskip = rng.key(key, "skip")
    log1mp = math.log1p(-p)
    comp = _compiled() if dev.type == "cpu" else None
    if comp is not None:
        n = b - a
        T = _threads(round(p * n_pre * n))  # (expected synapses)
        counts = np.zeros(n, np.int64)
        none = np.zeros(0, np.int64)
        k = np.uint64(kskip & _M64)
        comp.bernoulli_pres(k, a, n_pre, p, log1mp, exclude_self, counts, none, none, none, T)
        starts = np.cumsum(counts) - counts
        pre = np.empty(int(counts.sum()), np.int64)
        post = np.empty_like(pre)
        comp.bernoulli_pres(k, a, n_pre, p, log1mp, exclude_self, counts, starts, pre, post, T)
        return torch.from_numpy(pre), torch.from_numpy(post)
    pres, posts = [], []
    step = max(1, _chunk_elems(dev) // 8)  # posts walked at once (~64 B of state each)
    for c0 in range(a, b, step):
        po = torch.arange(c0, min(b, c0 + step), dtype=torch.int64, device=dev)
        h = rng.stream_key(kskip, po)
        counts = _bernoulli_walk(h, po, n_pre, log1mp, exclude_self)
        starts = torch.cumsum(counts, 0) - counts
        total = int(counts.sum())
        pre = torch.empty(total, dtype=torch.int64, device=dev)
        _bernoulli_walk(h, po, n_pre, log1mp, exclude_self, pre, starts)
        pres.append(pre)
        posts.append(torch.repeat_interleave(po, counts, output_size=total))
    if not pres:
        return _empty(dev)
    return torch.cat(pres), torch.cat(posts)


def _bernoulli_walk(
    h: torch.Tensor,
    posts: torch.Tensor,
    n_pre: int,
    log1mp: float,
    exclude_self: bool,
    out: torch.Tensor | None = None,
    starts: torch.Tensor | None = None,
) -> torch.Tensor:
    """Walk every post's pres by geometric skipping, all posts in step (draw n of each post at
    once): their numbers, or, with ``out``, the pres written from ``starts`` on."""
    counts = torch.zeros(posts.numel(), dtype=torch.int64, device=posts.device)
    lane = torch.arange(posts.numel(), device=posts.device)
    pos = torch.full((posts.numel(),), -1.0, dtype=torch.float64, device=posts.device)
    at = starts
    n = 0
    while lane.numel():
        u = rng.to_uniform(rng.bits_from(h, n))
        pos = pos + 1.0 + torch.floor(torch.log(1.0 - u) / log1mp)  # 1 - u is exact
        alive = pos < n_pre
        if not bool(alive.all()):
            lane, h, pos = lane[alive], h[alive], pos[alive]
            at = None if at is None else at[alive]
        i = pos.to(torch.int64)
        hit = i != posts[lane] if exclude_self else torch.ones_like(i, dtype=torch.bool)
        if out is None:
            counts[lane] += hit.to(torch.int64)
        else:
            out[at[hit]] = i[hit]
            at = at + hit.to(torch.int64)
        n += 1
    return counts


# ----------------------------------------------------------------- pairwise rules
class _BernoulliProb:
    def __init__(self, p: float) -> None:
        self.p = float(p)

    def __call__(self, posts: torch.Tensor, pres: torch.Tensor) -> float:
        return self.p


class _GaussianProb:
    """p(i, j) = p_max exp(-d² / 2 sigma²) within the cutoff, from validated positions.

    With ``rule.tangent`` d is measured in the tangent plane of the post neuron (its normal
    removed from the displacement).
    """

    #: number of postsynaptic neurons sampled to calibrate p_max from a mean in-degree
    CALIBRATION_SAMPLE = 512

    def __init__(
        self,
        rule: DistanceGaussian,
        n_pre: int,
        n_post: int,
        pre_positions: Any,
        post_positions: Any,
        dev: torch.device,
        post_normals: Any = None,
    ) -> None:
        if not rule.dims:
            raise SpecError(
                f"DistanceGaussian.dims must name at least one coordinate, e.g. (0, 1); got "
                f"{rule.dims!r}."
            )
        self.pre = _positions("pre_positions", pre_positions, n_pre, rule.dims, dev)
        self.post = _positions("post_positions", post_positions, n_post, rule.dims, dev)
        self.normal = None
        if rule.tangent:
            if post_normals is None:
                raise SpecError(
                    "DistanceGaussian(tangent=True) needs the post population's normals "
                    f"(shape ({n_post}, 3)); got None. Give Population(normals=...)."
                )
            self.normal = _positions("post_normals", post_normals, n_post, (0, 1, 2), dev)
        self.p_max = 0.0 if rule.p_max is None else float(rule.p_max)
        self.inv_two_sigma2 = 1.0 / (2.0 * float(rule.sigma) ** 2)
        self.cut2 = (float(rule.cutoff_sigma) * float(rule.sigma)) ** 2

    def kernel(self, posts: torch.Tensor, pres: torch.Tensor) -> torch.Tensor:
        """exp(-d² / 2 sigma²) within the cutoff, 0 beyond, (rows, cols) float64."""
        xp = self.post[posts]  # (rows, D)
        xq = self.pre[pres]  # (cols, D)
        d2 = torch.zeros((posts.numel(), pres.numel()), dtype=torch.float64, device=posts.device)
        along = torch.zeros_like(d2) if self.normal is not None else None
        for c in range(xp.shape[1]):  # explicit sum: same rounding on every device
            diff = xq[None, :, c] - xp[:, None, c]
            d2 += diff * diff
            if along is not None:
                along += diff * self.normal[posts, c][:, None]
        if along is not None:
            d2 = (d2 - along * along).clamp_(min=0.0)
        k = torch.exp(-d2 * self.inv_two_sigma2)
        return k.masked_fill_(d2 > self.cut2, 0.0)

    def calibrate(
        self, indegree: float, n_pre: int, n_post: int, key: int, exclude_self: bool
    ) -> None:
        """Set p_max so that the mean expected in-degree of a fixed post sample is ``indegree``.

        The sample (all posts, or CALIBRATION_SAMPLE drawn with the counter RNG from the whole
        population) does not depend on ``post_range``, so every split gets the same p_max.
        """
        if n_post == 0 or n_pre == 0 or indegree == 0:
            self.p_max = 0.0
            return
        dev = self.post.device
        if n_post <= self.CALIBRATION_SAMPLE:
            sample = torch.arange(n_post, dtype=torch.int64, device=dev)
        else:
            idx = torch.arange(self.CALIBRATION_SAMPLE, dtype=torch.int64, device=dev)
            sample = rng.uniform_int(rng.key(key, "calibrate"), idx, 0, n_post)
        total = 0.0
        step = max(1, _chunk_elems(dev) // max(n_pre, 1))
        pres = torch.arange(n_pre, dtype=torch.int64, device=dev)
        for r0 in range(0, sample.numel(), step):
            posts = sample[r0 : r0 + step]
            k = self.kernel(posts, pres)
            if exclude_self:
                k = k.masked_fill(posts[:, None] == pres[None, :], 0.0)
            total += float(k.sum())
        mean = total / sample.numel()
        self.p_max = 0.0 if mean == 0.0 else min(1.0, indegree / mean)

    def __call__(self, posts: torch.Tensor, pres: torch.Tensor) -> torch.Tensor:
        return self.p_max * self.kernel(posts, pres)


class _GroupProb:
    """p(i, j) = p[group(i), group(j)], times the normalised topographic kernel when given."""

    def __init__(self, rule: GroupBernoulli, n_pre: int, n_post: int, dev: torch.device) -> None:
        for name, g, n in (("pre", rule.pre_groups, n_pre), ("post", rule.post_groups, n_post)):
            if g.size != n:
                raise SpecError(
                    f"GroupBernoulli.{name}_groups has {g.size} entries but the {name} "
                    f"population has {n} neurons; give one group per neuron."
                )
        g_pre, g_post = rule.p.shape
        # group -1 (no part) maps to an extra all-zero row / column
        p = np.zeros((g_pre + 1, g_post + 1))
        p[:g_pre, :g_post] = rule.p
        self.p = torch.as_tensor(p, dtype=torch.float64, device=dev)
        self.gpre = torch.as_tensor(np.where(rule.pre_groups < 0, g_pre, rule.pre_groups)).to(dev)
        self.gpost = torch.as_tensor(np.where(rule.post_groups < 0, g_post, rule.post_groups)).to(
            dev
        )
        present = np.bincount(rule.pre_groups[rule.pre_groups >= 0], minlength=g_pre) > 0
        self.any = bool((rule.p[present] > 0).any()) and n_post > 0
        self.n_groups = g_pre + 1
        self.sigma = rule.topo_sigma
        if self.sigma is not None:
            self.cpre = torch.as_tensor(rule.pre_coords, dtype=torch.float64, device=dev)
            self.cpost = torch.as_tensor(rule.post_coords, dtype=torch.float64, device=dev)
            counts = torch.bincount(self.gpre, minlength=self.n_groups).to(torch.float64)
            self.count = counts.clamp(min=1.0)
            self._norm_for: tuple[int, int] | None = None

    def _kernel(self, posts: torch.Tensor, pres: torch.Tensor) -> torch.Tensor:
        d2 = torch.zeros((posts.numel(), pres.numel()), dtype=torch.float64, device=posts.device)
        for c in range(self.cpre.shape[1]):  # explicit sum: same rounding on every device
            diff = self.cpre[pres, c][None, :] - self.cpost[posts, c][:, None]
            d2 += diff * diff
        return torch.exp(-d2 / (2.0 * self.sigma**2))

    def _norm(self, posts: torch.Tensor) -> torch.Tensor:
        """(rows, groups) mean kernel over each pre group, over all pres (cached per posts)."""
        span = (int(posts[0]), int(posts[-1]), posts.numel())
        if self._norm_for != span:
            n_pre = self.gpre.numel()
            total = torch.zeros(
                (posts.numel(), self.n_groups), dtype=torch.float64, device=posts.device
            )
            step = max(1, _chunk_elems(posts.device) // max(posts.numel(), 1))
            for c0 in range(0, n_pre, step):
                pres = torch.arange(c0, min(c0 + step, n_pre), device=posts.device)
                k = self._kernel(posts, pres)
                total.index_add_(1, self.gpre[pres], k)
            self._norm_cache = total / self.count[None, :]
            self._norm_for = span
        return self._norm_cache

    def __call__(self, posts: torch.Tensor, pres: torch.Tensor) -> torch.Tensor:
        gi = self.gpre[pres]
        p = self.p[gi[None, :], self.gpost[posts][:, None]]
        if self.sigma is None:
            return p
        m = self._norm(posts).gather(1, gi[None, :].expand(posts.numel(), -1))
        k = self._kernel(posts, pres) / m.clamp(min=1e-300)
        return (p * k).clamp_(max=1.0)


def _positions(
    name: str, pos: Any, n: int, dims: tuple[int, ...], dev: torch.device
) -> torch.Tensor:
    if pos is None:
        raise SpecError(
            f"DistanceGaussian needs connect.{name}, an array of shape ({n}, 3) in µm; got "
            f"None. Give the population positions."
        )
    t = torch.as_tensor(np.asarray(pos.cpu() if isinstance(pos, torch.Tensor) else pos))
    if t.ndim != 2 or t.shape[0] != n:
        raise SpecError(
            f"connect.{name} must have shape ({n}, D) (one row per neuron, µm); got "
            f"{tuple(t.shape)}."
        )
    bad = [d for d in dims if not 0 <= d < t.shape[1]]
    if bad:
        raise SpecError(
            f"DistanceGaussian.dims must be column indices in [0, {t.shape[1]}) of "
            f"connect.{name} (shape {tuple(t.shape)}); got {dims!r}."
        )
    t = t[:, list(dims)].to(dtype=torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise SpecError(f"connect.{name} must be finite; got NaN or infinite coordinates.")
    return t.to(dev)


class _Buffer:
    """Growable (pre, post) output: one large allocation instead of many small parts.

    Many small parts fragment the heap (measured: 1.3 GB peak RSS for a 160 MB result).
    """

    def __init__(self, capacity: int, dev: torch.device) -> None:
        self.pre = torch.empty(capacity, dtype=torch.int64, device=dev)
        self.post = torch.empty(capacity, dtype=torch.int64, device=dev)
        self.n = 0

    def add(self, pre: torch.Tensor, post: torch.Tensor) -> None:
        m = pre.numel()
        if self.n + m > self.pre.numel():
            cap = max(2 * self.pre.numel(), self.n + m)
            for name in ("pre", "post"):
                old = getattr(self, name)
                new = torch.empty(cap, dtype=torch.int64, device=old.device)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        self.pre[self.n : self.n + m] = pre
        self.post[self.n : self.n + m] = post
        self.n += m

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pre.numel() > 1.05 * self.n + 1024:  # give back spare capacity
            return self.pre[: self.n].clone(), self.post[: self.n].clone()
        return self.pre[: self.n], self.post[: self.n]


def _pairwise(
    prob: Any,
    n_pre: int,
    key: int,
    a: int,
    b: int,
    exclude_self: bool,
    dev: torch.device,
    expected: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Connect (i, j) when uniform(key_pair, j, i) < prob(j, i); tiles of posts x pres."""
    if n_pre == 0 or a == b:
        return _empty(dev)
    step = _chunk_elems(dev)
    # capacity: expected count + 6 standard deviations, so that it rarely has to grow
    cap = step if expected is None else int(expected + 6 * math.sqrt(expected) + 1024)
    out = _Buffer(cap, dev)
    posts = torch.arange(a, b, dtype=torch.int64, device=dev)
    pres = torch.arange(n_pre, dtype=torch.int64, device=dev)
    _tiles(prob, rng.key(key, "pair"), posts, pres, exclude_self, out, step)
    return out.result()


def _tiles(
    prob: Any,
    kpair: int,
    posts: torch.Tensor,
    pres: torch.Tensor,
    exclude_self: bool,
    out: _Buffer,
    step: int,
) -> None:
    """Decide every (post, pre) pair of two ascending index lists, in tiles of about ``step``
    pairs: connected when uniform(kpair, post, pre) < prob(posts, pres). A tile spans whole
    rows of pres unless one row alone is too big; hits are added by post, then pre."""
    n = pres.numel()
    rows = max(1, step // max(n, 1))
    cols = n if rows > 1 else min(n, step)
    for r0 in range(0, posts.numel(), rows):
        po = posts[r0 : r0 + rows]
        for c0 in range(0, n, cols):
            pr = pres[c0 : c0 + cols]
            hit = rng.uniform(kpair, po[:, None], pr[None, :]) < prob(po, pr)
            if exclude_self:
                hit &= po[:, None] != pr[None, :]
            i, j = hit.nonzero(as_tuple=True)  # row-major: by post, then pre
            out.add(pr[j], po[i])


def _pairwise_by_group(
    prob: _GroupProb,
    n_pre: int,
    key: int,
    a: int,
    b: int,
    exclude_self: bool,
    dev: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_pairwise` for a :class:`GroupBernoulli`, visiting only pairs with p > 0.

    For each post group, its posts in ``[a, b)`` meet only the pres of groups with a nonzero
    probability to it. Every visited pair is decided exactly as in :func:`_pairwise` (same
    uniform, same p), pairs skipped have p = 0, and the result is sorted by (post, pre), so
    the synapses are the same as the dense evaluation's, in the same order.
    """
    kpair = rng.key(key, "pair")
    step = _chunk_elems(dev)
    out = _Buffer(step, dev)
    posts_all = torch.arange(a, b, dtype=torch.int64, device=dev)
    gpost = prob.gpost[a:b]
    for h in torch.unique(gpost).tolist():
        if h >= prob.p.shape[1] - 1:  # the "no group" column
            continue
        pres = torch.nonzero(prob.p[prob.gpre, h] > 0).flatten()
        if pres.numel():
            _tiles(prob, kpair, posts_all[gpost == h], pres, exclude_self, out, step)
    pre_idx, post_idx = out.result()
    order = torch.argsort(post_idx * max(n_pre, 1) + pre_idx)
    return pre_idx[order], post_idx[order]


# ----------------------------------------------------------------------- explicit
def _explicit(
    rule: Explicit, n_pre: int, n_post: int, a: int, b: int, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    pre = np.asarray(rule.pre_idx, dtype=np.int64)
    post = np.asarray(rule.post_idx, dtype=np.int64)
    for name, idx, n, pop in (
        ("pre_idx", pre, n_pre, "n_pre"),
        ("post_idx", post, n_post, "n_post"),
    ):
        bad = np.flatnonzero((idx < 0) | (idx >= n))
        if bad.size:
            i = int(bad[0])
            raise SpecError(
                f"Explicit.{name} must be indices in [0, {pop}={n}); got {int(idx[i])} at "
                f"position {i} ({bad.size} out of range in all)."
            )
    pre_t = torch.from_numpy(pre).to(dev)
    post_t = torch.from_numpy(post).to(dev)
    if (a, b) != (0, n_post):
        keep = (post_t >= a) & (post_t < b)
        pre_t, post_t = pre_t[keep], post_t[keep]
    post_t, order = torch.sort(post_t, stable=True)
    return pre_t[order], post_t


# ------------------------------------------------------------------------- slots
def slots(post_idx: torch.Tensor) -> torch.Tensor:
    """Index of each synapse among the synapses of its post neuron: 0, 1, 2, ...

    Parameters
    ----------
    post_idx : Tensor, (n_synapses,), int64
        Post indices sorted in non-decreasing order (as :func:`connect` returns them).

    Returns
    -------
    Tensor, (n_synapses,), int64

    Examples
    --------
    >>> slots(torch.tensor([0, 0, 2, 2, 2, 5])).tolist()
    [0, 1, 0, 1, 2, 0]
    """
    post = torch.as_tensor(post_idx)
    if post.ndim != 1 or post.dtype.is_floating_point or post.dtype.is_complex:
        raise SpecError(
            f"slots.post_idx must be a 1-D integer tensor; got shape {tuple(post.shape)} and "
            f"dtype {post.dtype}."
        )
    post = post.to(torch.int64)
    n = post.numel()
    dev = post.device
    out = torch.empty(n, dtype=torch.int64, device=dev)
    nb = _compiled()
    if nb is not None and dev.type == "cpu" and n >= 4096:
        if not nb.slots(post.contiguous().numpy(), out.numpy()):
            raise SpecError(
                "slots.post_idx must be sorted in non-decreasing order (as connect returns "
                "it); got an unsorted tensor."
            )
        return out
    step = _chunk_elems(dev)
    run_start = torch.zeros((), dtype=torch.int64, device=dev)  # run holding element s0 - 1
    for s0 in range(0, n, step):
        s1 = min(s0 + step, n)
        p = post[max(s0 - 1, 0) : s1]  # with the element before the chunk
        if bool((p[1:] < p[:-1]).any()):
            raise SpecError(
                "slots.post_idx must be sorted in non-decreasing order (as connect returns "
                "it); got an unsorted tensor."
            )
        if s0 > 0:
            p = p[1:]
        # runs of equal posts; measured 2x faster than a cummax over run starts
        _, counts = torch.unique_consecutive(p, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts + s0
        if s0 > 0:  # the first run may continue from the previous chunk
            starts[0] = torch.where(p[0] == post[s0 - 1], run_start, starts[0])
        out[s0:s1] = torch.arange(s0, s1, dtype=torch.int64, device=dev) - torch.repeat_interleave(
            starts, counts
        )
        run_start = starts[-1]
    return out


# -------------------------------------------------------------------------- draw
def _number(dist: Distribution, name: str, value: Any, *, none: float | None = None) -> float:
    if value is None and none is not None:
        return none
    if isinstance(value, (u.Quantity, str)):
        raise SpecError(
            f"{type(dist).__name__}.{name} must be a plain number in the target unit; got "
            f"{value!r}. Convert the distribution with dist.in_unit(unit, owner) first."
        )
    try:
        x = float(value)
    except (TypeError, ValueError) as e:
        raise SpecError(f"{type(dist).__name__}.{name} must be a number; got {value!r}.") from e
    if math.isnan(x):
        raise SpecError(f"{type(dist).__name__}.{name} must be a number; got {value!r}.")
    return x


def draw(
    dist: Distribution,
    key: int,
    post_idx: torch.Tensor,
    slot: torch.Tensor,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """One value of ``dist`` per synapse, keyed by (key, post neuron, slot).

    Parameters
    ----------
    dist : Constant, Uniform or Normal
        With plain numbers (convert quantities first with ``dist.in_unit(unit, owner)``).
    key : int
        Key of this purpose, e.g. ``rng.key(projection_key, "weight")``.
    post_idx : Tensor, (n_synapses,), int64
        Post neuron of each synapse, in population-local (not chunk-local) numbering.
    slot : Tensor, (n_synapses,), int64
        Index of each synapse among its post's synapses (:func:`slots`).
    dtype : torch.dtype
        Result dtype; values are computed in float64 and then cast.

    Returns
    -------
    Tensor, (n_synapses,), on ``post_idx``'s device

    Notes
    -----
    ``Uniform(low, high)``: ``low + (high - low) * uniform(key, post, slot)``.
    ``Normal(mu, sigma, low, high)``: ``mu + sigma * normal(key, post, slot)``; values outside
    ``[low, high]`` are redrawn (NEST's ``redraw``), round ``r`` with key
    ``rng.key(key, "redraw", r)``, for up to :data:`MAX_REDRAW_ROUNDS` rounds; SpecError if
    values are still out of bounds then.

    Examples
    --------
    >>> from zentai.connectome.rules import Uniform
    >>> post = torch.tensor([0, 0, 1])
    >>> v = draw(Uniform(1.0, 2.0), 42, post, slots(post))
    >>> bool(((v >= 1.0) & (v < 2.0)).all())
    True
    """
    post = torch.as_tensor(post_idx, dtype=torch.int64)
    slot = torch.as_tensor(slot, dtype=torch.int64, device=post.device)
    if post.shape != slot.shape or post.ndim != 1:
        raise SpecError(
            f"draw.post_idx and draw.slot must be 1-D tensors of equal length; got shapes "
            f"{tuple(post.shape)} and {tuple(slot.shape)}."
        )
    key = int(key)
    n = post.numel()
    dev = post.device
    if isinstance(dist, Constant):
        value = _number(dist, "value", dist.value)
        return torch.full((n,), value, dtype=dtype, device=dev)
    out = torch.empty(n, dtype=dtype, device=dev)
    step = _chunk_elems(dev)
    if isinstance(dist, Uniform):
        low, high = _uniform_bounds(dist)
        for s0 in range(0, n, step):
            s1 = min(s0 + step, n)
            x = low + (high - low) * rng.uniform(key, post[s0:s1], slot[s0:s1])
            out[s0:s1] = x
        return out
    if isinstance(dist, Normal):
        return _draw_normal(dist, key, post, slot, out, step)
    raise SpecError(f"draw.dist must be Constant, Uniform or Normal; got {type(dist).__name__}.")


def _normal_bounds(dist: Normal) -> tuple[float, float, float, float, float, SpecError]:
    """mu, sigma, low, high of ``dist`` (checked), the probability mass inside [low, high],
    and the error for values still outside after the redraw rounds."""
    mu = _number(dist, "mu", dist.mu)
    sigma = _number(dist, "sigma", dist.sigma)
    low = _number(dist, "low", dist.low, none=-math.inf)
    high = _number(dist, "high", dist.high, none=math.inf)
    desc = f"Normal(mu={mu}, sigma={sigma}, low={dist.low}, high={dist.high})"
    if not (math.isfinite(mu) and math.isfinite(sigma) and sigma >= 0):
        raise SpecError(f"Normal.mu and Normal.sigma must be finite, sigma >= 0; got {desc}.")
    if not low <= high:
        raise SpecError(f"Normal.low must be <= Normal.high; got {desc}.")
    if sigma == 0:
        inside = 1.0 if low <= mu <= high else 0.0
    else:
        z = (low - mu) / sigma, (high - mu) / sigma
        inside = 0.5 * (math.erfc(-z[1] / math.sqrt(2)) - math.erfc(-z[0] / math.sqrt(2)))
    fail = SpecError(
        f"{desc}: values must fall inside [low, high] after at most {MAX_REDRAW_ROUNDS} "
        f"redraw rounds; got values still outside (the bounds keep a fraction {inside:.3g} of "
        "the distribution). Widen the bounds or move mu inside them."
    )
    return mu, sigma, low, high, inside, fail


def _uniform_bounds(dist: Uniform) -> tuple[float, float]:
    low = _number(dist, "low", dist.low)
    high = _number(dist, "high", dist.high)
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise SpecError(
            f"Uniform.low and Uniform.high must be finite with low <= high; got "
            f"low={low!r}, high={high!r}."
        )
    return low, high


def _draw_normal(
    dist: Normal, key: int, post: torch.Tensor, slot: torch.Tensor, out: torch.Tensor, step: int
) -> torch.Tensor:
    mu, sigma, low, high, inside, fail = _normal_bounds(dist)
    if inside == 0.0 and post.numel():
        raise fail
    round_keys: list[int] = []
    n = post.numel()
    for s0 in range(0, n, step):
        s1 = min(s0 + step, n)
        p, c = post[s0:s1], slot[s0:s1]
        z = rng.normal(key, p, c)
        nb = _compiled()
        if nb is not None and z.device.type == "cpu" and z.numel() >= 4096:
            x = out[s0:s1] if out.dtype == torch.float64 and out.is_contiguous() else z
            n_bad = nb.affine(z.numpy(), mu, sigma, low, high, x.numpy())
            bad = ((x < low) | (x > high)).nonzero().squeeze(1) if n_bad else x[:0].long()
        else:
            x = mu + sigma * z
            bad = ((x < low) | (x > high)).nonzero().squeeze(1)
        rnd = 0
        while bad.numel():
            rnd += 1
            if rnd > MAX_REDRAW_ROUNDS:
                raise fail
            if len(round_keys) < rnd:
                round_keys.append(rng.key(key, "redraw", rnd))
            y = mu + sigma * rng.normal(round_keys[rnd - 1], p[bad], c[bad])
            x[bad] = y
            bad = bad[(y < low) | (y > high)]
        out[s0:s1] = x
    return out


def _draw_params(dist: Distribution) -> tuple[np.ndarray, float, SpecError | None]:
    """(kind, a, b, low, high) of the compiled ``_fill`` and ``_redraw``, the mass inside the
    bounds and the error for draws that stay outside (Normal only)."""
    if isinstance(dist, Constant):
        value = _number(dist, "value", dist.value)
        return np.array([0.0, value, 0.0, -math.inf, math.inf]), 1.0, None
    if isinstance(dist, Uniform):
        low, high = _uniform_bounds(dist)
        return np.array([1.0, low, high - low, -math.inf, math.inf]), 1.0, None
    if isinstance(dist, Normal):
        mu, sigma, low, high, inside, fail = _normal_bounds(dist)
        return np.array([2.0, mu, sigma, low, high]), inside, fail
    raise SpecError(f"draw.dist must be Constant, Uniform or Normal; got {type(dist).__name__}.")


def count_rows(plan: PerPostDraws, pre_offset: int, counts: torch.Tensor) -> None:
    """``counts[pre_offset + pre] += 1`` for every partner of ``plan`` (compiled, CPU),
    without making the partners."""
    nb = _compiled()
    if nb is None or counts.device.type != "cpu":
        raise ZentaiInternalError("count_rows needs numba and CPU tensors.")
    part = nb.count_per_post(
        np.uint64(plan.kpre & _M64), plan.a, plan.degrees.numpy(), plan.n_pre, plan.n_eff,
        plan.exclude_self, _threads(plan.n),
    )  # fmt: skip
    counts[pre_offset : pre_offset + plan.n_pre] += torch.from_numpy(part.sum(0))


def _threads(n: int) -> int:
    """Chunks for a compiled pass over n synapses: the cores, one per 1e6 synapses at most."""
    from numba import get_num_threads

    return max(1, min(get_num_threads(), n // 1_000_000))


def draw_into_rows(
    synapses: tuple[torch.Tensor, torch.Tensor] | PerPostDraws,
    pre_rows: tuple[int, int],
    post_offset: int,
    slot_base: int,
    weight: Distribution,
    delay: Distribution,
    key: int,
    cursor: torch.Tensor,
    target_out: torch.Tensor,
    weight_out: torch.Tensor,
    delay_out: torch.Tensor,
) -> float:
    """Draw one projection part's weights and delays and store its synapses in CSR rows.

    The compiled (CPU) form of :func:`slots`, :func:`draw` (keys ``rng.key(key, "weight")``
    and ``rng.key(key, "delay")``) and :func:`zentai.build.csr.scatter_rows` in one pass,
    without the per-synapse temporaries (slot, float64 values). ``synapses`` are (pre, post)
    as :func:`connect` returns them (int32 or int64, sorted by post) or a
    :class:`PerPostDraws`, whose partners are drawn as they are placed. ``pre_rows`` = (first
    row, number of rows) of the pre population: a synapse's row is ``first + pre``, its target
    ``slot_base + post - post_offset``. Returns the least delay drawn (the caller checks it).
    The values equal the tensor code's but for the last bits of a float64 log/cos (our
    polynomials here, torch's vector library there), which float32 storage rounds away but at
    rare ties.
    """
    nb = _compiled()
    if nb is None or cursor.device.type != "cpu":
        raise ZentaiInternalError("draw_into_rows needs numba and CPU tensors.")
    keys = [rng.key(key, "weight"), rng.key(key, "delay")]
    keys = [keys[0], rng.key(keys[0], "redraw"), keys[1], rng.key(keys[1], "redraw")]
    wpar, w_in, w_fail = _draw_params(weight)
    dpar, d_in, d_fail = _draw_params(delay)
    plan = synapses if isinstance(synapses, PerPostDraws) else None
    n = plan.n if plan is not None else synapses[0].numel()
    for inside, fail in ((w_in, w_fail), (d_in, d_fail)):
        if n and inside == 0.0 and fail is not None:
            raise fail
    threads = _threads(n)
    status = np.zeros((threads, 4))
    tables = (target_out.numpy(), weight_out.numpy(), delay_out.numpy())
    common = (post_offset, slot_base, wpar, dpar, np.array([k & _M64 for k in keys], np.uint64),
              MAX_REDRAW_ROUNDS, cursor.numpy(), tables, threads, status)  # fmt: skip
    if plan is not None:
        nb.place_per_post(
            np.uint64(plan.kpre & _M64), plan.a, plan.degrees.numpy(), plan.n_eff,
            plan.exclude_self, *pre_rows, *common,
        )  # fmt: skip
    else:
        pre, post = synapses
        nb.place_drawn(pre.numpy(), post.numpy(), *pre_rows, *common)
    if status[:, 3].any():
        raise SpecError(
            "draw_into_rows.post must be sorted in non-decreasing order (as connect returns "
            "it); got an unsorted tensor."
        )
    for col, fail in ((0, w_fail), (1, d_fail)):
        if status[:, col].any():
            raise fail  # only a bounded Normal can fail
    return float(status[:, 2].min()) if n else math.inf
