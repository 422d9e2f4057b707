"""Turn a :class:`NetworkSpec` into a :class:`Network`: neuron layout and synapse tables.

Layout: neurons are numbered globally, grouped by (model class, receptor set) so that the engine
updates each group with one set of tensor operations; within a group, populations keep their
spec order. Synapses are stored by presynaptic neuron (CSR): ``indptr`` (N + 1), and per
synapse the input slot of the target (``target``), the weight and the delay in ms.

Input slots: group g with R receptors and n neurons owns slots
``[slot_offset_g, slot_offset_g + R n)``; receptor r of local neuron j is
``slot_offset_g + r n + j``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from zentai import rng
from zentai.build import wiring
from zentai.build.csr import delay_steps_into, expand_ranges, scatter_rows
from zentai.build.spec import NetworkSpec, Population, Projection
from zentai.build.wiring import connect, draw, slots
from zentai.connectome.rules import (
    Bernoulli,
    Constant,
    DistanceGaussian,
    Explicit,
    FixedIndegree,
    FixedTotalNumber,
    GroupBernoulli,
    OneToOne,
)
from zentai.errors import MemoryBudgetError, SpecError

__all__ = [
    "PAIRS_PER_SECOND",
    "Group",
    "Network",
    "SpecEstimate",
    "estimate",
    "estimate_synapses",
    "expected_synapses",
    "network",
]

log = logging.getLogger(__name__)

#: bytes stored per synapse: target slot (int32), weight (float32), delay (float32)
BYTES_PER_SYNAPSE = 12


@dataclass
class Group:
    """Neurons sharing one model class and receptor set (updated together by the engine)."""

    model_class: type
    receptors: tuple
    populations: list[str]
    start: int
    stop: int
    slot_offset: int
    #: parameter name -> float (shared) or float64 array (n,)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of neurons in the group."""
        return self.stop - self.start

    @property
    def n_slots(self) -> int:
        """Number of input slots (receptors x neurons)."""
        return len(self.receptors) * self.size


@dataclass
class ProjectionInfo:
    """What was built for one projection."""

    name: str
    pre: str
    post: str
    receptor: str
    n_synapses: int
    delay: Any  # the delay distribution (ms), kept to validate delays against dt


def _table(name: str) -> property:
    # a synapse table of a Network, read on the host (Network._host), set as given
    return property(
        lambda self: self._host(name), lambda self, v: self._tables.__setitem__(name, v)
    )


class Network:
    """A built network: neuron layout and synapse tables (CPU tensors until simulated).

    Attributes
    ----------
    spec : NetworkSpec
    seed : int
        Seed of every random draw of the wiring.
    pop_slices : dict of str to (int, int)
        Global [start, stop) neuron ids of each population.
    groups : list of Group
    indptr : Tensor, (n_neurons + 1,), int64
    target : Tensor, (n_synapses,), int32 — input slot of each synapse
    weight : Tensor, (n_synapses,), float32 — pA or nS by receptor
    delay_ms : Tensor, (n_synapses,), float32
        The synapse tables, on the host. A network built on a GPU keeps them there
        (:attr:`device`) until one of these attributes is read; a Simulator on that device uses
        them in place (:meth:`tables_on`), without the round trip through host memory.
    """

    _TABLES = ("indptr", "target", "weight", "delay_ms", "stp_class")

    def __init__(
        self,
        spec: NetworkSpec,
        seed: int,
        groups: list[Group],
        pop_slices: dict[str, tuple[int, int]],
        indptr: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor,
        delay_ms: torch.Tensor,
        projections: list[ProjectionInfo],
        build_s: float,
        stp_class: torch.Tensor | None = None,
        stp: list[tuple[str, str, Any]] | None = None,
        procedural: list[Any] | None = None,
        pop_offset: dict[str, int] | None = None,
        global_rows: int | None = None,
    ) -> None:
        self.spec = spec
        self.seed = seed
        self.groups = groups
        self.pop_slices = pop_slices
        self._tables = {"indptr": indptr, "target": target, "weight": weight, "delay_ms": delay_ms}
        self.projections = projections
        self.build_s = build_s
        # short-term plasticity: per synapse its class (int8; 0 static, c >= 1 the c-th entry
        # of ``stp``: (projection name, pre population, TsodyksMarkram)); None if all static
        self._tables["stp_class"] = stp_class
        self.stp = stp or []
        # projections regenerated at each spike (zentai.build.procedural), not in the tables
        self.procedural = procedural or []
        # a part of a network (zentai.distributed): each population here holds the neurons
        # [pop_offset[name], pop_offset[name] + size) of the whole network's population, the
        # rows of the synapse table are the whole network's ``global_rows`` neurons (every
        # presynaptic neuron), and targets are this part's input slots
        self.pop_offset = dict(pop_offset or {})
        self.global_rows = global_rows
        self._hash: str | None = None

    @property
    def device(self) -> torch.device:
        """Where the synapse tables are: the build's device until the host reads them."""
        return self._tables["target"].device

    def tables_on(
        self, device: str | torch.device, names: tuple[str, ...] = _TABLES
    ) -> dict[str, torch.Tensor | None]:
        """The synapse tables ``names`` (of ``indptr``, ``target``, ``weight``, ``delay_ms``,
        ``stp_class``) on ``device``: the tables themselves where they already are (do not
        modify them), copies elsewhere (from the host, moving device-resident tables there
        first)."""
        device = torch.device(device)
        if self.device.type != "cpu" and _same_device(self.device, device):
            return {k: self._tables[k] for k in names}
        out = {k: getattr(self, k) for k in names}
        return {k: None if t is None else t.to(device) for k, t in out.items()}

    def _host(self, name: str) -> torch.Tensor | None:
        t = self._tables[name]
        if t is not None and t.device.type != "cpu":
            # the host asks: every table moves there (and leaves the device's memory)
            for k, v in self._tables.items():
                self._tables[k] = None if v is None else v.cpu()
            t = self._tables[name]
        return t

    def __getstate__(self) -> dict:
        # a pickled network holds its tables on the host, wherever they were built
        state = dict(self.__dict__)
        state["_tables"] = {k: None if v is None else v.cpu() for k, v in self._tables.items()}
        return state

    indptr = _table("indptr")
    target = _table("target")
    weight = _table("weight")
    delay_ms = _table("delay_ms")
    stp_class = _table("stp_class")

    @property
    def n_neurons(self) -> int:
        """Total number of neurons (of this part, for a part of a distributed network)."""
        return self.groups[-1].stop if self.groups else 0

    @property
    def is_part(self) -> bool:
        """True for one process's part of a distributed network (rows are global neurons)."""
        return self.global_rows is not None

    @property
    def n_synapses(self) -> int:
        """Total number of synapses."""
        return int(self._tables["target"].numel())

    @property
    def n_slots(self) -> int:
        """Total number of input slots."""
        return sum(g.n_slots for g in self.groups)

    def population_group(self, name: str) -> tuple[Group, int, int]:
        """(group, local start, local stop) of population ``name`` within its group."""
        start, stop = self.pop_slices[self.spec.population(name).name]
        for g in self.groups:
            if g.start <= start and stop <= g.stop and name in g.populations:
                return g, start - g.start, stop - g.start
        raise SpecError(f"Population {name!r} is in no group.")  # pragma: no cover

    def population_of(self) -> np.ndarray:
        """Population index (spec order) of every global neuron id, (n_neurons,) int32."""
        out = np.empty(self.n_neurons, dtype=np.int32)
        for i, p in enumerate(self.spec.populations):
            a, b = self.pop_slices[p.name]
            out[a:b] = i
        return out

    def hash(self) -> str:
        """SHA-256 of the synapse tables and layout (identifies the wiring in checkpoints)."""
        if self._hash is None:
            h = hashlib.sha256()
            tables = (self.indptr, self.target, self.weight, self.delay_ms)
            if self.stp_class is not None:
                tables += (self.stp_class,)
            for t in tables:
                h.update(t.contiguous().numpy().tobytes())
            for name, pre, m in self.stp:
                h.update(f"{name}:{pre}:{m.U}:{m.tau_rec}:{m.tau_fac};".encode())
            for pp in self.procedural:
                h.update(repr(pp).encode())
            for name, (a, b) in self.pop_slices.items():
                h.update(f"{name}:{a}:{b};".encode())
            if self.is_part:
                h.update(f"part:{self.global_rows}:{sorted(self.pop_offset.items())}".encode())
            self._hash = h.hexdigest()
        return self._hash

    def summary(self) -> str:
        """A few lines: neurons, synapses, memory."""
        gib = self.n_synapses * BYTES_PER_SYNAPSE / 2**30
        return (
            f"{self.spec.name}: {self.n_neurons:,} neurons in {len(self.spec.populations)} "
            f"populations, {self.n_synapses:,} synapses ({gib:.2f} GiB), built in "
            f"{self.build_s:.2f} s"
        )

    def __repr__(self) -> str:
        return f"<Network {self.summary()}>"


# ------------------------------------------------------------------------------- helpers
def _layout(spec: NetworkSpec) -> tuple[list[Group], dict[str, tuple[int, int]]]:
    groups: list[Group] = []
    by_key: dict[tuple, Group] = {}
    members: dict[tuple, list[Population]] = {}
    for p in spec.populations:
        k = (type(p.model), p.model.receptors)
        if k not in by_key:
            by_key[k] = Group(type(p.model), p.model.receptors, [], 0, 0, 0)
            members[k] = []
            groups.append(by_key[k])
        by_key[k].populations.append(p.name)
        members[k].append(p)
    pop_slices: dict[str, tuple[int, int]] = {}
    start = 0
    slot = 0
    for g in groups:
        pops = members[(g.model_class, g.receptors)]
        g.start = start
        for p in pops:
            pop_slices[p.name] = (start, start + p.size)
            start += p.size
        g.stop = start
        g.slot_offset = slot
        slot += g.n_slots
        g.params = _group_params(pops)
    return groups, pop_slices


def _group_params(pops: list[Population]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in pops[0].model.param_names():
        parts = [
            p.params[name] if name in p.params else np.full(p.size, getattr(p.model, name))
            for p in pops
        ]
        arr = np.concatenate(parts) if parts else np.zeros(0)
        out[name] = float(arr[0]) if arr.size and np.all(arr == arr[0]) else arr
        if arr.size == 0:
            out[name] = float(getattr(pops[0].model, name))
    return out


def estimate_synapses(spec: NetworkSpec) -> int:
    """Expected number of synapses of ``spec`` (an upper bound for distance rules)."""
    return int(sum(expected_synapses(spec).values()))


def expected_synapses(spec: NetworkSpec) -> dict[str, float]:
    """Expected number of stored synapses of each projection (by name; an upper bound for
    distance rules without ``mean_indegree``; 0 for procedural ones)."""
    out = {}
    for proj in spec.projections:
        out[proj.name] = total = 0.0
        if proj.procedural:  # regenerated at each spike: nothing stored
            continue
        n_pre = spec.population(proj.pre).size
        n_post = spec.population(proj.post).size
        r = proj.rule
        if isinstance(r, FixedIndegree):
            total += r.k * n_post
        elif isinstance(r, FixedTotalNumber):
            total += r.n
        elif isinstance(r, Bernoulli):
            total += r.p * n_pre * n_post
        elif isinstance(r, DistanceGaussian):
            if r.mean_indegree is not None:
                total += r.mean_indegree * n_post
            else:
                total += r.p_max * n_pre * n_post
        elif isinstance(r, OneToOne):
            total += n_post
        elif isinstance(r, Explicit):
            total += len(r.pre_idx)
        elif isinstance(r, GroupBernoulli):
            total += float(r.expected_indegree().sum())
        out[proj.name] = total
    return out


#: measured throughput of the pairwise rules (Bernoulli, DistanceGaussian, GroupBernoulli) on
#: 2 CPU cores: 1.06e9 candidate pairs of the MOp sheet at fraction 0.1 in 9 s
PAIRS_PER_SECOND = 1.1e8


@dataclass(frozen=True)
class SpecEstimate:
    """What building a network will take, computed from descriptions alone.

    ``n_synapses`` is :func:`estimate_synapses` (or a builder's own count); ``build_bytes`` the
    synapse tables and build temporaries (``BYTES_PER_SYNAPSE`` + 20 B each); ``pairs`` the
    (pre, post) candidates the pairwise rules visit and ``build_s`` the wiring time predicted
    from :data:`PAIRS_PER_SECOND` (CPU; other rules are much cheaper and not counted; None
    where a builder does not estimate them);
    ``label`` names what is estimated in the printed line (e.g. ``"cortex"``).
    """

    n_neurons: int
    n_synapses: int
    build_bytes: int
    pairs: float | None = None
    build_s: float | None = None
    label: str = ""

    def __str__(self) -> str:
        wire = "" if self.build_s is None else f", ~{self.build_s:.0f} s to wire"
        return (
            f"{self.label + ' ' if self.label else ''}estimate: {self.n_neurons:,} neurons, "
            f"{self.n_synapses:,} synapses, {self.build_bytes / 2**30:.2f} GiB to build{wire}"
        )

    def check(self, fraction: float, memory_fraction: float = 0.8) -> None:
        """Raise :class:`MemoryBudgetError` when building needs more than ``memory_fraction``
        of the available CPU memory, naming the largest ``fraction`` that fits (synapses grow
        with fraction²: neurons x in-degree)."""
        avail = available_memory_bytes("cpu")
        if self.build_bytes > memory_fraction * avail:
            fits = fraction * math.sqrt(memory_fraction * avail / self.build_bytes)
            raise MemoryBudgetError(
                f"{self} but only {avail / 2**30:.1f} GiB are available; the largest fraction "
                f"that fits is about {fits:.3g}."
            )


def estimate(spec: NetworkSpec) -> SpecEstimate:
    """A :class:`SpecEstimate` of ``spec`` (print it before :func:`network`)."""
    n_syn = estimate_synapses(spec)
    pairs = 0.0
    for proj in spec.projections:
        if isinstance(proj.rule, (Bernoulli, DistanceGaussian, GroupBernoulli)):
            pairs += float(spec.population(proj.pre).size) * spec.population(proj.post).size
    return SpecEstimate(
        n_neurons=spec.n_neurons,
        n_synapses=n_syn,
        build_bytes=n_syn * (BYTES_PER_SYNAPSE + 20),
        pairs=pairs,
        build_s=pairs / PAIRS_PER_SECOND,
    )


def available_memory_bytes(device: torch.device | str = "cpu") -> int:
    """Memory available for new allocations on ``device`` (bytes)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - non-Linux
        pass
    return 1 << 62


def _weight_mean(proj: Projection) -> float:
    """Mean weight as a float: quantities are read as pA (current) or nS (conductance)."""
    for unit in ("pA", "nS"):
        try:
            return float(proj.weight.in_unit(unit, f"Projection {proj.name!r} weight").mean)
        except SpecError:
            continue
    raise SpecError(
        f"Projection {proj.name!r}: weight must be a current (e.g. 100 * u.pA) or a conductance "
        f"(e.g. 1 * u.nS); got {proj.weight}."
    )


def _receptor_of(proj: Projection, post: Population) -> tuple[str, int]:
    model = post.model
    name = (
        proj.receptor if proj.receptor is not None else model.default_receptor(_weight_mean(proj))
    )
    return name, model.receptor_index(name)


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type == "cuda":  # "cuda" means the current device
        cur = torch.cuda.current_device()
        return (a.index if a.index is not None else cur) == (
            b.index if b.index is not None else cur
        )
    return a.index == b.index


# ------------------------------------------------------------------------------- build
def network(
    spec: NetworkSpec,
    seed: int = 0,
    *,
    memory_fraction: float = 0.8,
    progress: bool | None = None,
    device: str | torch.device = "cpu",
    part: dict[str, tuple[int, int]] | None = None,
) -> Network:
    """Build the neuron layout and all synapses of ``spec``.

    Every random draw is keyed by (seed, projection name, postsynaptic neuron, draw index),
    so the same network comes out on any device and in any split of the neurons.

    Parameters
    ----------
    spec : NetworkSpec
    seed : int
        Seed of the wiring (weights, delays, partners).
    memory_fraction : float
        Refuse to build when the expected synapse tables exceed this fraction of the available
        memory.
    device : str
        Where partners, weights and delays are drawn and sorted into rows: ``"cpu"`` (numba
        loops) or ``"cuda"`` (tensor operations; the finished tables stay on the GPU until
        the host reads them, so a Simulator there takes them as they are). Same synapses
        either way (partners and delays in steps exactly; weights to the last bit of float32
        except where the device's ``log``/``cos`` round differently).
    part : dict of str to (int, int), optional
        Build one process's part of a distributed network (:mod:`zentai.distributed`): only
        the neurons ``[a, b)`` of each named population (all of the others) and their incoming
        synapses, whose rows are the whole network's neurons (:attr:`Network.is_part`). Every
        synapse is the whole build's: the same partners, weights and delays.

    Examples
    --------
    >>> import zentai as zt
    >>> from zentai.celltypes import LIF
    >>> from zentai.connectome import FixedIndegree
    >>> spec = zt.build.NetworkSpec(
    ...     populations=(zt.build.Population(name="E", size=100, model=LIF()),),
    ...     projections=(zt.build.Projection(pre="E", post="E", rule=FixedIndegree(10),
    ...                                      weight=20.0, delay=1.5),),
    ... )
    >>> zt.build.network(spec, seed=1).n_synapses
    1000
    """
    if not isinstance(spec, NetworkSpec):
        raise SpecError(f"build.network expects a NetworkSpec; got {type(spec).__name__}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise SpecError(f"build.network seed must be an integer; got {seed!r}.")
    seed = int(seed)
    t0 = time.perf_counter()
    names = [p.name for p in spec.projections]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SpecError(
            f"Projection names must be unique; repeated: {sorted(dup)}. Give each a name=."
        )
    from zentai.sim.engine import resolve_device

    dev = resolve_device(device)
    full_spec = spec
    _, full_slices = _layout(spec)
    n_rows = spec.n_neurons
    if part is not None:
        spec = spec.part(part)
        if any(p.procedural or p.stp is not None for p in spec.projections):
            raise SpecError(
                "Procedural projections and short-term plasticity are not supported on a "
                "distributed network yet; "
                f"found in {[p.name for p in spec.projections if p.procedural or p.stp]}."
            )
    offsets = {p.name: (part or {}).get(p.name, (0, p.size))[0] for p in full_spec.populations}
    expected = estimate_synapses(full_spec)
    if part is not None:  # about this part's share (exact for fixed in-degrees)
        expected = round(expected * spec.n_neurons / max(1, n_rows))
    need = expected * (BYTES_PER_SYNAPSE + 20)  # tables plus sort/concat temporaries
    avail = available_memory_bytes("cpu")
    if dev.type == "cuda":
        avail = min(avail, available_memory_bytes(dev))
    if need > memory_fraction * avail:
        per_syn = BYTES_PER_SYNAPSE + 20
        raise MemoryBudgetError(
            f"Network {spec.name!r} needs about {need / 2**30:.1f} GiB to build "
            f"({expected:,} synapses x {per_syn} B); only {avail / 2**30:.1f} GiB are "
            f"available. Reduce the scale (at most about "
            f"{memory_fraction * avail / need:.2f} of this one fits)."
        )
    log.info("building %s: %d neurons, ~%d synapses", spec.name, spec.n_neurons, expected)
    groups, pop_slices = _layout(spec)
    group_of_pop = {p: g for g in groups for p in g.populations}

    def slot_base(post: str, ridx: int) -> int:
        """Input slot of receptor ``ridx`` of the first neuron of population ``post``."""
        g = group_of_pop[post]
        return g.slot_offset + ridx * g.size + pop_slices[post][0] - g.start

    # pass 1: partners of every projection (kept as int32, or as the numbers they are drawn
    # from), and the row sizes
    fused = dev.type == "cpu" and wiring._compiled() is not None  # compiled CPU passes
    n = n_rows
    parts = []
    counts = torch.zeros(n, dtype=torch.int64, device=dev)
    infos = []
    procedural = []
    for proj in spec.projections:
        pre_pop = full_spec.population(proj.pre)
        post_pop = full_spec.population(proj.post)
        post_a = offsets[post_pop.name]
        post_range = (post_a, post_a + spec.population(proj.post).size)
        rname, ridx = _receptor_of(proj, post_pop)
        key = rng.key(seed, "projection", proj.name)
        if proj.procedural:
            base = slot_base(post_pop.name, ridx)
            procedural.append(
                _procedural(proj, key, pop_slices[pre_pop.name], post_pop, ridx, base)
            )
            infos.append(ProjectionInfo(proj.name, proj.pre, proj.post, rname, 0, proj.delay))
            continue
        pre_rows = (full_slices[pre_pop.name][0], pre_pop.size)  # first row, number of rows
        pre0 = pre_rows[0]
        args = (proj.rule, pre_pop.size, post_pop.size, key)
        kw = {
            "post_range": None if part is None else post_range,
            "self_connection": proj.pre == proj.post,
        }
        plan = wiring.per_post_draws(*args, **kw) if fused else None
        if plan is not None:  # drawn again in pass 2: no partner arrays (8 B per synapse)
            wiring.count_rows(plan, pre0, counts)
            parts.append((proj, ridx, plan, pre_rows))
            n_proj = plan.n
        else:
            pre_l, post_l = connect(
                *args,
                pre_positions=pre_pop.positions,
                post_positions=post_pop.positions,
                post_normals=post_pop.normals,
                device=dev,
                index_dtype=torch.int32,  # n < 2**31: rows and slots fit; half the memory
                **kw,
            )
            counts[pre0 : pre0 + pre_pop.size] += torch.bincount(pre_l, minlength=pre_pop.size)
            parts.append((proj, ridx, (pre_l, post_l), pre_rows))
            n_proj = int(post_l.numel())
            del pre_l, post_l
        infos.append(ProjectionInfo(proj.name, proj.pre, proj.post, rname, n_proj, proj.delay))
    indptr = torch.zeros(n + 1, dtype=torch.int64, device=dev)
    torch.cumsum(counts, 0, out=indptr[1:])
    n_syn = int(indptr[-1])
    target = torch.empty(n_syn, dtype=torch.int32, device=dev)
    weight = torch.empty(n_syn, dtype=torch.float32, device=dev)
    delay = torch.empty(n_syn, dtype=torch.float32, device=dev)
    cursor = indptr[:-1].clone()
    stp = [(p.name, p.pre, p.stp) for p in spec.projections if p.stp is not None]
    if len(stp) > 127:
        raise SpecError(f"At most 127 projections may have short-term plasticity; got {len(stp)}.")
    stp_class = torch.zeros(n_syn, dtype=torch.int8, device=dev) if stp else None
    stp_ids = {name: c + 1 for c, (name, _, _) in enumerate(stp)}
    # pass 2: weights and delays (keyed by post neuron and its synapse index), placed by row
    while parts:
        proj, ridx, synapses, pre_rows = parts.pop(0)
        post_pop = spec.population(proj.post)
        rec = post_pop.model.receptors[ridx]
        key = rng.key(seed, "projection", proj.name)
        wdist = proj.weight.in_unit(rec.weight_unit, f"Projection {proj.name!r} weight")
        base = slot_base(post_pop.name, ridx)
        off = offsets[post_pop.name]  # a part's slots count its neurons from its first one
        before = cursor.clone() if proj.name in stp_ids else None
        if fused:  # the same tables in one compiled pass, without per-synapse temporaries
            d_min = wiring.draw_into_rows(
                synapses, pre_rows, off, base, wdist, proj.delay, key, cursor, target, weight, delay
            )
        else:
            pre_l, post_l = synapses
            post64 = post_l.to(torch.int64)
            k = slots(post64)
            w = draw(wdist, rng.key(key, "weight"), post64, k)
            d = draw(proj.delay, rng.key(key, "delay"), post64, k)
            del k, post64
            d_min = float(d.min()) if d.numel() else math.inf
            post_l -= off
            pre_l += pre_rows[0]
            scatter_rows(pre_l, post_l, base, w, d, cursor, target, weight, delay)
            del w, d, pre_l, post_l
        del synapses
        if not d_min > 0:
            raise SpecError(
                f"Projection {proj.name!r}: delays must be positive; the delay distribution "
                f"{proj.delay} gave {d_min} ms. Set a lower bound (low=...)."
            )
        if before is not None:  # the part's synapses sit in [before, cursor) of each row
            _, pos = expand_ranges(before, cursor - before)
            stp_class[pos] = stp_ids[proj.name]
    net = Network(
        spec,
        seed,
        groups,
        pop_slices,
        indptr,
        target,
        weight,
        delay,
        infos,
        time.perf_counter() - t0,
        stp_class,
        stp,
        procedural,
        pop_offset=None if part is None else offsets,
        global_rows=None if part is None else n_rows,
    )
    log.info(net.summary())
    return net


def _procedural(proj, key, pre_slice, post_pop, ridx, slot_base):
    from zentai.build.procedural import ProceduralProjection, params_of, segment_length

    rec = post_pop.model.receptors[ridx]
    owner = f"Projection {proj.name!r}"
    return ProceduralProjection(
        name=proj.name,
        pre_start=pre_slice[0],
        pre_stop=pre_slice[1],
        n_post=post_pop.size,
        slot_base=slot_base,
        p=float(proj.rule.p),
        w=params_of(proj.weight, f"{owner}.weight", rec.weight_unit),
        d=params_of(proj.delay, f"{owner}.delay", "ms"),
        key_conn=rng.key(key, "procedural"),
        key_weight=rng.key(key, "weight"),
        key_delay=rng.key(key, "delay"),
        seg=segment_length(float(proj.rule.p)),
    )


def delay_steps(net: Network, dt: float) -> torch.Tensor:
    """Delays in whole steps of ``dt`` (int16 when they fit), validated, on the tables' device.

    Constant delays must be multiples of ``dt`` and at least ``dt``; drawn delays are rounded to
    the grid and raised to one step (as NEST does for its delay distributions).
    """
    for info in net.projections:
        d = info.delay
        if isinstance(d, Constant):
            ratio = float(d.value) / dt
            if ratio < 1 - 1e-9:
                raise SpecError(
                    f"Projection {info.name!r}: delay must be at least the time step dt = {dt} "
                    f"ms; got {float(d.value)} ms."
                )
            if abs(ratio - round(ratio)) > 1e-6:
                raise SpecError(
                    f"Projection {info.name!r}: delay must be a multiple of the time step dt = "
                    f"{dt} ms; got {float(d.value)} ms (nearest: {round(ratio) * dt:g} ms)."
                )
    d = net._tables["delay_ms"]  # where the tables are (a GPU build's stay there)
    d_max = float(d.max()) if d.numel() else 0.0
    if not math.isfinite(d_max):  # pragma: no cover
        raise SpecError("non-finite delay")
    # int16 holds delays up to 3276 ms at dt = 0.1 ms; check the bound before converting
    fits16 = d_max / dt < 2**15 - 1
    out = torch.empty(d.numel(), dtype=torch.int16 if fits16 else torch.int32, device=d.device)
    delay_steps_into(d, dt, out)
    return out
