"""Exact integrated information Φ of integrated information theory 3.0 for small binary systems.

The quantities follow Oizumi, Albantakis & Tononi (2014), "From the phenomenology to the
mechanisms of consciousness: integrated information theory 3.0", PLoS Comput Biol 10:e1003588,
with the conventions of their reference implementation as described by Mayner et al. (2018),
"PyPhi: a toolbox for integrated information theory", PLoS Comput Biol 14:e1006343, in its
default IIT 3.0 configuration (PyPhi 1.x: ``MEASURE='EMD'``, ``PARTITION_TYPE='BI'``,
``SYSTEM_CUTS='3.0_STYLE'``, ``PRECISION=6``). Written from the papers; see
``docs/design/iit.md`` for the conventions and for what was checked against PyPhi 1.2.0.

* :func:`phi` — Φ of a system (the whole network, or ``nodes`` with the other nodes fixed in
  their current state as background conditions), its minimal unidirectional cut and its
  concepts.
* :func:`cause_effect_structure` — the concepts (mechanisms with small φ > 0) alone, with or
  without a cut.
* :func:`small_phi` — φ of one mechanism over one purview (cause and effect sides).
* :func:`major_complex` — the subsystem of maximal Φ.

Conventions, in short:

* A TPM gives P(node i ON at t+1 | state at t). States are ordered little-endian (node 0 is the
  lowest bit), as in PyPhi; a square state-by-state TPM is accepted when it factorises into
  independent nodes.
* Repertoires: the cause repertoire of mechanism M over purview P is the normalised product over
  m ∈ M of P(m's current state | P), every other input averaged over uniformly (perturbed); the
  effect repertoire is the product over p ∈ P of P(p at t+1 | M's current state), the inputs
  outside M averaged over uniformly. Connections absent from the connectivity matrix, or
  severed by a cut, are replaced by that uniform noise.
* Small φ: the earth mover's distance with Hamming ground distance between a repertoire and
  its partitioned version, minimised over the bipartitions of mechanism × purview; the
  maximally irreducible cause/effect is the purview of largest φ (ties: the larger purview,
  then the first in size-then-lexicographic order). Concept φ = min(cause φ, effect φ).
* Φ: the extended EMD between the cause-effect structure and that of the system under a
  unidirectional cut (connections from one part to the other replaced by noise), minimised
  over all such cuts. φ and Φ are rounded to 6 decimals as in PyPhi.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zentai.errors import SpecError

__all__ = [
    "MAX_NODES",
    "BigPhi",
    "Concept",
    "Cut",
    "cause_effect_structure",
    "major_complex",
    "phi",
    "small_phi",
]

MAX_NODES = 10
"""Largest system :func:`phi` accepts. Exact Φ costs about (number of cuts) × (mechanisms) ×
(purviews) × (partitions) ≈ 2^n · 3^n · 3^n repertoire comparisons: seconds at 5 nodes,
minutes at 6, and out of reach well before 10."""

_PRECISION = 6  # decimals kept for φ and Φ (PyPhi's default PRECISION)


def _round(x: float, like_numpy: bool) -> float:
    """Round to 6 decimals. Values exactly halfway at the 7th decimal (e.g. 1/3 rounded times
    3/2) are rounded as PyPhi 1.2.0 does: NumPy scalars (its effect φ and sums involving them)
    by scaling and rounding half to even, Python floats by correct decimal rounding."""
    return float(np.round(x, _PRECISION)) if like_numpy else round(float(x), _PRECISION)


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class Cut:
    """A unidirectional system cut: the connections from ``from_nodes`` to ``to_nodes`` are
    replaced by noise. Node indices are network indices."""

    from_nodes: tuple[int, ...]
    to_nodes: tuple[int, ...]

    def __str__(self) -> str:
        return f"{list(self.from_nodes)} -/-> {list(self.to_nodes)}"


@dataclass(frozen=True)
class Concept:
    """A mechanism with irreducible cause and effect (Oizumi et al. 2014, Fig. 6).

    Node indices are network indices. ``cause_repertoire`` is a (2,)*len(cause_purview) array
    (axis i: state of ``cause_purview[i]`` at t-1); ``effect_repertoire`` likewise over the
    effect purview at t+1.
    """

    mechanism: tuple[int, ...]
    phi: float
    cause_purview: tuple[int, ...]
    cause_phi: float
    effect_purview: tuple[int, ...]
    effect_phi: float
    cause_repertoire: np.ndarray = field(compare=False, repr=False)
    effect_repertoire: np.ndarray = field(compare=False, repr=False)
    labels: tuple[str, ...] = field(compare=False, repr=False, default=())

    def __str__(self) -> str:
        def name(nodes: tuple[int, ...]) -> str:
            return "".join(self.labels[i] for i in nodes) if self.labels else str(nodes)

        return (
            f"φ={self.phi:g} {name(self.mechanism)}: cause {name(self.cause_purview)} "
            f"(φ={self.cause_phi:g}), effect {name(self.effect_purview)} (φ={self.effect_phi:g})"
        )


@dataclass(frozen=True)
class BigPhi:
    """Result of :func:`phi`: integrated information of a system in one state.

    ``cut`` is the minimal unidirectional cut (None when Φ is zero without evaluating cuts: a
    system that is empty, a single node, not strongly connected, or without concepts; the
    concepts are then empty too, as in PyPhi). ``concepts`` is the cause-effect structure of
    the uncut system, ``partitioned_concepts`` that of the system under ``cut``.
    """

    phi: float
    nodes: tuple[int, ...]
    state: tuple[int, ...]
    cut: Cut | None
    concepts: tuple[Concept, ...]
    partitioned_concepts: tuple[Concept, ...] = ()
    labels: tuple[str, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        names = "".join(self.labels[i] for i in self.nodes) if self.labels else str(self.nodes)
        lines = [f"Φ = {self.phi:g} for {names} in state {self.state}; minimal cut: {self.cut}"]
        lines += [f"  {c}" for c in self.concepts]
        return "\n".join(lines)


# --------------------------------------------------------------------------- input checks


def _labels(node_labels: Sequence[str] | None, n: int) -> tuple[str, ...]:
    if node_labels is None:
        if n <= 26:
            return tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:n])
        return tuple(f"n{i}" for i in range(n))
    labels = tuple(str(x) for x in node_labels)
    if len(labels) != n or len(set(labels)) != n:
        raise SpecError(
            f"iit node_labels must be {n} distinct names, one per node; got {node_labels!r}."
        )
    return labels


def _check_probabilities(a: np.ndarray, what: str) -> None:
    if not np.isfinite(a).all():
        raise SpecError(f"iit {what} must be finite probabilities; it contains NaN or inf.")
    bad = (a < 0) | (a > 1)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise SpecError(
            f"iit {what} entries must be probabilities in [0, 1]; got {a[where]!r} at {where}."
        )


def _n_from_rows(rows: int, what: str) -> int:
    n = rows.bit_length() - 1
    if rows < 2 or (1 << n) != rows:
        raise SpecError(
            f"iit tpm: a {what} TPM needs 2^n rows (one per network state); got {rows} rows."
        )
    return n


def _as_multidimensional(tpm: Any) -> np.ndarray:
    """TPM in any accepted form -> (2,)*n + (n,) array of P(node ON at t+1 | state at t)."""
    try:
        a = np.asarray(tpm, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SpecError(f"iit tpm must be a numeric array; got {type(tpm).__name__}.") from err
    if a.ndim == 2 and a.shape[0] == a.shape[1]:  # state-by-state
        n = _n_from_rows(a.shape[0], "state-by-state")
        _check_probabilities(a, "tpm (state-by-state)")
        sums = a.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-9):
            row = int(np.argmax(np.abs(sums - 1.0)))
            raise SpecError(
                f"iit tpm: each row of a state-by-state TPM must sum to 1; row {row} sums to "
                f"{sums[row]!r}."
            )
        states = (np.arange(1 << n)[:, None] >> np.arange(n)[None, :]) & 1  # little-endian
        p_on = a @ states  # (2^n, n): P(node i ON | row state)
        rebuilt = np.ones_like(a)
        for i in range(n):
            rebuilt *= np.where(states[None, :, i] == 1, p_on[:, i : i + 1], 1 - p_on[:, i : i + 1])
        if not np.allclose(rebuilt, a, atol=1e-9):
            raise SpecError(
                "iit tpm: this state-by-state TPM is not conditionally independent (the next "
                "states of the nodes are correlated given the current state), so it has no "
                "state-by-node form; IIT 3.0 as implemented here needs independent nodes."
            )
        a = p_on
    if a.ndim == 2:
        n = a.shape[1]
        if n < 1 or a.shape[0] != (1 << n):
            raise SpecError(
                f"iit tpm: a state-by-node TPM has shape (2^n, n); got {a.shape}. A square "
                "(2^n, 2^n) array is read as state-by-state."
            )
        a = a.reshape((2,) * n + (n,), order="F")  # rows little-endian: node 0 varies fastest
    else:
        n = a.shape[-1] if a.ndim else 0
        if a.ndim != n + 1 or a.shape != (2,) * n + (n,) or n < 1:
            raise SpecError(
                f"iit tpm must be state-by-node (2^n, n), state-by-state (2^n, 2^n) or "
                f"multidimensional (2,)*n + (n,); got shape {a.shape}."
            )
    if n > MAX_NODES:
        raise SpecError(
            f"iit: {n} nodes is more than MAX_NODES = {MAX_NODES}; exact Φ grows like "
            f"2^n · 9^n repertoire comparisons and would not finish. Pass a smaller network."
        )
    _check_probabilities(a, "tpm")
    return np.ascontiguousarray(a)


def _as_state(state: Any, n: int) -> tuple[int, ...]:
    try:
        s = tuple(state)
    except TypeError:
        raise SpecError(
            f"iit state must be a tuple of {n} zeros and ones; got {state!r}."
        ) from None
    if len(s) != n or not all(
        isinstance(x, (int, np.integer, bool, np.bool_)) and int(x) in (0, 1) for x in s
    ):
        raise SpecError(
            f"iit state must be a tuple of {n} zeros and ones (one per node); got {state!r}."
        )
    return tuple(int(x) for x in s)


def _as_cm(cm: Any, n: int) -> np.ndarray:
    if cm is None:
        return np.ones((n, n), dtype=bool)
    try:
        a = np.asarray(cm, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SpecError(f"iit cm must be an ({n}, {n}) array of 0/1; got {cm!r}.") from err
    if a.shape != (n, n):
        raise SpecError(
            f"iit cm must be an ({n}, {n}) connectivity matrix (cm[i, j] = 1: i -> j); got "
            f"shape {a.shape}."
        )
    if not np.all((a == 0) | (a == 1)):
        raise SpecError(f"iit cm entries must be 0 or 1; got values {sorted(set(a.ravel()))}.")
    return a.astype(bool)


def _as_nodes(nodes: Any, n: int) -> tuple[int, ...]:
    if nodes is None:
        return tuple(range(n))
    try:
        s = tuple(sorted({int(x) for x in nodes}))
    except (TypeError, ValueError):
        raise SpecError(f"iit nodes must be node indices 0..{n - 1}; got {nodes!r}.") from None
    if any(i < 0 or i >= n for i in s):
        raise SpecError(f"iit nodes must be node indices 0..{n - 1}; got {nodes!r}.")
    return s


# --------------------------------------------------------------------------- earth mover's distance


@functools.cache
def _lipschitz_vertices(k: int) -> np.ndarray:
    """Vertices of {u : |u(x) - u(y)| <= 1 on hypercube edges, u(0) = 0} on {0,1}^k.

    EMD with Hamming ground distance is a min-cost flow on the hypercube graph; by LP duality
    EMD(p, q) = max_u <u, p - q> over that polytope, attained at a vertex. The vertices are the
    integer functions whose tight edges (|u(x) - u(y)| = 1) connect the cube: 2, 6, 38 and 990
    of them for k = 1..4. Returns (vertices, 2^k) float64, hypercube state x = row index bits.
    """
    N = 1 << k
    order = sorted(range(1, N), key=lambda x: (bin(x).count("1"), x))
    rows = np.zeros((1, N), dtype=np.int8)
    done = {0}
    for x in order:
        nbrs = [x ^ (1 << i) for i in range(k) if (x ^ (1 << i)) in done]
        known = rows[:, nbrs].astype(np.int16)
        lo, hi = known.max(axis=1) - 1, known.min(axis=1) + 1
        parts = []
        for d in (-1, 0, 1):
            v = known[:, 0] + d
            ok = (v >= lo) & (v <= hi)
            r = rows[ok].copy()
            r[:, x] = v[ok]
            parts.append(r)
        rows = np.concatenate(parts)
        done.add(x)
    edges = [(x, x | (1 << i)) for x in range(N) for i in range(k) if not x & (1 << i)]
    tight = [np.abs(rows[:, a].astype(np.int16) - rows[:, b]) == 1 for a, b in edges]
    reach = np.zeros(rows.shape, dtype=bool)
    reach[:, 0] = True
    while True:
        before = int(reach.sum())
        for (a, b), t in zip(edges, tight):
            reach[:, a] |= reach[:, b] & t
            reach[:, b] |= reach[:, a] & t
        if int(reach.sum()) == before:
            break
    return rows[reach.all(axis=1)].astype(np.float64)


_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


@functools.cache
def _hypercube_incidence(k: int):
    from scipy import sparse

    N = 1 << k
    edges = [(x, x | (1 << i)) for x in range(N) for i in range(k) if not x & (1 << i)]
    rows = [a for a, _ in edges] + [b for _, b in edges]
    cols = list(range(len(edges))) * 2
    vals = [1.0] * len(edges) + [-1.0] * len(edges)
    B = sparse.csr_matrix((vals, (rows, cols)), shape=(N, len(edges)))
    return sparse.hstack([B, -B]).tocsr()


def _emd_lp(diff: np.ndarray, k: int) -> float:
    """Hamming EMD of a zero-sum signed mass ``diff`` on {0,1}^k by min-cost flow (HiGHS)."""
    from scipy.optimize import linprog

    A = _hypercube_incidence(k)
    res = linprog(
        np.ones(A.shape[1]),
        A_eq=A,
        b_eq=diff,
        bounds=(0, None),
        method="highs",
        options=_LP_OPTIONS,
    )
    if res.status != 0:  # pragma: no cover - the flow problem is always feasible and bounded
        raise RuntimeError(f"iit: EMD linear program failed: {res.message}")
    return float(res.fun)


def _emd_batch(p: np.ndarray, Q: np.ndarray, k: int) -> np.ndarray:
    """Hamming EMD between distribution ``p`` (2^k,) and each row of ``Q`` (m, 2^k), k <= 4."""
    if k == 0:
        return np.zeros(Q.shape[0])
    return np.abs((p[None, :] - Q) @ _half_vertices(k).T).max(axis=1)


@functools.cache
def _half_vertices(k: int) -> np.ndarray:
    """One of each pair ±u of :func:`_lipschitz_vertices` (the polytope is symmetric), so that
    EMD = max |<u, p - q>| over half as many vectors."""
    V = _lipschitz_vertices(k)
    first = V[np.arange(V.shape[0]), np.argmax(V != 0, axis=1)]
    return np.ascontiguousarray(V[first > 0])


def _lower_bound(diff: np.ndarray, k: int) -> np.ndarray:
    """Lower bounds on the Hamming EMD of each zero-sum row of ``diff`` (m, 2^k), k >= 5.

    For a split of the coordinates into blocks A and B, u(x) = v(x_A) + w(x_B) is 1-Lipschitz
    whenever v and w are, so EMD >= EMD(A-marginal) + EMD(B-marginal); the bound is the best
    split with |A| = 4 (the marginals' EMDs are exact by :func:`_emd_batch`).
    """
    m = diff.shape[0]
    cube = diff.reshape((m,) + (2,) * k)
    best = np.zeros(m)
    for A in itertools.combinations(range(k), 4):
        rest = tuple(a for a in range(k) if a not in A)
        ma = cube.sum(axis=tuple(1 + a for a in rest)).reshape(m, 16)
        mb = cube.sum(axis=tuple(1 + a for a in A)).reshape(m, -1)
        lb_a = np.abs(ma @ _half_vertices(4).T).max(axis=1)
        lb_b = _block_emd(mb, len(rest))
        best = np.maximum(best, lb_a + lb_b)
    return best


def _block_emd(d: np.ndarray, k: int) -> np.ndarray:
    """Exact Hamming EMD of zero-sum rows for k <= 4, else the lower bound above."""
    if k == 0:
        return np.zeros(d.shape[0])
    if k <= 4:
        return np.abs(d @ _half_vertices(k).T).max(axis=1)
    return _lower_bound(d, k)


def _emd_min(p: np.ndarray, Q: np.ndarray, k: int) -> float:
    """min_i EMD(p, Q_i), exact: rows are visited in order of a lower bound and skipped once
    the bound reaches the best exact value."""
    diff = p[None, :] - Q
    if k <= 2:
        return float(_block_emd(diff, k).min())
    lb = _marginals_sum(diff, k)
    order = np.argsort(lb, kind="stable")
    if k <= 4:
        first = float(_block_emd(diff[order[:1]], k)[0])
        keep = order[lb[order] < first - 1e-12]
        if not len(keep):
            return first
        return min(first, float(_block_emd(diff[keep], k).min()))
    best = np.inf
    for start in range(0, len(order), 16):
        chunk = order[start : start + 16]
        chunk = chunk[lb[chunk] < best - 1e-12]
        if not len(chunk):
            break
        strong = _lower_bound(diff[chunk], k)
        for i in np.argsort(strong, kind="stable"):
            if strong[i] < best - 1e-12:
                best = min(best, _emd_lp(diff[chunk[i]], k))
    return float(best)


def _marginals_sum(diff: np.ndarray, k: int) -> np.ndarray:
    """Lower bound on the Hamming EMD: each unit of mass crosses every coordinate where its
    source and target differ, so EMD >= sum over coordinates of |marginal difference|."""
    idx = np.arange(1 << k)
    out = np.zeros(diff.shape[0])
    for i in range(k):
        out += np.abs(diff[:, (idx >> i) & 1 == 1].sum(axis=1))
    return out


def _transport(
    supply: np.ndarray, demand: np.ndarray, cost: np.ndarray
) -> tuple[float, np.ndarray]:
    """Cheapest plan moving ``supply`` onto ``demand`` (equal totals) at ``cost``: (total
    cost, plan of shape cost.shape)."""
    from scipy import sparse
    from scipy.optimize import linprog

    m, n = cost.shape
    rows = np.concatenate([np.repeat(np.arange(m), n), m + np.tile(np.arange(n), m)])
    cols = np.concatenate([np.arange(m * n), np.arange(m * n)])
    A = sparse.csr_matrix((np.ones(2 * m * n), (rows, cols)), shape=(m + n, m * n))
    res = linprog(
        cost.ravel(),
        A_eq=A,
        b_eq=np.concatenate([supply, demand]),
        bounds=(0, None),
        method="highs",
        options=_LP_OPTIONS,
    )
    if res.status != 0:  # pragma: no cover
        raise RuntimeError(f"iit: transport linear program failed: {res.message}")
    return float(res.fun), res.x.reshape(m, n)


# --------------------------------------------------------------------------- subsets as bitmasks


def _bits(mask: int) -> tuple[int, ...]:
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


def _mask(idx: Sequence[int]) -> int:
    m = 0
    for i in idx:
        m |= 1 << i
    return m


@functools.cache
def _subsets_in_order(k: int) -> tuple[int, ...]:
    """Nonempty subsets of range(k): by size, then lexicographically (PyPhi's powerset order)."""
    return tuple(_mask(c) for r in range(1, k + 1) for c in itertools.combinations(range(k), r))


@functools.cache
def _bipartitions(mask: int) -> tuple[tuple[int, int], ...]:
    """Unordered bipartitions (part0, part1) of a set, part1 never empty (holds the largest
    element); part0 is empty once. Order as PyPhi's ``bipartition``."""
    el = _bits(mask)
    out = []
    for i in range(1 << (len(el) - 1)):
        p1 = _mask([e for b, e in enumerate(el) if i >> b & 1])
        out.append((p1, mask & ~p1))
    return tuple(out)


@functools.cache
def _directed_bipartitions(mask: int) -> tuple[tuple[int, int], ...]:
    """All ordered pairs (A, B) with A | B = mask, A & B = 0 (both may be empty); order as
    PyPhi's ``directed_bipartition``."""
    und = _bipartitions(mask) if mask else ((0, 0),)
    return und + tuple((b, a) for a, b in reversed(und))


def _connected_bipartite(src: Sequence[int], dst: Sequence[int], inputs: Sequence[int]) -> bool:
    """Is the bipartite graph of connections src -> dst (inputs[j]: sources of j) connected?"""
    if not src or not dst:
        return False
    seen_s, seen_d = {src[0]}, set()
    frontier = [("s", src[0])]
    while frontier:
        side, v = frontier.pop()
        if side == "s":
            for j in dst:
                if j not in seen_d and inputs[j] >> v & 1:
                    seen_d.add(j)
                    frontier.append(("d", j))
        else:
            for i in src:
                if i not in seen_s and inputs[v] >> i & 1:
                    seen_s.add(i)
                    frontier.append(("s", i))
    return len(seen_s) == len(src) and len(seen_d) == len(dst)


def _reducible(src: int, dst: int, inputs: Sequence[int]) -> bool:
    """A purview is trivially reducible (φ = 0) when some source lacks an output into ``dst``,
    some target lacks an input from ``src``, or the connections fall apart into blocks."""
    s, d = _bits(src), _bits(dst)
    if any(not inputs[j] & src for j in d):
        return True
    if any(not any(inputs[j] >> i & 1 for j in d) for i in s):
        return True
    if len(s) > 1 and len(d) > 1:
        return not _connected_bipartite(s, d, inputs)
    return False


# --------------------------------------------------------------------------- the system


@dataclass(frozen=True)
class _Mice:
    phi: float
    purview: int
    repertoire: np.ndarray | None  # cause: (2,)*|P| array; effect: ON marginals over P


@dataclass(frozen=True)
class _Concept:
    mechanism: int
    phi: float
    cause: _Mice
    effect: _Mice
    numpy_phi: bool  # φ came from the effect side (a NumPy scalar in PyPhi; see _round)


class _System:
    """A candidate system: its nodes' TPM with the outside nodes fixed at their state."""

    def __init__(self, p_on: np.ndarray, cm: np.ndarray, state: tuple[int, ...], nodes):
        n = len(state)
        self.nodes = tuple(nodes)
        self.k = k = len(self.nodes)
        idx = tuple(slice(None) if a in self.nodes else state[a] for a in range(n))
        self.p_on = p_on[idx][..., list(self.nodes)]  # (2,)*k + (k,)
        self.state = tuple(state[a] for a in self.nodes)
        sub = cm[np.ix_(self.nodes, self.nodes)]
        self.cm = sub
        self.inputs = tuple(_mask([i for i in range(k) if sub[i, j]]) for j in range(k))
        self.full = (1 << k) - 1
        # Q[j, B]: P(j ON at t+1 | nodes B in their current state), the rest uniform
        self.Q = np.empty((k, 1 << k))
        for j in range(k):
            for B in range(1 << k):
                sl = tuple(self.state[a] if B >> a & 1 else slice(None) for a in range(k))
                self.Q[j, B] = self.p_on[(*sl, j)].mean()
        self._factor: dict = {}
        self._crep: dict = {}
        self._mice: dict = {}
        self._dist: dict = {}

    def reachable(self) -> bool:
        """Can the current state follow some previous state (PyPhi's state_reachable)?"""
        if self.k == 0:
            return True
        diff = self.p_on - np.array(self.state, dtype=np.float64)
        return bool(np.any(np.all((diff > -1) & (diff < 1), axis=-1)))

    # -- repertoires -------------------------------------------------------------------------

    def _cause_factor(self, m: int, B: int) -> np.ndarray:
        """P(m in its current state | state of B), B within m's inputs, shape (2|1)^k."""
        key = (m, B)
        f = self._factor.get(key)
        if f is None:
            axes = tuple(a for a in range(self.k) if not B >> a & 1)
            on = self.p_on[..., m].mean(axis=axes, keepdims=True)
            f = on if self.state[m] == 1 else 1.0 - on
            self._factor[key] = f
        return f

    def cause_rep(self, M: int, P: int, inputs: Sequence[int]) -> np.ndarray:
        """Cause repertoire of M over P, shape 2 on P's axes and 1 elsewhere."""
        mech = _bits(M)
        key = (M, P, tuple(inputs[m] & P for m in mech))
        r = self._crep.get(key)
        if r is not None:
            return r
        shape = tuple(2 if P >> a & 1 else 1 for a in range(self.k))
        if not P:
            r = np.ones(shape)
        elif not M:
            r = np.full(shape, 1.0 / (1 << bin(P).count("1")))
        else:
            r = np.ones(shape)
            for m, B in zip(mech, key[2]):
                r = r * self._cause_factor(m, B)
            s = r.sum()
            if s != 0:
                r = r / s
        self._crep[key] = r
        return r

    def effect_marginals(self, M: int, P: int, inputs: Sequence[int]) -> np.ndarray:
        """P(p ON at t+1 | M) for p in P (ascending), the effect repertoire's factors."""
        return np.array([self.Q[j, inputs[j] & M] for j in _bits(P)])

    # -- small phi ----------------------------------------------------------------------------

    def cause_phi(self, M: int, P: int, inputs: Sequence[int]) -> tuple[float, np.ndarray]:
        r = self.cause_rep(M, P, inputs)
        kp = bin(P).count("1")
        flat = r.reshape(-1)
        if not np.any(flat):  # unreachable mechanism state: PyPhi reports 0
            return 0.0, r
        rows = []
        for M1, M2 in _bipartitions(M):
            for P1, P2 in _directed_bipartitions(P):
                if not M1 and not P1:
                    continue
                rows.append(
                    (self.cause_rep(M1, P1, inputs) * self.cause_rep(M2, P2, inputs)).reshape(-1)
                )
        value = _emd_min(flat, np.array(rows), kp)
        return _round(value, like_numpy=False), r

    def effect_phis(self, M: int, purviews: Sequence[int], inputs: Sequence[int]) -> np.ndarray:
        """Effect φ of M over each purview. Effect repertoires factorise over purview nodes, so
        their Hamming EMD is the sum of the nodes' |ΔP(ON)|, and each mechanism bipartition's
        best purview split is chosen node by node."""
        k = self.k
        q_m = np.array([self.Q[j, inputs[j] & M] for j in range(k)])
        d0 = np.abs(q_m - np.array([self.Q[j, 0] for j in range(k)]))
        splits = [(M1, M2) for M1, M2 in _bipartitions(M) if M1]
        member = np.array([[P >> j & 1 for j in range(k)] for P in purviews], dtype=bool)
        best = np.where(member, d0[None, :], np.inf).min(axis=1)  # (∅ | P1) x (M | P2)
        if splits:
            dmin = np.array(
                [
                    [
                        min(
                            abs(q_m[j] - self.Q[j, inputs[j] & M1]),
                            abs(q_m[j] - self.Q[j, inputs[j] & M2]),
                        )
                        for j in range(k)
                    ]
                    for M1, M2 in splits
                ]
            )
            best = np.minimum(best, (member.astype(np.float64) @ dmin.T).min(axis=1))
        # Effect φ values often sit exactly halfway at the 7th decimal (TPM entries with two
        # decimals, averaged over 2^k states); PyPhi 1.2.0 rounds those up (checked on 5-node
        # networks), so ties within 1e-10 go up here.
        return np.floor(best * 10**_PRECISION + 0.5 + 1e-4) / 10**_PRECISION

    # -- maximally irreducible cause / effect -------------------------------------------------

    def mie(self, M: int, inputs: Sequence[int]) -> _Mice:
        key = ("e", M, tuple(inputs[j] & M for j in range(self.k)))
        hit = self._mice.get(key)
        if hit is not None:
            return hit
        purviews = [P for P in _subsets_in_order(self.k) if not _reducible(M, P, inputs)]
        out = _Mice(0.0, 0, None)
        if purviews:
            phis = self.effect_phis(M, purviews, inputs)
            bi = None
            for i, P in enumerate(purviews):
                if bi is None or (phis[i], bin(P).count("1")) > (
                    phis[bi],
                    bin(purviews[bi]).count("1"),
                ):
                    bi = i
            P = purviews[bi]
            out = _Mice(float(phis[bi]), P, self.effect_marginals(M, P, inputs))
        self._mice[key] = out
        return out

    def mic(self, M: int, inputs: Sequence[int]) -> _Mice:
        key = ("c", M, tuple(inputs[m] for m in _bits(M)))
        hit = self._mice.get(key)
        if hit is not None:
            return hit
        out = _Mice(0.0, 0, None)
        best = None
        for P in _subsets_in_order(self.k):
            if _reducible(P, M, inputs):
                continue
            value, rep = self.cause_phi(M, P, inputs)
            size = bin(P).count("1")
            if best is None or (value, size) > best:
                best = (value, size)
                out = _Mice(value, P, rep)
        self._mice[key] = out
        return out

    def concept(self, M: int, inputs: Sequence[int]) -> _Concept | None:
        """The concept of M, or None when its φ is 0 (then the cause side is not computed)."""
        effect = self.mie(M, inputs)
        if effect.phi <= 0:
            return None
        cause = self.mic(M, inputs)
        value = min(cause.phi, effect.phi)
        if value <= 0:
            return None
        return _Concept(M, value, cause, effect, effect.phi < cause.phi)

    def ces(self, inputs: Sequence[int], mechanisms=None) -> list[_Concept]:
        mechs = _subsets_in_order(self.k) if mechanisms is None else mechanisms
        out = []
        for M in mechs:
            c = self.concept(M, inputs)
            if c is not None:
                out.append(c)
        return out

    # -- concept space ------------------------------------------------------------------------

    def _expanded_cause(self, mice: _Mice | None, U: int) -> np.ndarray:
        rep = np.ones((1,) * self.k) if mice is None else mice.repertoire
        shape = tuple(2 if U >> a & 1 else 1 for a in range(self.k))
        out = np.broadcast_to(rep, shape)
        return (out / out.sum()).reshape(-1)

    def _expanded_effect(self, mice: _Mice | None, U: int) -> np.ndarray:
        on = {j: self.Q[j, 0] for j in _bits(U)}
        if mice is not None:
            on.update(zip(_bits(mice.purview), mice.repertoire))
        return np.array([on[j] for j in _bits(U)])

    def cause_distance(self, a: _Mice, b: _Mice | None, *, bound: bool = False) -> float:
        """Hamming EMD between two cause repertoires spread over the union of their purviews
        by the unconstrained (uniform) repertoire; ``b=None``: the null concept's. With
        ``bound``, a cheap lower bound instead when the union has more than 4 nodes."""
        U = a.purview | (0 if b is None else b.purview)
        k = bin(U).count("1")
        pa, pb = self._expanded_cause(a, U), self._expanded_cause(b, U)
        if k <= 4:
            return float(_emd_batch(pa, pb[None, :], k)[0])
        if bound:
            return float(_lower_bound((pa - pb)[None, :], k)[0])
        key = (id(a), id(b))
        hit = self._dist.get(key)
        if hit is None:
            hit = self._dist[key] = (_emd_lp(pa - pb, k), a, b)  # keep a, b alive with the id
        return hit[0]

    def effect_distance(self, a: _Mice, b: _Mice | None) -> float:
        """Effect repertoires are products over nodes: EMD = sum of |ΔP(ON)| per node."""
        V = a.purview | (0 if b is None else b.purview)
        return float(np.abs(self._expanded_effect(a, V) - self._expanded_effect(b, V)).sum())


def _same(c1: _Concept, c2: _Concept) -> bool:
    """PyPhi's emd_eq: same φ, mechanism, purviews and repertoires."""
    return (
        c1.phi == c2.phi
        and c1.mechanism == c2.mechanism
        and c1.cause.purview == c2.cause.purview
        and c1.effect.purview == c2.effect.purview
        and np.array_equal(c1.cause.repertoire, c2.cause.repertoire)
        and np.array_equal(c1.effect.repertoire, c2.effect.repertoire)
    )


def _ces_distance(system: _System, C1: list[_Concept], C2: list[_Concept]) -> float:
    """Extended EMD between two cause-effect structures (Oizumi et al. 2014, Text S2): the
    concepts' φ is moved between them in concept space (distance: cause EMD + effect EMD),
    surplus φ to or from the null concept. When one structure only lost (or only gained)
    concepts, each such concept moves to the null concept."""

    def to_null(c: _Concept) -> float:
        return system.cause_distance(c.cause, None) + system.effect_distance(c.effect, None)

    only1 = [c for c in C1 if not any(_same(c, d) for d in C2)]
    only2 = [c for c in C2 if not any(_same(c, d) for d in C1)]
    if not only1 or not only2:
        changed = only1 or only2
        total = sum(c.phi * to_null(c) for c in changed)
        return _round(total, like_numpy=any(c.numpy_phi for c in changed))
    m, n = len(only1), len(only2)
    eff = np.array([[system.effect_distance(a.effect, b.effect) for b in only2] for a in only1])
    cause = np.array(
        [[system.cause_distance(a.cause, b.cause, bound=True) for b in only2] for a in only1]
    )
    exact = np.array(
        [[bin(a.cause.purview | b.cause.purview).count("1") <= 4 for b in only2] for a in only1]
    )
    supply = np.array([c.phi for c in only1])
    demand = np.array([c.phi for c in only2])
    surplus = supply.sum() - demand.sum()
    supply = np.append(supply, max(-surplus, 0.0))
    demand = np.append(demand, max(surplus, 0.0))
    null1 = np.array([to_null(a) for a in only1])
    null2 = np.array([to_null(b) for b in only2])
    # Costs of pairs over more than 4 nodes start at a lower bound; the exact EMD (a linear
    # program) is computed only for pairs the optimal plan uses, until it uses exact ones only:
    # then its cost is optimal for the exact costs too.
    while True:
        cost = np.vstack([np.column_stack([cause + eff, null1]), np.append(null2, 0.0)])
        value, plan = _transport(supply, demand, cost)
        todo = np.argwhere((plan[:m, :n] > 1e-12) & ~exact)
        if not len(todo):
            return _round(value, like_numpy=False)
        for i, j in todo:
            cause[i, j] = system.cause_distance(only1[i].cause, only2[j].cause)
            exact[i, j] = True


def _cuts(k: int) -> list[tuple[int, int]]:
    """Unidirectional cuts (from, to) of a k-node system in PyPhi's order."""
    return [c for c in _directed_bipartitions((1 << k) - 1) if c[0] and c[1]]


def _cut_inputs(inputs: Sequence[int], cut: tuple[int, int]) -> tuple[int, ...]:
    src, dst = cut
    return tuple(m & ~src if dst >> j & 1 else m for j, m in enumerate(inputs))


def _strongly_connected(cm: np.ndarray) -> bool:
    k = cm.shape[0]
    if k <= 1:
        return True

    def reach(adj):
        seen, stack = {0}, [0]
        while stack:
            v = stack.pop()
            for w in np.flatnonzero(adj[v]):
                if int(w) not in seen:
                    seen.add(int(w))
                    stack.append(int(w))
        return len(seen) == k

    return reach(cm) and reach(cm.T)


# --------------------------------------------------------------------------- public functions


def _public_concept(system: _System, c: _Concept, labels) -> Concept:
    nodes = system.nodes
    ep = _bits(c.effect.purview)
    marg = np.asarray(c.effect.repertoire, dtype=np.float64)
    eff = np.ones((2,) * len(ep))
    for i, q in enumerate(marg):
        sh = [1] * len(ep)
        sh[i] = 2
        eff = eff * np.array([1 - q, q]).reshape(sh)
    cp = _bits(c.cause.purview)
    return Concept(
        mechanism=tuple(nodes[i] for i in _bits(c.mechanism)),
        phi=c.phi,
        cause_purview=tuple(nodes[i] for i in cp),
        cause_phi=c.cause.phi,
        effect_purview=tuple(nodes[i] for i in ep),
        effect_phi=c.effect.phi,
        cause_repertoire=np.asarray(c.cause.repertoire).reshape((2,) * len(cp)),
        effect_repertoire=eff,
        labels=labels,
    )


def _prepare(tpm, state, cm, nodes, node_labels):
    p_on = _as_multidimensional(tpm)
    n = p_on.shape[-1]
    st = _as_state(state, n)
    conn = _as_cm(cm, n)
    labels = _labels(node_labels, n)
    sel = _as_nodes(nodes, n)
    return p_on, conn, st, sel, labels


def _system(p_on, conn, st, sel) -> _System:
    system = _System(p_on, conn, st, sel)
    if not system.reachable():
        raise SpecError(
            f"iit state {st} cannot be reached: no previous state leads to it with nonzero "
            f"probability under the TPM (nodes {sel}, the others fixed at their state). "
            "Choose a reachable state."
        )
    return system


def _sia(system: _System, labels) -> BigPhi:
    k = system.k
    empty = BigPhi(0.0, system.nodes, system.state, None, (), (), labels)
    if k == 0 or not _strongly_connected(system.cm) or k == 1:
        return empty
    concepts = system.ces(system.inputs)
    if not concepts:
        return empty
    own = {c.mechanism for c in concepts}
    best = None
    for cut in _cuts(k):
        inputs = _cut_inputs(system.inputs, cut)
        split = [M for M in _subsets_in_order(k) if M & cut[0] and M & cut[1]]
        mechs = [M for M in _subsets_in_order(k) if M in own or M in set(split)]
        cut_concepts = system.ces(inputs, mechs)
        value = _ces_distance(system, concepts, cut_concepts)
        if best is None or value < best[0]:
            best = (value, cut, cut_concepts)
        if value == 0:
            break
    value, cut, cut_concepts = best
    nodes = system.nodes
    return BigPhi(
        phi=value,
        nodes=nodes,
        state=system.state,
        cut=Cut(tuple(nodes[i] for i in _bits(cut[0])), tuple(nodes[i] for i in _bits(cut[1]))),
        concepts=tuple(_public_concept(system, c, labels) for c in concepts),
        partitioned_concepts=tuple(_public_concept(system, c, labels) for c in cut_concepts),
        labels=labels,
    )


def phi(
    tpm: Any,
    state: Sequence[int],
    cm: Any = None,
    *,
    nodes: Sequence[int] | None = None,
    node_labels: Sequence[str] | None = None,
) -> BigPhi:
    """Integrated information Φ (IIT 3.0) of a binary system in ``state``.

    ``tpm``: state-by-node (2^n, n) with little-endian rows, multidimensional (2,)*n + (n,), or
    a conditionally independent state-by-state (2^n, 2^n) matrix. ``cm``: (n, n) connectivity,
    ``cm[i, j] = 1`` for a connection i -> j (default: all connected). ``nodes``: the system's
    nodes (default: all); the others are fixed at their state in ``state``. Raises
    :class:`~zentai.errors.SpecError` (a ValueError) for bad input, including a state that no
    previous state can lead to. See the module docstring for the conventions.
    """
    p_on, conn, st, sel, labels = _prepare(tpm, state, cm, nodes, node_labels)
    return _sia(_system(p_on, conn, st, sel), labels)


def cause_effect_structure(
    tpm: Any,
    state: Sequence[int],
    cm: Any = None,
    *,
    nodes: Sequence[int] | None = None,
    cut: Cut | None = None,
    node_labels: Sequence[str] | None = None,
) -> tuple[Concept, ...]:
    """The concepts (φ > 0) of the system, in mechanism order (size, then lexicographic);
    arguments as :func:`phi`. ``cut``: evaluate the system with this unidirectional cut applied
    (its connections replaced by noise)."""
    p_on, conn, st, sel, labels = _prepare(tpm, state, cm, nodes, node_labels)
    system = _system(p_on, conn, st, sel)
    inputs = system.inputs
    if cut is not None:
        where = {a: i for i, a in enumerate(system.nodes)}
        src, dst = tuple(cut.from_nodes), tuple(cut.to_nodes)
        if not src or not dst or any(a not in where for a in src + dst) or set(src) & set(dst):
            raise SpecError(
                f"iit cut must split the system's nodes {system.nodes} into two disjoint, "
                f"nonempty groups; got {cut}."
            )
        inputs = _cut_inputs(inputs, (_mask(where[a] for a in src), _mask(where[a] for a in dst)))
    return tuple(_public_concept(system, c, labels) for c in system.ces(inputs))


def small_phi(
    tpm: Any,
    state: Sequence[int],
    mechanism: Sequence[int],
    purview: Sequence[int],
    cm: Any = None,
    *,
    nodes: Sequence[int] | None = None,
) -> dict[str, float]:
    """Integrated information φ of ``mechanism`` over one ``purview`` (network indices): the
    distance from its cause (effect) repertoire to that of its minimum information bipartition
    (Oizumi et al. 2014, Fig. 6). Returns ``{"cause": φ_cause, "effect": φ_effect}``; no
    maximisation over purviews (see :func:`cause_effect_structure` for that)."""
    p_on, conn, st, sel, _ = _prepare(tpm, state, cm, nodes, None)
    system = _system(p_on, conn, st, sel)
    where = {a: i for i, a in enumerate(system.nodes)}
    for name, group in (("mechanism", mechanism), ("purview", purview)):
        if not len(group) or any(int(a) not in where for a in group):
            raise SpecError(
                f"iit small_phi {name} must be nonempty and within the system's nodes "
                f"{system.nodes}; got {tuple(group)!r}."
            )
    M = _mask(where[int(a)] for a in mechanism)
    P = _mask(where[int(a)] for a in purview)
    cause, _ = system.cause_phi(M, P, system.inputs)
    effect = float(system.effect_phis(M, [P], system.inputs)[0])
    return {"cause": cause, "effect": effect}


def major_complex(
    tpm: Any,
    state: Sequence[int],
    cm: Any = None,
    *,
    node_labels: Sequence[str] | None = None,
) -> BigPhi:
    """The subsystem of maximal Φ (ties: the larger, then the later in index order), searched
    over subsets of the nodes that have both inputs and outputs; subsystems whose state cannot
    be reached given the fixed outside nodes are skipped (PyPhi's ``compute.major_complex``).
    Returns a Φ = 0 result over no nodes when no subsystem is irreducible."""
    p_on, conn, st, _, labels = _prepare(tpm, state, cm, None, node_labels)
    n = len(st)
    significant = [i for i in range(n) if conn[:, i].any() and conn[i, :].any()]
    best = None
    for r in range(len(significant), 0, -1):
        for sub in itertools.combinations(significant, r):
            system = _System(p_on, conn, st, sub)
            if not system.reachable():
                continue
            result = _sia(system, labels)
            if result.phi <= 0:
                continue
            key = (result.phi, len(sub), sub)
            if best is None or key > best[0]:
                best = (key, result)
    if best is None:
        return BigPhi(0.0, (), (), None, (), (), labels)
    return best[1]
