"""Split a network's neurons over R processes by spatial tiles (MONET style).

MONET (Igarashi et al. 2019, Front. Neuroinform. 13:71; Yamaura et al. 2020) cuts the layered
sheets into tiles of the brain surface and gives each MPI rank whole tiles, so that the dense
local wiring stays inside a rank and only spike ids cross ranks. Here a **tile** is

* for populations with soma positions: a slab of ``tile_um`` along the first (anterior-posterior)
  axis, so one tile holds every population's neurons of that slab (all layers, all cell
  types). Atlas builds place neurons voxel by voxel in voxel-index order, AP first, so a slab's
  neurons are one contiguous run of each population;
* for populations without positions (point models such as the microcircuit): a block of
  ``1 / n_tiles`` of each population's index range.

Rank r receives a contiguous run of tiles and, in every population, the contiguous range of
neurons in those tiles; a rank then builds its neurons' incoming synapses only
(:func:`zentai.build.network` with ``part=``). Runs are cut where the running cost reaches
r / R of the total; the cost of a tile is an estimate of its share of the work per step,

    cost = neurons + synapse_weight x incoming synapses,

``synapse_weight`` 2.5e-4 by default: a neuron update costs about two synaptic event
deliveries, and a synapse carries ~5e-4 events per 0.1 ms step at 5 Hz (both order-of-magnitude
figures from the engine's profile, docs/design/engine.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zentai.build.network import expected_synapses
from zentai.build.spec import NetworkSpec
from zentai.errors import SpecError

__all__ = ["Partition", "partition"]

#: default tile thickness along AP for positioned populations: one CCF voxel plane (100 µm)
TILE_UM = 100.0
#: default number of index tiles for populations without positions
INDEX_TILES = 256


@dataclass(frozen=True)
class Partition:
    """Which neurons each of ``n_ranks`` processes owns.

    Attributes
    ----------
    n_ranks : int
    n_tiles : int
    kind : str
        ``"spatial"`` (AP slabs of ``tile_um``), ``"index"`` (blocks of each population) or
        ``"mixed"``.
    tile_um : float or None
    tiles : tuple of (int, int)
        Tiles ``[a, b)`` of each rank.
    ranges : tuple of dict
        Per rank: population -> its neurons ``[a, b)`` (indices within the population).
    neurons, synapses : tuple of int
        Per rank: neurons and expected incoming synapses.
    cost : tuple of float
        Per rank: the balanced cost (module docstring).
    """

    n_ranks: int
    n_tiles: int
    kind: str
    tile_um: float | None
    tiles: tuple[tuple[int, int], ...]
    ranges: tuple[dict[str, tuple[int, int]], ...]
    neurons: tuple[int, ...]
    synapses: tuple[int, ...]
    cost: tuple[float, ...]

    @property
    def imbalance(self) -> float:
        """Largest rank cost over the mean (1 = perfect balance)."""
        mean = sum(self.cost) / self.n_ranks
        return max(self.cost) / mean if mean > 0 else 1.0

    def __str__(self) -> str:
        lines = [
            f"{self.n_ranks} ranks over {self.n_tiles} {self.kind} tiles"
            + (f" of {self.tile_um:g} µm" if self.tile_um else "")
            + f" (imbalance {self.imbalance:.3f})"
        ]
        for r in range(self.n_ranks):
            a, b = self.tiles[r]
            lines.append(
                f"  rank {r}: tiles [{a}, {b}), {self.neurons[r]:,} neurons, "
                f"~{self.synapses[r]:,} synapses"
            )
        return "\n".join(lines)


def partition(
    spec: NetworkSpec,
    n_ranks: int,
    *,
    tile_um: float = TILE_UM,
    n_tiles: int = INDEX_TILES,
    synapse_weight: float = 2.5e-4,
) -> Partition:
    """Split ``spec`` over ``n_ranks`` processes by tiles (see the module docstring).

    The result depends only on the spec and these arguments, so every rank computes the same
    partition without communicating.

    Examples
    --------
    >>> from zentai.build.microcircuit import microcircuit
    >>> p = partition(microcircuit(0.02), 2)
    >>> p.kind, sum(p.neurons) == microcircuit(0.02).n_neurons
    ('index', True)
    """
    if isinstance(n_ranks, bool) or not isinstance(n_ranks, (int, np.integer)) or n_ranks < 1:
        raise SpecError(f"partition: the number of ranks must be an integer >= 1; got {n_ranks!r}.")
    if not (isinstance(tile_um, (int, float)) and math.isfinite(tile_um) and tile_um > 0):
        raise SpecError(f"partition: tile_um must be a positive length in µm; got {tile_um!r}.")
    if isinstance(n_tiles, bool) or not isinstance(n_tiles, (int, np.integer)) or n_tiles < 1:
        raise SpecError(f"partition: n_tiles must be an integer >= 1; got {n_tiles!r}.")
    pops = [p for p in spec.populations if p.size > 0]
    spatial = [p for p in pops if p.positions is not None and _sorted_slabs(p, tile_um)]
    names = {p.name for p in spatial}
    # tile of every neuron: spatial slabs first (counted from the most anterior soma), then the
    # index blocks of the others
    if spatial:
        slab = {p.name: np.floor(p.positions[:, 0] / tile_um).astype(np.int64) for p in spatial}
        s0 = min(int(s.min()) for s in slab.values())
        slab = {k: s - s0 for k, s in slab.items()}
        n_spatial = int(max(int(s.max()) for s in slab.values())) + 1
    else:
        slab, n_spatial = {}, 0
    n_index = int(n_tiles) if len(names) < len(pops) else 0
    if n_spatial and n_index:
        # index populations follow the slabs: block t of them goes with slab t
        n_index = n_spatial
    T = max(n_spatial, n_index)
    kind = "spatial" if not n_index else ("index" if not n_spatial else "mixed")
    if n_ranks > T:
        raise SpecError(
            f"partition: {n_ranks} ranks but the network has only {T} {kind} tiles; use at most "
            f"{T} ranks, or smaller tiles ("
            + ("tile_um" if n_spatial else "n_tiles")
            + f" = {tile_um if n_spatial else n_tiles})."
        )
    indeg = _mean_indegree(spec)
    tile_n = np.zeros(T)
    tile_s = np.zeros(T)
    bounds: dict[str, np.ndarray] = {}  # per population: first neuron of each tile, (T + 1,)
    for p in pops:
        if p.name in names:
            b = np.searchsorted(slab[p.name], np.arange(T + 1), side="left")
        else:
            b = -((-np.arange(T + 1) * p.size) // T)  # ceil(t n / T)
        bounds[p.name] = b
        counts = np.diff(b)
        tile_n += counts
        tile_s += counts * indeg.get(p.name, 0.0)
    cost = tile_n + synapse_weight * tile_s
    cuts = _cut(cost, n_ranks)
    ranges = []
    for r in range(n_ranks):
        a, b = cuts[r], cuts[r + 1]
        rng_r = {}
        for p in spec.populations:
            if p.size == 0:
                rng_r[p.name] = (0, 0)
            else:
                bb = bounds[p.name]
                rng_r[p.name] = (int(bb[a]), int(bb[b]))
        ranges.append(rng_r)
    return Partition(
        n_ranks=int(n_ranks),
        n_tiles=T,
        kind=kind,
        tile_um=float(tile_um) if n_spatial else None,
        tiles=tuple((int(cuts[r]), int(cuts[r + 1])) for r in range(n_ranks)),
        ranges=tuple(ranges),
        neurons=tuple(int(tile_n[cuts[r] : cuts[r + 1]].sum()) for r in range(n_ranks)),
        synapses=tuple(round(float(tile_s[cuts[r] : cuts[r + 1]].sum())) for r in range(n_ranks)),
        cost=tuple(float(cost[cuts[r] : cuts[r + 1]].sum()) for r in range(n_ranks)),
    )


def _sorted_slabs(pop, tile_um: float) -> bool:
    """Whether the population's neurons run in non-decreasing AP order (so every slab is one
    contiguous range); populations that do not are split by index blocks instead."""
    return bool(np.all(np.diff(np.floor(np.asarray(pop.positions)[:, 0] / tile_um)) >= 0))


def _mean_indegree(spec: NetworkSpec) -> dict[str, float]:
    """Expected incoming synapses per neuron of each population."""
    per_pop: dict[str, float] = {}
    expected = expected_synapses(spec)
    for proj in spec.projections:
        per_pop[proj.post] = per_pop.get(proj.post, 0.0) + expected[proj.name]
    return {k: v / max(1, spec.population(k).size) for k, v in per_pop.items()}


def _cut(cost: np.ndarray, R: int) -> np.ndarray:
    """R + 1 tile boundaries: rank r gets [cut[r], cut[r+1]), at least one tile each, cut
    where the running cost comes closest to r / R of the total."""
    T = cost.size
    cum = np.concatenate([[0.0], np.cumsum(cost)])
    total = cum[-1]
    cuts = [0]
    for r in range(1, R):
        t = int(np.argmin(np.abs(cum - r * total / R)))
        t = max(t, cuts[-1] + 1)  # every rank at least one tile
        t = min(t, T - (R - r))  # leave one for every later rank
        cuts.append(t)
    cuts.append(T)
    return np.asarray(cuts)
