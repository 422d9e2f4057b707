"""Size a distributed run before submitting it: neurons, synapses, memory and traffic per rank.

:func:`plan` predicts, for R ranks, each rank's peak memory and the spike traffic per step, and
the smallest R whose ranks fit a given device memory. It works from a spec (exact per-population
sizes, expected synapses from the connection rules, the real tile partition) or from a
:class:`Census` of counts (the whole mouse brain at full density, :func:`whole_brain`), where
building even the spec would be the problem.

Memory model of one rank (bytes; N: neurons of the whole network, n and s: the rank's neurons
and incoming synapses, s_max: its largest projection, slots: n x receptors, D: ring rows,
B: members, e: 4 for float32, 8 for float64). Every term follows an allocation in the code:

* process baseline (Python, torch, numba kernels): :data:`BASE_BYTES` (measured, 2 cores, CPU);
* the spec on every rank: 48 B per positioned neuron of the whole network (positions + normals);
* build peak: 24 N (row counts, offsets, cursors over *all* neurons) + 20 s (int32 partners of
  every projection kept until placement, plus the 12 B tables) + 32 s_max (the largest
  projection's int64 partners, slots and draws while it is placed);
* simulation: 12 s (tables) + 2 s (delays in steps) + 8 N (row offsets) + D B slots e (ring
  buffer) + B n (6 e + 21) (states, spike flags and lists of the compiled loop);
* on a GPU (``device="cuda"``) the device holds 10 s + 8 N + ring + states, the host the tables.

Peak = baseline + spec + max(build peak, simulation). Traffic: every rank receives every
rank's buffer at each exchange, (cap + 1) x 8 B each, cap = the next power of two above twice
the expected spikes per rank and interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from zentai.build.spec import NetworkSpec
from zentai.connectome.rules import Constant, Normal, Uniform
from zentai.errors import SpecError

__all__ = [
    "BASE_BYTES",
    "Census",
    "Plan",
    "RankPlan",
    "parse_bytes",
    "peak_rss",
    "plan",
    "whole_brain",
]

#: resident memory of a process that imported zentai and torch and loaded the compiled kernels
#: (measured: 0.40 GiB after imports on the 2-core CI machine, 0.45 GiB after a first run)
BASE_BYTES = int(0.45 * 2**30)
#: GPU: CUDA context and torch's allocator reserve on top of the tensors (typical, H100)
CUDA_CONTEXT_BYTES = int(0.6 * 2**30)


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux VmHWM, which starts afresh at exec;
    getrusage's ru_maxrss is inherited by a spawned child from its parent, so it reports the
    parent's peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # pragma: no cover


def parse_bytes(text: Any) -> int:
    """``"80GB"``, ``"80 GiB"``, ``"512MB"``, or a number of bytes -> bytes (GB = GiB = 2^30
    here, as device memory is quoted)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise SpecError(f"a memory size must be positive; got {text!r}.")
        return int(text)
    s = str(text).strip().upper().replace(" ", "")
    for suffix, mult in (("TIB", 2**40), ("TB", 2**40), ("GIB", 2**30), ("GB", 2**30),
                         ("MIB", 2**20), ("MB", 2**20), ("KB", 2**10), ("B", 1)):  # fmt: skip
        if s.endswith(suffix):
            try:
                value = float(s[: -len(suffix)])
            except ValueError:
                break
            if value > 0 and math.isfinite(value):
                return int(value * mult)
            break
    raise SpecError(f"a memory size must look like '80GB', '512MB' or a byte count; got {text!r}.")


@dataclass(frozen=True)
class Census:
    """Counts without a spec: per class of neurons (name, neurons, incoming synapses per
    neuron, receptors, positioned), with the sources and assumptions behind them."""

    name: str
    classes: tuple[tuple[str, float, float, int, bool], ...]
    max_delay_ms: float
    sources: tuple[str, ...] = ()

    @property
    def n_neurons(self) -> float:
        return sum(c[1] for c in self.classes)

    @property
    def n_synapses(self) -> float:
        return sum(c[1] * c[2] for c in self.classes)


def whole_brain(fraction: float = 1.0) -> Census:
    """The whole mouse brain at ``fraction`` of its density, from published counts.

    Neurons (Herculano-Houzel, Mota & Lent 2006, PNAS 103:12138, Table 1, mouse): cerebral
    cortex 13.7 M, cerebellum 42.0 M, rest of brain 12.2 M. Synapses per neuron: cortex 7,800
    (Braitenberg & Schüz 1998, "Cortex", 7.2e8 synapses and 9.2e4 neurons per mm³ of mouse
    cortex); cerebellar granule cells 8 (4 mossy-fibre and ~4 Golgi inputs, Eccles, Ito &
    Szentágothai 1967); Purkinje cells 175,000 (parallel-fibre synapses, Napper & Harvey 1988,
    rat) for 0.2 M Purkinje cells (assumption: ~0.5 % of cerebellar neurons); other
    cerebellar and the rest of the brain's neurons 5,000 (assumption). In-degrees scale with
    ``fraction`` (fixed connection probabilities), neurons with ``fraction``. Largest delay
    20 ms (long-range axons; assumption).
    """
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise SpecError(f"whole_brain fraction must be in (0, 1]; got {fraction!r}.")
    f = float(fraction)
    classes = (
        ("cortex", 13.7e6 * f, 7800 * f, 2, True),
        ("cerebellar granule", 41.0e6 * f, 8 * f, 2, True),
        ("Purkinje", 0.2e6 * f, 175_000 * f, 2, True),
        ("other cerebellar", 0.8e6 * f, 5000 * f, 2, True),
        ("rest of brain", 12.2e6 * f, 5000 * f, 2, True),
    )
    return Census(
        name=f"whole mouse brain at fraction {f:g}",
        classes=classes,
        max_delay_ms=20.0,
        sources=(
            "neurons: Herculano-Houzel, Mota & Lent 2006 (PNAS 103:12138), mouse",
            "cortex 7,800 synapses/neuron: Braitenberg & Schüz 1998",
            "Purkinje 175,000 parallel-fibre synapses: Napper & Harvey 1988 (rat)",
            "granule 8 inputs: Eccles, Ito & Szentágothai 1967",
            "5,000 synapses/neuron elsewhere, 0.2 M Purkinje cells, 20 ms largest delay: "
            "assumptions",
        ),
    )


@dataclass(frozen=True)
class RankPlan:
    """One rank's share and predicted memory (bytes)."""

    neurons: int
    synapses: int
    build_bytes: int
    sim_bytes: int
    peak_bytes: int
    device_bytes: int | None = None


@dataclass(frozen=True)
class Plan:
    """Prediction for one network on ``ranks`` ranks (see the module docstring)."""

    name: str
    n_neurons: int
    n_synapses: int
    ranks: int
    device: str
    per_rank: tuple[RankPlan, ...]
    spikes_per_step: float
    bytes_per_step: float
    interval_steps: int
    device_memory: int | None
    smallest_ranks: int | None
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def max_peak(self) -> int:
        return max(r.peak_bytes for r in self.per_rank)

    @property
    def max_device(self) -> int | None:
        d = [r.device_bytes for r in self.per_rank if r.device_bytes is not None]
        return max(d) if d else None

    def __str__(self) -> str:
        gib = 2**30
        worst = max(self.per_rank, key=lambda r: r.peak_bytes)
        lines = [
            f"{self.name}: {self.n_neurons:,} neurons, {self.n_synapses:.3g} synapses",
            f"{self.ranks} ranks on {self.device}: per rank (largest) {worst.neurons:,} neurons, "
            f"{worst.synapses:.3g} synapses",
            f"  host memory per rank: peak {self.max_peak / gib:.2f} GiB (build "
            f"{worst.build_bytes / gib:.2f}, simulation {worst.sim_bytes / gib:.2f}, plus "
            f"baseline and spec)",
        ]
        if self.max_device is not None:
            lines.append(f"  device memory per rank: {self.max_device / gib:.2f} GiB")
        lines.append(
            f"  spikes per step (all ranks): {self.spikes_per_step:,.1f}; received per rank "
            f"and step: {self.bytes_per_step / 1024:,.1f} KiB (exchange every "
            f"{self.interval_steps} step{'s' if self.interval_steps > 1 else ''})"
        )
        if self.device_memory is not None:
            have = self.device_memory / gib
            if self.smallest_ranks is None:
                lines.append(f"  no number of ranks fits {have:.0f} GiB per rank")
            else:
                lines.append(
                    f"  smallest number of ranks that fits {have:.0f} GiB per rank (90 % "
                    f"usable): {self.smallest_ranks}"
                )
        lines += [f"  assumption: {a}" for a in self.assumptions]
        return "\n".join(lines)


def _max_delay_ms(spec: NetworkSpec) -> float:
    out = 0.0
    for p in spec.projections:
        d = p.delay
        if isinstance(d, Constant):
            out = max(out, float(d.value))
        elif isinstance(d, Normal):
            out = max(
                out, float(d.high) if d.high is not None else float(d.mu) + 5 * float(d.sigma)
            )
        elif isinstance(d, Uniform):
            out = max(out, float(d.high))
    return out


def _rank_memory(
    N: int, n: float, s: float, s_max: float, slots: float, D: int, B: int, e: int,
    spec_bytes: float, gpu: bool,
) -> RankPlan:  # fmt: skip
    build = 24 * N + 20 * s + 32 * s_max
    ring = D * B * slots * e
    states = B * n * (6 * e + 21)
    if gpu:
        sim = 12 * s  # host copy of the tables
        device = 10 * s + 8 * N + ring + states + CUDA_CONTEXT_BYTES
    else:
        sim = 14 * s + 8 * N + ring + states
        device = None
    peak = BASE_BYTES + spec_bytes + max(build, sim)
    return RankPlan(
        neurons=round(n),
        synapses=round(s),
        build_bytes=int(build),
        sim_bytes=int(sim),
        peak_bytes=int(peak),
        device_bytes=None if device is None else int(device),
    )


def plan(
    network: NetworkSpec | Census,
    ranks: int,
    *,
    device: str = "cpu",
    device_memory: Any = None,
    dt: float = 0.1,
    rate_hz: float = 5.0,
    n_ensembles: int = 1,
    dtype: str = "float32",
    max_ranks: int = 100_000,
    **tiling: Any,
) -> Plan:
    """Predict memory and traffic of ``network`` on ``ranks`` ranks (module docstring).

    ``device_memory`` (e.g. ``"80GB"``): memory per rank to fit (the GPU's on ``"cuda"``,
    the host's share otherwise); the plan then names the smallest number of ranks that fits
    with 10 % to spare. ``rate_hz``: assumed mean firing rate for the traffic.
    """
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
        raise SpecError(f"plan: ranks must be an integer >= 1; got {ranks!r}.")
    if dtype not in ("float32", "float64"):
        raise SpecError(f"plan: dtype must be 'float32' or 'float64'; got {dtype!r}.")
    gpu = str(device).startswith("cuda")
    e = 4 if dtype == "float32" else 8
    B = int(n_ensembles)
    mem = None if device_memory is None else parse_bytes(device_memory)
    assumptions = [f"mean rate {rate_hz:g} Hz for the traffic"]
    if isinstance(network, Census):
        N = round(network.n_neurons)
        S = network.n_synapses
        D = math.ceil(network.max_delay_ms / dt) + 1
        d_min = 1
        rec = sum(c[1] * c[3] for c in network.classes) / max(N, 1)
        s_max_share = 0.1
        spec_bytes = 48 * sum(c[1] for c in network.classes if c[4])
        imbalance = 1.05
        assumptions += [
            *network.sources,
            "tiles balance the ranks to within 5 %; no projection holds more than 10 % of a "
            "rank's synapses",
        ]

        def shares(R: int) -> list[tuple[float, float, float]]:
            n, s = N / R * imbalance, S / R * imbalance
            return [(n, s, s * s_max_share)]

        name = network.name
    elif isinstance(network, NetworkSpec):
        from zentai.build.network import expected_synapses
        from zentai.distributed.partition import partition

        spec = network
        N = spec.n_neurons
        exp = expected_synapses(spec)
        S = sum(exp.values())
        D = math.ceil(_max_delay_ms(spec) / dt) + 1
        mins = [float(p.delay.value) for p in spec.projections if isinstance(p.delay, Constant)]
        d_min = max(1, round(min(mins) / dt)) if mins and len(mins) == len(spec.projections) else 1
        rec = sum(p.size * len(p.model.receptors) for p in spec.populations) / max(N, 1)
        spec_bytes = sum(48 * p.size for p in spec.populations if p.positions is not None)
        post_share: dict[str, float] = {}
        biggest: dict[str, float] = {}
        for p in spec.projections:
            post_share[p.post] = post_share.get(p.post, 0.0) + exp[p.name]
            biggest[p.post] = max(biggest.get(p.post, 0.0), exp[p.name])

        def shares(R: int) -> list[tuple[float, float, float]]:
            part = partition(spec, R, **tiling)
            out = []
            for r in range(R):
                n = s = s_max = 0.0
                for p in spec.populations:
                    a, b = part.ranges[r][p.name]
                    frac = (b - a) / p.size if p.size else 0.0
                    n += b - a
                    s += frac * post_share.get(p.name, 0.0)
                    s_max = max(s_max, frac * biggest.get(p.name, 0.0))
                out.append((n, s, s_max))
            return out

        name = spec.name
    else:
        raise SpecError(
            f"plan expects a NetworkSpec or a Census (e.g. whole_brain()); got "
            f"{type(network).__name__}."
        )

    def ranks_plan(R: int) -> list[RankPlan]:
        return [
            _rank_memory(N, n, s, s_max, n * rec, D, B, e, spec_bytes, gpu)
            for n, s, s_max in shares(R)
        ]

    per_rank = ranks_plan(ranks)
    spikes = N * rate_hz * dt / 1000.0 * B
    interval = d_min
    per_rank_interval = spikes * interval / ranks
    cap = 1 << max(6, math.ceil(math.log2(max(2.0 * per_rank_interval, 1.0))))
    bytes_per_step = ranks * (cap + 1) * 8 / interval
    smallest = None
    if mem is not None:
        usable = 0.9 * mem

        def fits(R: int) -> bool:
            try:
                rp = ranks_plan(R)
            except SpecError:  # more ranks than tiles
                return False
            need = max((r.device_bytes if gpu else r.peak_bytes) or 0 for r in rp)
            return need <= usable

        limit = max_ranks if isinstance(network, Census) else min(max_ranks, N)
        R = 1
        while limit > R and not fits(R):  # doubling, then bisection (memory falls with R)
            R = min(2 * R, limit)
        if fits(R):
            lo, hi = (R // 2 + 1, R) if R > 1 else (1, 1)
            while lo < hi:
                mid = (lo + hi) // 2
                if fits(mid):
                    hi = mid
                else:
                    lo = mid + 1
            smallest = hi
    return Plan(
        name=name,
        n_neurons=int(N),
        n_synapses=int(S),
        ranks=ranks,
        device="cuda" if gpu else "cpu",
        per_rank=tuple(per_rank),
        spikes_per_step=spikes,
        bytes_per_step=bytes_per_step,
        interval_steps=interval,
        device_memory=mem,
        smallest_ranks=smallest,
        assumptions=tuple(assumptions),
    )
