"""The engine: state tensors, the time step loop, spike delivery through a delay ring buffer.

Shapes: B ensemble members ("brains" with the same wiring), N neurons, S input slots
(receptors x neurons, see :mod:`zentai.build.network`), D ring-buffer rows (max delay + 1).

* ``buf`` (D, B, S): weights that arrive at each input slot in each of the next D steps.
* A spike of neuron i emitted in step t is delivered over i's CSR row: for each synapse,
  ``buf[(t + d) % D, b, target] += w``. Row ``t % D`` is read in step t and cleared.
* Neuron groups (one model class each) are stepped by their :class:`Dynamics`.

Random numbers (Poisson input, initial states) come from :mod:`zentai.rng`, keyed by
(member seed, purpose, neuron, step); nothing depends on a stateful generator, so a checkpoint
needs no RNG state and CPU and CUDA draw the same numbers.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import os
import time
import warnings
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from zentai import rng
from zentai import units as u
from zentai.build.csr import row_synapses
from zentai.build.network import (
    Network,
    available_memory_bytes,
    delay_steps,
)
from zentai.build.wiring import draw
from zentai.celltypes import LIF, LIFAHP, AdEx, Izhikevich2003, Izhikevich2007, LIFCond
from zentai.errors import (
    DeviceError,
    MemoryBudgetError,
    RunawayWarning,
    SimulationError,
    SpecError,
    closest,
)
from zentai.options import get_option
from zentai.record.recorders import PopulationRate, Spikes, StateMonitor
from zentai.record.result import Result
from zentai.sim.models import dynamics_for
from zentai.stim import DC, PoissonInput, SpikeTrain

__all__ = ["Simulator", "resolve_device", "run"]

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
#: neuron models of the compiled CPU loop -> the code its kernel dispatches on
COMPILED_MODELS = {LIF: 0, Izhikevich2007: 1, LIFAHP: 2, AdEx: 3, Izhikevich2003: 4, LIFCond: 5}
# the second state variable of a model in the compiled loop's network-wide array ``u``
SECOND_STATE = {Izhikevich2007: "u", LIFAHP: "s_ahp", AdEx: "w", Izhikevich2003: "u"}
#: the compiled loop moves to all cores from this many synapses (x members) on
AUTO_THREADS_MIN_SYNAPSES = 50_000_000
#: ... or, without member blocks, from this much estimated work per step (x members; ns, by
#: :meth:`Simulator._compiled_costs`): the microcircuit at scale 0.3 (~180 µs) gained nothing
#: clear on 2 cores (1.08 / 1.11 s on 1 thread, 0.95 / 1.19 s on 2), at scale 0.1 (~60 µs)
#: it lost (22 vs 25 µs per step); brain networks gain from ~400 µs: the scan-opto network
#: (24,172 neurons) 1.7x, cbgc-pulse's (34,310) 1.6x, with the threads' shares equal in cost
#: (session 18; benchmarks/RESULTS.md)
AUTO_THREADS_MIN_WORK_NS = 250_000
#: what a Poisson draw and a slot's clearing and binning cost per step (ns, 2-core VM; the
#: scan-opto network's 50,392 entries took 218 µs in all, session 18)
POISSON_DRAW_NS, SLOT_NS = 4.0, 0.4
# ensembles from this size run in member blocks (zentai.sim.cpu_blocks) on the compiled backend
BLOCK_MIN_MEMBERS = 8
# shortest call of the compiled backend that runs in member blocks (a block's set-up, ~3 ms at
# 10,000 neurons and 32 lanes, costs a few of its steps)
BLOCK_MIN_STEPS = 8
# most spikes (entries) one chunk of the Triton backend may have to record
REC_LIMIT = 1 << 25
# the compiled loop's event bins grow until they hold this many bytes (by doubling: up to twice
# as many; or one spike's events per arrival row, if more), the member blocks' bins (all
# together) to at most this many; a step with more events is binned in batches
BIN_LIMIT_BYTES = 1 << 29


def resolve_device(device: str | torch.device) -> torch.device:
    """Validate a device string; ``"cuda"`` without a GPU raises :class:`DeviceError`."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device={str(device)!r} requested, but no CUDA device is available to this "
                f"torch build ({torch.__version__}). Use device='cpu'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device={str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) exist."
            )
    elif dev.type != "cpu":
        raise DeviceError(f"device must be 'cpu' or 'cuda'; got {device!r}.")
    return dev


def _resolve_dtype(dtype: Any) -> torch.dtype:
    table = {"float32": torch.float32, "float64": torch.float64}
    if isinstance(dtype, torch.dtype) and dtype in table.values():
        return dtype
    if isinstance(dtype, str) and dtype in table:
        return table[dtype]
    raise SpecError(f"dtype must be 'float32' or 'float64'; got {dtype!r}.")


@functools.lru_cache(maxsize=4096)
def _poisson_cdf_table(lam: float, tail: float = 1e-15) -> np.ndarray:
    """CDF of Poisson(lam) at 0, 1, ..., K with 1 - CDF(K) < tail."""
    if lam <= 0:
        return np.ones(1)
    kmax = int(lam + 12.0 * math.sqrt(lam) + 30)
    k = np.arange(kmax + 1)
    from scipy.stats import poisson

    cdf = poisson.cdf(k, lam)
    last = int(np.searchsorted(cdf, 1.0 - tail)) + 1
    return cdf[: min(last, kmax + 1)]


#: mean rate (Hz) above which a neuron is reported as a runaway: no real neuron sustains it
RUNAWAY_HZ = 1000.0
#: ... over at least this many spikes (one spike in a 0.2 ms run is a "rate" of 5,000 Hz)
RUNAWAY_MIN_SPIKES = 10


def _shared(x: np.ndarray, axis: int = 0) -> np.ndarray | None:
    """Row 0 of ``x`` along ``axis`` (kept as a length-1 axis) when every row equals it,
    else None."""
    first = np.take(x, [0], axis=axis)
    return first if np.array_equal(x, np.broadcast_to(first, x.shape)) else None


def _warn_runaway(res: Result) -> None:
    """Warn (:class:`RunawayWarning`) about neurons whose mean rate exceeds ``RUNAWAY_HZ``.

    Such a neuron fires on (nearly) every step: its model is outside its valid range or its
    integration is unstable, and it floods its targets. Example: the Izhikevich (2007) LTS set
    under >~900 pA of steady drive, whose recovery cap (670 pA) puts its reset above its peak.
    """
    if res.spike_neuron.size == 0 or res.t_stop_ms <= 0:
        return
    n = max(b for _, b in res.populations.values())
    key = res.spike_member.astype(np.int64) * n + res.spike_neuron
    counts = np.bincount(key, minlength=res.n_ensembles * n)
    rate = counts / (res.t_stop_ms * 1e-3)
    bad = np.flatnonzero((rate > RUNAWAY_HZ) & (counts >= RUNAWAY_MIN_SPIKES))
    if bad.size == 0:
        return
    names = []
    for k in bad[:3]:
        member, gid = divmod(int(k), n)
        pop = next(p for p, (a, b) in res.populations.items() if a <= gid < b)
        where = f"{pop}[{gid - res.populations[pop][0]}]"
        names.append(
            f"{where}{f' of member {member}' if res.n_ensembles > 1 else ''} at {rate[k]:.0f} Hz"
        )
    warnings.warn(
        f"{bad.size} neuron(s) fired above {RUNAWAY_HZ:g} Hz on average ({', '.join(names)}"
        f"{', ...' if bad.size > 3 else ''}): their model left its valid range (e.g. the "
        "Izhikevich 2007 LTS set under more than ~900 pA of steady drive) or its integration is "
        "unstable; their spikes flood their targets.",
        RunawayWarning,
        stacklevel=3,
    )


def _even_split(cost: np.ndarray, parts: int) -> np.ndarray:
    """Bounds [0, ..., n] cutting items of these costs into ``parts`` consecutive runs of
    about equal total cost."""
    c = np.concatenate([[0.0], np.cumsum(cost)])
    want = c[-1] * np.arange(1, parts) / parts
    inner = np.searchsorted(c, want)  # first bound at or past each target, or the one before
    inner -= (inner > 0) & (want - c[np.maximum(inner - 1, 0)] < c[inner] - want)
    return np.concatenate([[0], inner, [cost.size]]).astype(np.int64)


class Simulator:
    """Runs a :class:`~zentai.build.Network` on one device, for B ensemble members.

    Parameters
    ----------
    network : Network
    dt : float or quantity
        Time step (ms).
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtype : str
        ``"float32"`` (default) or ``"float64"`` for state and weights.
    n_ensembles : int
        Number of members B. All share the wiring; each has its own noise and initial state.
    seed : int
        Seed of this run's random draws (Poisson input, initial states). Member b uses the
        stream ``rng.key(seed, "member", b)`` unless ``member_seeds`` is given.
    member_seeds : sequence of int, optional
        One seed per member; members with equal seeds produce identical spikes.
    nan_check_ms : float, optional
        How often (biological ms) the state is checked for NaN, recorded spikes are moved to
        the host and the progress bar moves: by default every 10 ms, every 100 ms on the
        Triton backend (each check waits for the GPU).
    num_threads : int, optional
        CPU threads torch may use while stepping. By default 1 for small networks
        (B x N < 200,000 and fewer than 2e7 synapses), where each step is many small
        operations and a second thread only adds synchronisation (measured: 100 ms of the
        scale-0.1 microcircuit took 0.33 s on one thread and 0.3-9 s on two threads of a loaded
        2-core machine), else torch's default (full scale: RTF 29 on 2 threads, 48 on 1).
        The compiled backend uses 1 thread unless told otherwise.
    backend : str
        ``"torch"``: the reference path (tensor operations, CPU or CUDA; every model,
        TsodyksMarkram and procedural synapses). ``"compiled"``: the numba loop of
        :mod:`zentai.sim.cpu_kernels` (CPU; LIF neurons with current receptors, Izhikevich2007,
        Izhikevich2003, LIFCond, LIFAHP and AdEx with current or conductance receptors; static
        synapses; every stimulus and recorder), which gives the reference's spikes exactly
        (where exp is called -- conductance models, Mg2+ block -- the states to its rounding,
        which torch computes otherwise, so long runs of chaotic networks part after a while).
        ``"auto"`` (default): on the CPU compiled where it applies, else torch with the Poisson
        input drawn by the compiled kernel (same counts, much faster than ``torch.bucketize``); on
        CUDA the Triton step where it applies, else torch. ``"triton"``: the two kernels of
        :mod:`zentai.sim.gpu_kernels` per step, replayed from CUDA graphs (the compiled
        loop's models and receptors, static stored or procedural synapses; every stimulus
        and recorder); spike-for-spike equal to the reference in float64, equal up to the
        order of summed inputs in float32.

    Examples
    --------
    >>> import zentai as zt
    >>> from zentai.celltypes import LIF
    >>> spec = zt.build.NetworkSpec(
    ...     populations=(zt.build.Population(name="E", size=2, model=LIF()),),
    ...     stimuli=(zt.stim.DC(target="E", amplitude=500.0),),
    ...     recorders=(zt.record.Spikes(),),
    ... )
    >>> sim = zt.sim.Simulator(zt.build.network(spec), dt=0.1)
    >>> result = sim.run(50.0)
    >>> result.times_ms(0, "E").round(1).tolist()
    [13.9, 29.8, 45.7]
    """

    def __init__(
        self,
        network: Network,
        *,
        dt: Any = 0.1,
        device: str | torch.device = "cpu",
        dtype: Any = "float32",
        n_ensembles: int = 1,
        seed: int = 0,
        member_seeds: Any = None,
        nan_check_ms: float | None = None,
        memory_fraction: float = 0.9,
        num_threads: int | None = None,
        backend: str = "auto",
    ) -> None:
        if not isinstance(network, Network):
            raise SpecError(
                f"Simulator expects a built Network (zt.build.network(spec)); got "
                f"{type(network).__name__}."
            )
        dt = u.to_canonical(dt, "ms", owner="Simulator.dt")
        if not (isinstance(dt, float) and math.isfinite(dt) and dt > 0):
            raise SpecError(f"Simulator.dt must be a positive time; got {dt!r} ms.")
        if isinstance(n_ensembles, bool) or not isinstance(n_ensembles, int) or n_ensembles < 1:
            raise SpecError(f"Simulator.n_ensembles must be an integer >= 1; got {n_ensembles!r}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise SpecError(f"Simulator.seed must be an integer; got {seed!r}.")
        self.net = network
        self.spec = network.spec
        self.dt = dt
        self.device = resolve_device(device)
        self.dtype = _resolve_dtype(dtype)
        self.B = n_ensembles
        self.seed = int(seed)
        threads_given = num_threads
        # synapses delivered per spike, stored or regenerated (procedural: expected)
        n_syn = network.n_synapses + sum(pp.expected_synapses for pp in network.procedural)
        if num_threads is None:
            small = self.B * network.n_neurons < 200_000 and n_syn < 20_000_000
            num_threads = 1 if small else torch.get_num_threads()
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise SpecError(
                f"Simulator.num_threads must be a positive integer; got {num_threads!r}."
            )
        self.num_threads = num_threads
        self.t_step = 0
        self.wall_s = 0.0
        self._check_memory(memory_fraction)
        if member_seeds is None:
            self.member_seeds = [rng.key(self.seed, "member", b) for b in range(self.B)]
        else:
            ms = list(member_seeds)
            if len(ms) != self.B or not all(isinstance(s, (int, np.integer)) for s in ms):
                raise SpecError(
                    f"Simulator.member_seeds must be {self.B} integers (one per member); "
                    f"got {member_seeds!r}."
                )
            self.member_seeds = [rng.key(int(s), "member-seed") for s in ms]
        self._invalidate()
        self._setup_connectivity()
        self._setup_stp()
        self._setup_groups()
        self._setup_stimuli()
        self._setup_recorders()
        self.backend = self._choose_backend(backend)
        nan_check_given = nan_check_ms is not None
        if nan_check_ms is None:
            nan_check_ms = 100.0 if self.backend == "triton" else 10.0
        if not (isinstance(nan_check_ms, (int, float)) and nan_check_ms > 0):
            raise SpecError(
                f"Simulator.nan_check_ms must be a positive number; got {nan_check_ms!r}."
            )
        self.nan_check_steps = max(1, round(nan_check_ms / dt))
        if self.backend == "compiled":
            if threads_given is None:
                # all cores for large networks (full-scale microcircuit, 2 cores: 0.76 ms per
                # step on 1 thread, 0.58 on 2), else one (a parallel region per phase and step
                # costs more than it saves: scale 0.1, 22 vs 25 µs per step)
                import numba

                cores = min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS)
                work = sum(c.sum() for c in self._compiled_costs())
                big = self.B * n_syn >= AUTO_THREADS_MIN_SYNAPSES or (
                    self.B < BLOCK_MIN_MEMBERS and self.B * work >= AUTO_THREADS_MIN_WORK_NS
                )
                self.num_threads = cores if big else 1
            self._setup_compiled()
            if self._cblk is not None and not nan_check_given:
                # member blocks pay a set-up per call (~3 ms per block at 10,000 neurons and 32
                # lanes; B = 100 members at scale 0.13: 10 ms calls 15 % slower), so longer calls
                self.nan_check_steps = max(1, round(100.0 / dt))
        elif self.backend == "triton":
            self._setup_triton()
        # other models on the CPU: the torch step, but its Poisson input from the compiled
        # loop's kernel (same counts; the torch step spent most of its time there, e.g.
        # torch.bucketize). backend="torch" keeps the all-tensor reference.
        if (
            backend == "auto"
            and self.backend == "torch"
            and self.device.type == "cpu"
            and self._has_poisson
        ):
            from zentai.sim import cpu_kernels

            if cpu_kernels.HAVE_NUMBA:
                self._fast_poisson = True
                self._segment_poisson()

    # ================================================================== setup
    def _check_memory(self, fraction: float) -> None:
        net = self.net
        steps = delay_steps(net, self.dt)  # on the tables' device
        self._dsteps = steps
        max_d = int(steps.max()) if steps.numel() else 1
        for pp in net.procedural:
            max_d = max(max_d, pp.max_delay_steps(self.dt))
        self.D = max_d + 1
        esize = torch.finfo(self.dtype).bits // 8
        need = (
            net.n_synapses * (4 + esize + steps.element_size())
            + (net.n_neurons + 1) * 8
            + self.D * self.B * net.n_slots * esize
            + self.B * net.n_neurons * (6 * esize + 4)
        )
        self.memory_bytes = need
        self._memory_fraction = fraction
        avail = available_memory_bytes(self.device)
        if net.device.type == self.device.type:
            # tables already there (host memory, or a GPU build's) are reused, not copied
            avail += net.n_synapses * 12
        if need > fraction * avail:
            raise MemoryBudgetError(
                f"Simulating {net.spec.name!r} on {self.device} needs about "
                f"{need / 2**30:.2f} GiB (synapses {net.n_synapses:,}, ring buffer "
                f"{self.D} x {self.B} x {net.n_slots:,}); only {avail / 2**30:.2f} GiB are "
                f"available. Use fewer ensemble members or a smaller network."
            )

    def _setup_connectivity(self) -> None:
        net, dev = self.net, self.device
        tab = net.tables_on(dev, ("indptr", "target", "weight"))
        self.indptr, self.target = tab["indptr"], tab["target"]
        self.weight = tab["weight"].to(self.dtype)
        self.dsteps = self._dsteps.to(dev)
        # spikes of a step, (member, neuron, step) arrays, appended when a list, and
        # (interval, fn): fn() is called whenever the step counter reaches a multiple of
        # interval and at the end of every run/step call (zentai.distributed's exchange)
        self.spike_tap: list[tuple[torch.Tensor, ...]] | None = None
        self.exchange: tuple[int, Any] | None = None
        if net.is_part:
            # one process's part of a distributed network: the incoming synapses (rows =
            # every neuron of the whole network) are delivered by zentai.distributed after
            # each exchange; the step itself delivers nothing
            self.in_indptr, self.in_target = self.indptr, self.target
            self.in_weight, self.in_dsteps = self.weight, self.dsteps
            self.indptr = torch.zeros(net.n_neurons + 1, dtype=torch.int64, device=dev)
            self.target = self.target[:0]
            self.weight = self.weight[:0]
            self.dsteps = self.dsteps[:0]
        self.S = net.n_slots
        self._blocks_pending = False  # events in the member blocks' bins (see the buf property)
        self._buf = torch.zeros((self.D, self.B, self.S), dtype=self.dtype, device=dev)

    @property
    def buf(self) -> torch.Tensor:
        """The ring buffer (D, B, S): the input each slot receives in each of the next D steps.
        Between their calls the member blocks keep the events in flight in their own bins
        (reading and writing the D rows back cost more than the steps of a short call); they
        are added here first, so that whatever reads or writes the buffer sees every event."""
        if self._blocks_pending:
            from zentai.sim import cpu_blocks

            blk = self._cblk
            tcell, weight, _, run_a, _ = blk["table"]
            cpu_blocks.flush_bins(
                self._buf.numpy(), blk["bins"], blk["bin_n"], blk["M"], blk["G"], tcell, weight,
                run_a, blk["slot_of"],
            )  # fmt: skip
            self._blocks_pending = False
        return self._buf

    def _setup_stp(self) -> None:
        """Per STP class: the presynaptic population's neuron range, its parameters, and the
        state (u, x, step of the last spike) per member and presynaptic neuron."""
        net, dev = self.net, self.device
        self._stp = []
        self._stp_cls = None
        stp_class = net.tables_on(dev, ("stp_class",))["stp_class"]
        if stp_class is None:
            return
        self._stp_cls = stp_class
        for _, pre, m in net.stp:
            a, b = net.pop_slices[pre]
            self._stp.append(
                {
                    "a": a,
                    "b": b,
                    "m": m,
                    "u": torch.zeros((self.B, b - a), dtype=torch.float64, device=dev),
                    "x": torch.ones((self.B, b - a), dtype=torch.float64, device=dev),
                    # step of the previous spike; far in the past = a long silence
                    "t": torch.full((self.B, b - a), -(2**40), dtype=torch.int64, device=dev),
                }
            )

    def _stp_factors(self, b: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        """Advance the STP state of the spikes (member b, neuron i) of this step and return
        their transmission factors u x / U, (spikes, classes + 1); column 0 (static) is 1."""
        out = torch.ones((i.numel(), len(self._stp) + 1), dtype=torch.float64, device=self.device)
        for c, st in enumerate(self._stp, start=1):
            sel = ((i >= st["a"]) & (i < st["b"])).nonzero()[:, 0]
            if sel.numel() == 0:
                continue
            bb, ii = b[sel], i[sel] - st["a"]
            m = st["m"]
            h = (self.t_step - st["t"][bb, ii]).to(torch.float64) * self.dt
            u, x = st["u"][bb, ii], st["x"][bb, ii]
            x = 1.0 + (x - x * u - 1.0) * torch.exp(-h / m.tau_rec)
            ud = torch.exp(-h / m.tau_fac) if m.tau_fac > 0 else torch.zeros_like(h)
            u = m.U + u * (1.0 - m.U) * ud
            st["u"][bb, ii], st["x"][bb, ii] = u, x
            st["t"][bb, ii] = self.t_step
            out[sel, c] = u * x / m.U
        return out

    def _param_tensor(self, value: Any, n: int) -> Any:
        if isinstance(value, np.ndarray):
            return torch.as_tensor(value, dtype=self.dtype, device=self.device).reshape(1, n)
        return float(value)

    def _setup_groups(self) -> None:
        self.dyn = []
        self.states = []
        # per group: (R, 1 or B, n) gains on the arriving input (set_input_gain), or None
        self._gain: list[torch.Tensor | None] = [None] * len(self.net.groups)
        self._pop_index = {p.name: i for i, p in enumerate(self.spec.populations)}
        for g in self.net.groups:
            params = {k: self._param_tensor(v, g.size) for k, v in g.params.items()}
            d = dynamics_for(g.model_class)(params, g.receptors, self.dt, self.dtype, self.device)
            state = d.initial_state(self.B, g.size)
            self.dyn.append(d)
            self.states.append(state)
        # initial values drawn per member, keyed by (member seed, population, variable, neuron)
        for p in self.spec.populations:
            if not p.initial:
                continue
            g, a, b = self._locate(p.name)
            for var, dist in p.initial.items():
                unit = "mV" if var == "v" else ("pA" if var in ("u", "w") else "1")
                dist = dist.in_unit(unit, f"{p.name}.initial.{var}")
                off = self.net.pop_offset.get(p.name, 0)  # a part's first neuron
                idx = torch.arange(off, off + p.size, dtype=torch.int64)
                for m in range(self.B):
                    k = rng.key(self.member_seeds[m], "initial", p.name, var)
                    vals = draw(dist, k, idx, torch.zeros_like(idx))
                    self.states[g][var][m, a:b] = vals.to(self.device, self.dtype)

    def _locate(self, pop: str) -> tuple[int, int, int]:
        """(group index, local start, local stop) of a population."""
        if pop not in self.net.pop_slices:
            raise SpecError(f"Unknown population {pop!r}; {closest(pop, self.net.pop_slices)}.")
        g, a, b = self.net.population_group(pop)
        return self.net.groups.index(g), a, b

    def _slots(self, pop: str, receptor: str | None, weight: float, owner: str) -> torch.Tensor:
        """Input slots (global) of every neuron of ``pop`` for a receptor."""
        gi, a, b = self._locate(pop)
        g = self.net.groups[gi]
        model = self.spec.population(pop).model
        name = receptor if receptor is not None else model.default_receptor(weight)
        if name not in model.receptor_names:
            raise SpecError(
                f"{owner}.receptor: {type(model).__name__} of {pop!r} has no receptor {name!r}; "
                f"receptors: {list(model.receptor_names)}."
            )
        r = model.receptor_index(name)
        return g.slot_offset + r * g.size + torch.arange(a, b, dtype=torch.int64)

    def _setup_stimuli(self) -> None:
        dt = self.dt
        self._dc: list[tuple[int, int, int, torch.Tensor, float]] = []
        self._dc_change: set[int] = {0}
        self._injected: dict[tuple[int, int], tuple[torch.Tensor, float]] = {}
        self._i_stim: list[torch.Tensor | None] = [None] * len(self.net.groups)
        p_slots, p_w, p_stream, p_stim = [], [], [], []
        self._poisson_windows: list[tuple[int, int | None]] = []
        self._poisson_specs: list[PoissonInput] = []
        self._train_events: dict[int, list[tuple[torch.Tensor, float]]] = {}
        for si, st in enumerate(self.spec.stimuli):
            pop = self.spec.population(st.target)
            local = (
                torch.arange(pop.size, dtype=torch.int64)
                if st.neurons is None
                else torch.tensor(st.neurons, dtype=torch.int64)
            )
            if isinstance(st, DC):
                gi, a, _ = self._locate(st.target)
                start = round(st.start / dt)
                stop = None if st.stop is None else round(st.stop / dt)
                self._dc.append(
                    (gi, start, stop if stop is not None else -1, local + a, st.amplitude)
                )
                self._dc_change.add(start)
                if stop is not None:
                    self._dc_change.add(stop)
            elif isinstance(st, PoissonInput):
                slots = self._slots(st.target, st.receptor, st.weight, "PoissonInput")[local]
                p_slots.append(slots)
                p_w.append(torch.full((local.numel(),), st.weight, dtype=torch.float64))
                # keyed by the neuron's index in the whole population (parts: + offset)
                p_stream.append(local + self.net.pop_offset.get(st.target, 0) + (si << 40))
                p_stim.append(torch.full_like(local, len(self._poisson_windows)))
                start = round(st.start / dt)
                stop = None if st.stop is None else round(st.stop / dt)
                self._poisson_windows.append((start, stop))
                self._poisson_specs.append(st)
            elif isinstance(st, SpikeTrain):
                slots = self._slots(st.target, st.receptor, st.weight, "SpikeTrain")[local]
                ratio = st.delay / dt
                if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
                    raise SpecError(
                        f"SpikeTrain.delay must be a multiple of dt = {dt} ms and at least dt; "
                        f"got {st.delay} ms."
                    )
                for t_s in st.times:
                    arrival = round((t_s + st.delay) / dt) - 1
                    self._train_events.setdefault(arrival, []).append(
                        (slots.to(self.device), st.weight)
                    )
        self._has_poisson = bool(p_slots)
        self._fast_poisson: Any = None
        if self._has_poisson:
            dev = self.device
            self._p_slots = torch.cat(p_slots).to(dev)
            self._p_w_full = torch.cat(p_w).to(dev, self.dtype)
            self._p_stream = torch.cat(p_stream).to(dev)
            self._p_stim = torch.cat(p_stim).to(dev)
            self._p_rates = np.array([[st.rate for st in self._poisson_specs]], dtype=np.float64)
            self._build_poisson_tables()
            self._set_poisson_keys()
            self._p_change = {0}
            for a, b in self._poisson_windows:
                self._p_change.add(a)
                if b is not None:
                    self._p_change.add(b)

    def _build_poisson_tables(self) -> None:
        """CDF tables of the Poisson counts for the rates ``_p_rates`` ((1 or B, stimuli), Hz):
        one table per distinct mean count, and per (member row, entry) the table's index."""
        dt, dev = self.dt, self.device
        tables: list[np.ndarray] = []
        lam_index: dict[float, int] = {}
        idx = np.zeros(self._p_rates.shape, dtype=np.int64)
        for row in range(self._p_rates.shape[0]):
            for k, st in enumerate(self._poisson_specs):
                lam = st.n_sources * float(self._p_rates[row, k]) * dt * 1e-3
                if lam not in lam_index:
                    lam_index[lam] = len(tables)
                    tables.append(_poisson_cdf_table(lam))
                idx[row, k] = lam_index[lam]
        offsets = np.cumsum([0] + [len(t) for t in tables])
        flat = np.concatenate([t + i for i, t in enumerate(tables)])
        self._p_cdf = torch.as_tensor(flat, dtype=torch.float64, device=dev)
        self._p_tab_start = torch.as_tensor(offsets[:-1], dtype=torch.int64, device=dev)
        # (1 or B, M): the table of every entry, per member when rates differ between members
        self._p_tab = torch.as_tensor(idx, device=dev)[:, self._p_stim]
        self._p_tab_f = self._p_tab.to(torch.float64)

    def set_poisson_rate(
        self, rate: Any, population: str | None = None, *, stimulus: int | None = None
    ) -> None:
        """Change the rate (Hz) of every source of the :class:`~zentai.stim.PoissonInput`
        stimuli (those targeting ``population``, or all; or the one at index ``stimulus`` of
        ``spec.stimuli``), for all members or per member.

        ``rate``: a scalar or B values (one per member). Counts stay keyed by (member seed,
        stimulus, neuron, step), so a member whose rate is unchanged keeps its spikes.
        """
        if not self._has_poisson:
            raise SpecError("set_poisson_rate: this network has no PoissonInput stimulus.")
        if stimulus is not None:
            st = self.spec.stimuli[stimulus] if 0 <= stimulus < len(self.spec.stimuli) else None
            if not isinstance(st, PoissonInput):
                raise SpecError(
                    f"set_poisson_rate: spec.stimuli[{stimulus}] is not a PoissonInput."
                )
        which = [
            k
            for k, st in enumerate(self._poisson_specs)
            if (population is None or st.target == population)
            and (stimulus is None or st is self.spec.stimuli[stimulus])
        ]
        if not which:
            targets = sorted({st.target for st in self._poisson_specs})
            raise SpecError(
                f"set_poisson_rate: no PoissonInput targets {population!r}; targets: {targets}."
            )
        r = np.asarray(u.to_canonical(rate, "Hz", owner="set_poisson_rate.rate"), np.float64)
        if r.ndim > 1 or (r.ndim == 1 and r.size != self.B):
            raise SpecError(
                f"set_poisson_rate.rate must be a scalar or {self.B} values (one per member); "
                f"got shape {r.shape}."
            )
        if not np.all(np.isfinite(r)) or np.any(r < 0):
            raise SpecError(f"set_poisson_rate.rate must be finite and >= 0 Hz; got {r}.")
        rates = self._p_rates
        if r.ndim == 1 and rates.shape[0] == 1 and self.B > 1:
            rates = np.repeat(rates, self.B, axis=0)
        else:
            rates = rates.copy()
        rates[:, which] = r[:, None] if r.ndim == 1 else r
        if rates.shape[0] > 1 and np.all(rates == rates[:1]):
            rates = rates[:1]
        self._p_rates = rates
        self._build_poisson_tables()
        self._segment_poisson()

    def set_input_gain(self, population: str, receptor: str, gain: Any) -> None:
        """Multiply the input reaching ``receptor`` of ``population`` (synapses, Poisson input
        and spike trains alike) by ``gain``: a scalar or B values (one per member).

        A per-receptor synaptic scale, as the Digital Twin Brain's per-population g_AMPA /
        g_GABA_A hyper-parameters (Lu et al. 2023); 1 restores the built weights.
        """
        gi, a, b = self._locate(population)
        g = self.net.groups[gi]
        model = self.spec.population(population).model
        if receptor not in model.receptor_names:
            raise SpecError(
                f"set_input_gain: {type(model).__name__} of {population!r} has no receptor "
                f"{receptor!r}; receptors: {list(model.receptor_names)}."
            )
        val = torch.as_tensor(gain, dtype=torch.float64)
        if val.ndim > 1 or (val.ndim == 1 and val.numel() != self.B):
            raise SpecError(
                f"set_input_gain.gain must be a scalar or {self.B} values (one per member); got "
                f"shape {tuple(val.shape)}."
            )
        if not bool(torch.isfinite(val).all()) or bool((val < 0).any()):
            raise SpecError(f"set_input_gain.gain must be finite and >= 0; got {gain!r}.")
        cur = self._gain[gi]
        rows = self.B if (val.ndim == 1 or (cur is not None and cur.shape[1] > 1)) else 1
        full = torch.ones((len(g.receptors), rows, g.size), dtype=self.dtype, device=self.device)
        if cur is not None:
            full[...] = cur
        full[model.receptor_index(receptor), :, a:b] = (
            val.reshape(-1, 1).to(self.device, self.dtype) if val.ndim == 1 else float(val)
        )
        self._gain[gi] = full
        self._cparams = None

    def _setup_recorders(self) -> None:
        spec = self.spec
        self._spike_mask: torch.Tensor | None = None
        self._record_spikes = False
        self._spike_pops: tuple[str, ...] = ()
        self._rate: PopulationRate | None = None
        self._monitors: list[tuple[StateMonitor, int, torch.Tensor, int]] = []
        for rec in spec.recorders:
            if isinstance(rec, Spikes):
                self._record_spikes = True
                pops = rec.populations or spec.population_names
                self._spike_pops = tuple(dict.fromkeys(self._spike_pops + tuple(pops)))
            elif isinstance(rec, PopulationRate):
                self._rate = rec
            elif isinstance(rec, StateMonitor):
                gi, a, b = self._locate(rec.population)
                idx = (
                    torch.arange(a, b)
                    if rec.neurons is None
                    else torch.tensor(rec.neurons, dtype=torch.int64) + a
                )
                every = 1 if rec.interval is None else max(1, round(rec.interval / self.dt))
                self._monitors.append((rec, gi, idx.to(self.device), every))
        if self._record_spikes and set(self._spike_pops) != set(spec.population_names):
            mask = torch.zeros(self.net.n_neurons, dtype=torch.bool)
            for p in self._spike_pops:
                a, b = self.net.pop_slices[p]
                mask[a:b] = True
            self._spike_mask = mask.to(self.device)
        self._pop_of = torch.as_tensor(self.net.population_of(), dtype=torch.int64).to(self.device)
        self._n_pops = len(spec.populations)
        # recorded data (kept on the host as chunks)
        self._spk_chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._spk_pending: list[tuple[int, torch.Tensor]] = []
        self._rate_chunks: list[np.ndarray] = []
        self._mon_data: list[list[tuple[int, torch.Tensor]]] = [[] for _ in self._monitors]

    # ================================================================== compiled CPU loop
    def _compiled_unsupported(self) -> str | None:
        """Why the compiled loop cannot run this simulation (None if it can)."""
        from zentai.sim import cpu_kernels

        if self.device.type != "cpu":
            return f"it runs on the CPU only (device is {self.device})"
        if not cpu_kernels.HAVE_NUMBA:
            return "numba is not installed"
        return self._models_unsupported() or self._synapses_unsupported()

    def _models_unsupported(self) -> str | None:
        """Why the fast paths (both implement the same models) cannot update these neurons."""
        other = sorted(
            {
                g.model_class.__name__
                for g in self.net.groups
                if g.model_class not in COMPILED_MODELS
            }
        )
        if other:  # (each of them with any receptors; LIF's are current receptors)
            return (
                f"it implements the LIF, Izhikevich2007, Izhikevich2003, LIFAHP, AdEx and "
                f"LIFCond models only (this network has {other})"
            )
        return None

    def _triton_unsupported(self) -> str | None:
        """Why the fused Triton step cannot run this simulation (None if it can)."""
        from zentai.sim import gpu_kernels

        if not gpu_kernels.HAVE_TRITON:
            return "Triton is not installed (it comes with the CUDA builds of torch)"
        if self.device.type != "cuda" and not (
            self.device.type == "cpu" and gpu_kernels.interpreting()
        ):
            return (
                f"it runs on CUDA devices (device is {self.device}; on the CPU only in Triton's "
                f"interpreter, TRITON_INTERPRET=1)"
            )
        return self._models_unsupported() or self._synapses_unsupported()

    def _synapses_unsupported(self) -> str | None:
        """Why a fast path cannot deliver this network's synapses (both regenerate procedural
        ones; neither takes plastic ones)."""
        if self.net.stp:  # (the tables mark the synapses of these projections)
            return "it implements static synapses only (this network has TsodyksMarkram ones)"
        return None

    def _choose_backend(self, backend: str) -> str:
        if backend not in ("auto", "torch", "compiled", "triton"):
            raise SpecError(
                f"Simulator.backend must be 'auto', 'torch', 'compiled' or 'triton'; "
                f"got {backend!r}."
            )
        if backend == "torch":
            return "torch"
        # the fast path a request or the device asks for; "auto" falls back to torch
        fast = (
            backend if backend != "auto" else "triton" if self.device.type == "cuda" else "compiled"
        )
        why = (self._triton_unsupported if fast == "triton" else self._compiled_unsupported)()
        if why is None:
            return fast
        if backend == fast:
            raise SpecError(f"Simulator(backend={fast!r}) cannot run this network: {why}.")
        return "torch"

    def _setup_compiled(self) -> None:
        """Prepare the compiled loop: tables, bins, and the group states moved into
        network-wide arrays the loop indexes directly (:meth:`_merge_states`)."""
        from zentai.sim import cpu_kernels

        B, N, groups = self.B, self.net.n_neurons, self.net.groups
        soff = self._merge_states()
        i64 = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
        self._cgroups = (
            i64([g.start for g in groups]),
            i64([g.size for g in groups]),
            i64([g.slot_offset for g in groups]),
            i64([len(g.receptors) for g in groups]),
            i64(soff),
            i64([COMPILED_MODELS[g.model_class] for g in groups]),
        )
        self._cargs: tuple | None = None
        self._cspiked = np.zeros((B, N), dtype=np.bool_)
        self._cspk_b = np.zeros(B * N, dtype=np.int64)
        self._cspk_i = np.zeros(B * N, dtype=np.int64)
        cap = max(4 * B * N, 1 << 16)
        self._cout = (
            np.zeros(cap, np.int64),
            np.zeros(cap, np.int64),
            np.zeros(cap, np.int64),
        )
        self._setup_poisson_tables()
        # procedural projections: tables, and each neuron's number of their synapses (the
        # loop sizes its bins with it; one regeneration of every neuron's targets)
        pi, pf = (x.numpy() for x in self._procedural_tables())
        deg = cpu_kernels.procedural_degrees(pi, pf, N) if len(pi) else np.zeros(N, np.int64)
        self._cproc = (pi, pf, deg)
        rows = self.indptr[1:] - self.indptr[:-1]
        self._cmax_events = int(rows.max()) + int(deg.max()) if N else 0  # of one spike
        self._csorted: bool | None = None
        self._compiled_threads(self.num_threads)
        self._setup_blocks()

    def _setup_blocks(self) -> None:
        """Fixed tables of the member-blocked loop (:mod:`zentai.sim.cpu_blocks`), or None
        where it does not apply: fewer than BLOCK_MIN_MEMBERS members, other models than LIF,
        more than two receptors in a group, a part of a distributed network, or procedural
        projections."""
        from zentai.sim import cpu_blocks

        self._cblk: dict[str, Any] | None = None
        groups = self.net.groups
        if (
            self.B < BLOCK_MIN_MEMBERS
            or self.net.is_part
            or self.net.procedural
            or any(g.model_class is not LIF for g in groups)
            or max(len(g.receptors) for g in groups) > cpu_blocks.MAX_RECEPTORS
        ):
            return
        M = cpu_blocks.lanes(self.B, self.num_threads)
        G = cpu_blocks.block_lanes(M)
        N, R = self.net.n_neurons, cpu_blocks.MAX_RECEPTORS
        cell_of = np.zeros(self.S, np.int64)  # block input cell (lane 0) of every input slot
        for g in groups:
            for r in range(len(g.receptors)):
                s = g.slot_offset + r * g.size
                cell_of[s : s + g.size] = (np.arange(g.start, g.stop) * R + r) * G
        n_blocks = -(-self.B // M)
        cap = max(2 * M * N, 1 << 16)
        # entries per bin row: all blocks' bins within BIN_LIMIT_BYTES (one spike's runs,
        # distinct delays, need one entry per row)
        cap_max = max(BIN_LIMIT_BYTES // (n_blocks * self.D * 8), 1)
        slot_of = np.full(N * R, -1, np.int64)  # the slot of every input cell of the blocks
        slot_of[cell_of // G] = np.arange(self.S)
        # the synapse table with rows sorted by delay: targets' cells (lane 0) and weights
        cell_type = np.int32 if N * R * G < 2**31 else np.int64
        # its copy of the table (targets, weights) and runs (~16 synapses each in the
        # microcircuit), made now that the compiled backend is chosen: check it fits
        esize = self.weight.element_size()
        extra = self.net.n_synapses * (np.dtype(cell_type).itemsize + esize + 1)
        avail = available_memory_bytes(self.device)
        if extra > self._memory_fraction * avail:
            raise MemoryBudgetError(
                f"The member blocks of {self.B} members (compiled CPU loop) need about "
                f"{extra / 2**30:.2f} GiB more for their copy of the {self.net.n_synapses:,} "
                f"synapses; only {avail / 2**30:.2f} GiB are available. Use "
                f"backend='torch' or a smaller network."
            )
        self.memory_bytes += extra
        table = cpu_blocks.delay_table(
            self.indptr.numpy(), self.dsteps.numpy(), self.target.numpy(),
            self.weight.numpy(), cell_of.astype(cell_type),
        )  # fmt: skip
        if self._has_poisson:
            stream = self._p_stream.cpu().numpy().view(np.uint64)
            p_cell = cell_of[self._p_slots.cpu().numpy()]
        else:
            stream, p_cell = np.zeros(0, np.uint64), np.zeros(0, np.int64)
        self._cblk = {
            "G": G,
            "M": M,
            "cell_of": cell_of,
            "slot_of": slot_of,
            "table": table,
            "stream": stream,
            "p_cell": p_cell,
            "out": tuple(np.zeros((n_blocks, cap), np.int64) for _ in range(3)),
            # each block's bins (entries per arrival row), kept between calls
            "bins": [np.empty((self.D, min(1024, cap_max)), np.int64) for _ in range(n_blocks)],
            "cap_max": cap_max,
            "bin_n": np.zeros((n_blocks, self.D), np.int64),
            "scan": np.zeros(n_blocks, np.int64),  # ring-buffer rows a block has still to read
        }

    def _block_params(self) -> tuple | None:
        """The parameters of the member-blocked loop, or None when members differ in one other
        than the constant current and the input gains (the blocks take one row per member of
        those, one row for all of the others; the member-major loop takes per-member rows)."""
        e_l, p22, c0, p21, decay, gain, v_th, v_reset, ref, *_ = self._cparams
        rows = [_shared(e_l), _shared(p22), _shared(p21, 1), _shared(v_th), _shared(v_reset)]
        rows.append(_shared(ref))
        if any(x is None for x in rows):
            return None
        e_l, p22, p21, v_th, v_reset, ref = rows
        # a constant current (DC, injected) and input gains may differ between members
        c0 = x if (x := _shared(c0)) is not None else c0
        gain = x if (x := _shared(gain, 1)) is not None else gain
        ref_f = ref[0].astype(self._cval.dtype)
        return (e_l[0], p22[0], c0, p21[:, 0], decay, gain, v_th[0], v_reset[0], ref_f)

    def _block_poisson(self) -> tuple:
        """The Poisson arguments of the member-blocked loop: runs of one rate, their CDF rows
        and integer thresholds (one row per member where the members' rates differ), the
        entries' uniform offsets, the CDF table and input cells; and the member keys. (The
        weights change with the windows: :meth:`_block_steps` adds them.)"""
        from zentai.sim import cpu_blocks, cpu_kernels

        if self._has_poisson:
            tab = self._p_tab.cpu().numpy()
            tab = x if (x := _shared(tab)) is not None else tab
            (s_a, s_z, s_row, _, _), _ = cpu_kernels.poisson_segments(
                tab, self._p_slots.cpu().numpy(), self._crows, np.array([0, tab.shape[1]])
            )
            s_thr = cpu_blocks.integer_thresholds(self._crows, s_row)
            p_x0 = tab.astype(np.float64)
            keys = [rng.key(s, "poisson") for s in self.member_seeds]
            keys = np.array(keys, dtype=np.int64).view(np.uint64)
        else:
            s_a = s_z = np.zeros(0, np.int64)
            s_row, s_thr = np.zeros((1, 0), np.int64), np.zeros((1, 0, 4), np.uint64)
            p_x0, keys = np.zeros((1, 0)), np.zeros(self.B, np.uint64)
        return (s_a, s_z, s_row, s_thr, p_x0, self._crows, self._cblk["p_cell"]), keys

    def _block_steps(self, t: int, stop: int, ex_c: np.ndarray, ex_w: np.ndarray) -> bool:
        """Advance steps [t, stop) in member blocks; False (nothing done) when the current
        tables do not allow it."""
        from zentai.sim import cpu_blocks

        blk = self._cblk
        # each part rebuilt when its tables are (new objects after their inputs changed)
        if blk.get("params_of") is not self._cparams:
            blk["params_of"], blk["params"] = self._cparams, self._block_params()
        if blk.get("poisson_of") is not self._cpoisson:
            blk["poisson_of"], blk["poisson"] = self._cpoisson, self._block_poisson()
        if blk["params"] is None:
            return False
        (pois, keys), out = blk["poisson"], blk["out"]
        p_w = self._p_w.cpu().numpy() if self._has_poisson else np.zeros(0, self._cval.dtype)
        pois = (*pois, p_w, self._cval)
        g_start, g_size, _, g_R, g_soff, _ = self._cgroups
        if not self._blocks_pending:
            # other loops ran (or none): the events in flight are in the ring buffer, which the
            # blocks read in their first D steps; the bins are empty
            blk["scan"][:] = self.D
        net = (self.D, self.S, self.B, self._buf.numpy(), *blk["table"])
        net += (blk["cell_of"], blk["slot_of"])
        state = (self._cv.numpy(), self._crefr.numpy(), self._csyn.numpy())
        t0 = np.full(out[0].shape[0], t, np.int64)
        parts = []
        while (t0 < stop).any():
            counts = cpu_blocks.run_blocks(
                self.num_threads, blk["G"], blk["M"], t0, stop, blk["bins"], blk["bin_n"],
                blk["scan"], blk["cap_max"], net,
                (g_start, g_size, g_R, g_soff), blk["params"], pois, (blk["stream"], keys),
                state, (ex_c, ex_w), out,
            )  # fmt: skip
            for k, (done, n) in enumerate(counts):
                if n:
                    parts.append(tuple(x[k, :n].copy() for x in out))
                t0[k] += done
            ex_c, ex_w = ex_c[:0], ex_w[:0]  # SpikeTrain events enter once, at step t
            self._blocks_pending = True
        if parts:
            b, i, steps = (np.concatenate(x) for x in zip(*parts))
            # the member-major loop's order, (step, member, neuron): each part is sorted so
            # (neurons in order within a step and member), a stable sort of runs is quick
            order = np.argsort(steps * self.B + b, kind="stable")
            self._compiled_record(b[order], i[order], steps[order])
        return True

    def _merge_states(self) -> list[int]:
        """Move the groups' states into network-wide arrays on the simulator's device (v, u,
        refr: (B, N); syn: every group's (R, B, n) block, concatenated) that the compiled and
        Triton loops index directly; ``states[g]`` keeps views into them, so get_state,
        set_state, checkpoints (restored in place) and the torch step see the same memory.
        Returns each group's offset into the synaptic array."""
        B, N, groups = self.B, self.net.n_neurons, self.net.groups
        dt, dev = self.dtype, self.device
        v = torch.empty((B, N), dtype=dt, device=dev)
        u = torch.zeros((B, N), dtype=dt, device=dev)  # SECOND_STATE (0 for LIF)
        refr = torch.empty((B, N), dtype=torch.int32, device=dev)
        syn = torch.empty(sum(len(g.receptors) * B * g.size for g in groups), dtype=dt, device=dev)
        soff = []
        off = 0
        for g, st in zip(groups, self.states):
            a, b, n, r = g.start, g.stop, g.size, len(g.receptors)
            v[:, a:b] = st["v"]
            refr[:, a:b] = st["refr"]
            view = syn[off : off + r * B * n].view(r, B, n)
            view.copy_(st["syn"])
            st["v"], st["refr"], st["syn"] = v[:, a:b], refr[:, a:b], view
            if (name := SECOND_STATE.get(g.model_class)) is not None:
                u[:, a:b] = st[name]
                st[name] = u[:, a:b]
            soff.append(off)
            off += r * B * n
        self._cv, self._cu, self._crefr, self._csyn = v, u, refr, syn
        return soff

    def _setup_poisson_tables(self) -> None:
        """Tables of the compiled Poisson input: one row of equal length per rate (CDF + row
        index, padded above any uniform + row index; the kernel compares against whole rows),
        the counts in the state's float type, and scratch arrays for uniforms and counts."""
        rows = np.full((1, 8), 2.0)
        if self._has_poisson:
            flat = self._p_cdf.cpu().numpy()
            starts = self._p_tab_start.cpu().numpy()
            lens = np.diff(np.append(starts, flat.size))
            width = -(-int(lens.max()) // 8) * 8
            rows = np.arange(len(starts), dtype=np.float64)[:, None] + 2.0 + np.zeros(width)
            for i, (a, n) in enumerate(zip(starts, lens)):
                rows[i, :n] = flat[a : a + n]
        m = self._p_slots.numel() if self._has_poisson else 0
        self._crows = rows
        self._cval = np.arange(rows.shape[1] + 1).astype(
            torch.empty(0, dtype=self.dtype).numpy().dtype
        )
        self._cxs = np.zeros(m, np.float64)
        self._ccnt = np.zeros(m, np.int64)

    def _compiled_costs(self) -> tuple[np.ndarray, np.ndarray]:
        """Estimated ns per step and member of each neuron's update (by its model,
        ``cpu_kernels.UPDATE_COST_NS``) and of each input slot (its clearing and binning, and
        its Poisson draws) in the compiled loop."""
        from zentai.sim import cpu_kernels

        cost = np.zeros(self.net.n_neurons)
        for g, d in zip(self.net.groups, self.dyn):
            a, b = cpu_kernels.UPDATE_COST_NS[COMPILED_MODELS[g.model_class]]
            sub = d.n_sub if g.model_class is AdEx else 1
            cost[g.start : g.stop] = (a + b * len(g.receptors)) * sub
        slot_cost = np.full(self.S, SLOT_NS)
        if self._has_poisson:
            draws = np.bincount(self._p_slots.cpu().numpy(), minlength=self.S)
            slot_cost += POISSON_DRAW_NS * draws
        return cost, slot_cost

    def _compiled_threads(self, T: int) -> None:
        """Split slots, neurons and Poisson entries between ``T`` threads."""
        from zentai.sim import cpu_kernels

        self._invalidate()
        B, S = self.B, self.S
        self.num_threads = T
        if T > 1 and self._csorted is None:
            self._csorted = bool(cpu_kernels.rows_sorted(self.indptr.numpy(), self.target.numpy()))
        # shares of equal cost: neurons for the update, slots for the Poisson input and bins
        cost, slot_cost = self._compiled_costs()
        self._cbounds = (
            _even_split(slot_cost, T),
            _even_split(cost, T),
            T > 1 and bool(self._csorted),
        )
        self._ctask_n = np.zeros(T * B, np.int64)
        # Poisson entries grouped by the thread owning their slot (stable, so entries that
        # share a slot keep their order)
        if self._has_poisson:
            owner = np.searchsorted(self._cbounds[0], self._p_slots.numpy(), side="right") - 1
            self._cperm = torch.from_numpy(np.argsort(owner, kind="stable"))
            counts = np.bincount(owner, minlength=T)
            self._centry_bounds = np.concatenate([[0], np.cumsum(counts)])
            self._segment_poisson()
        else:
            z = np.zeros(0, np.int64)
            z2 = np.zeros((1, 0), np.int64)
            self._cseg = ((z, z, z2, z2, np.zeros(0, np.bool_)), np.zeros(T + 1, np.int64))
        cell = np.int32 if B * S < 2**31 else np.int64
        ftype = self._cval.dtype
        per_row = T * self.D * (np.dtype(cell).itemsize + ftype.itemsize)
        cap_max = max(BIN_LIMIT_BYTES // per_row, self._cmax_events, 1)
        self._cbounds += (cap_max,)
        cap = min(1024, cap_max)
        self._cbins = (np.zeros((T, self.D, cap), cell), np.zeros((T, self.D, cap), ftype))
        self._cbin_n = np.zeros((T, self.D), np.int64)

    def _segment_poisson(self) -> None:
        """Cut the Poisson entries into runs of one rate (per member row) for the compiled
        kernels: the compiled loop's (threads' order) and the torch step's (entry order)."""
        from zentai.sim import cpu_kernels

        if self.backend == "triton":
            self._setup_poisson_tables()
            self._cpoisson = None
            return
        if self.backend != "compiled" and self._fast_poisson is None:
            return  # the torch step draws its counts with tensor operations
        self._setup_poisson_tables()
        self._cpoisson = None
        if self.backend == "compiled":
            perm = self._cperm
            self._cseg = cpu_kernels.poisson_segments(
                self._p_tab[:, perm].numpy(),
                self._p_slots[perm].numpy(),
                self._crows,
                self._centry_bounds,
            )
        elif self._fast_poisson is not None:
            self._fast_poisson, _ = cpu_kernels.poisson_segments(
                self._p_tab.numpy(),
                self._p_slots.numpy(),
                self._crows,
                np.array([0, self._p_slots.numel()]),
            )

    def _compiled_params(self) -> tuple:
        """The tables of :meth:`_param_tables` as the compiled loop's numpy arrays."""
        t = self._param_tables()
        names = ("e_l", "p22", "c0", "p21", "decay", "gain", "v_th", "v_reset", "ref", "mtab")
        return (
            *(t[k].numpy() for k in names),
            t["izh_code"],
            t["consts"].numpy(),
            t["rcp"].numpy(),
        )

    def _param_tables(self, models: bool = True) -> dict[str, Any]:
        """(P, N) parameter tables (and the decay table) from the groups' propagators, on the
        simulator's device, for the compiled and Triton loops; with ``models`` also the
        compiled loop's model table (Izhikevich, LIFAHP, AdEx, LIFCond rows), constants and
        receptor table (the Triton loop asks for them only when it has neurons other than LIF:
        it rebuilds its tables after every DC change, on the GPU).

        Each value is formed by the same expression as in :class:`LIFDynamics` and cast to
        the state type the way torch casts it, so the loop's arithmetic equals the reference.
        P is B for a parameter that differs between members (set_param per member; c0 with a
        DC or injected current), else 1: ensemble members share one cached row.
        """
        B, N, dt = self.B, self.net.n_neurons, self.dtype
        groups = self.net.groups
        rmax = max(len(g.receptors) for g in groups)
        from zentai.sim.cpu_kernels import MODEL_ROWS

        vals = []
        izh_code = np.zeros(N, np.int64)
        for gi, (g, d) in enumerate(zip(groups, self.dyn)):
            i_stim = self._i_stim[gi]
            if g.model_class is LIF:
                i0 = d.params["i_e"] if i_stim is None else i_stim + d.params["i_e"]
                v = {
                    "e_l": d.params["e_l"],
                    "p22": d.p22,
                    "c0": i0 * d.p20,
                    "v_th": d.params["v_th"],
                    "v_reset": d.params["v_reset"],
                    "ref": d.ref_steps,
                }
                for r in range(len(g.receptors)):
                    v[f"p21_{r}"] = d.p21[r]
            elif g.model_class is LIFAHP:  # each value as LIFAHPDynamics.step combines it
                p = d.p
                v = {k: p[k] for k in ("e_l", "v_th", "g_l", "g_ahp", "e_ahp", "i_e")}
                v.update(
                    ref=d.ref_steps,
                    i_stim=0.0 if i_stim is None else i_stim,
                    ahp_mean=d.ahp_mean,
                    ahp_decay=d.ahp_decay,
                    gl_el=p["g_l"] * p["e_l"],
                    neg_h_cm=-d.dt / p["c_m"],
                )
            elif g.model_class is LIFCond:  # each value as LIFCondDynamics.step combines it
                p = d.p
                v = {k: p[k] for k in ("e_l", "v_th", "v_reset", "g_l", "i_e")}
                v.update(
                    ref=d.ref_steps,
                    i_stim=0.0 if i_stim is None else i_stim,
                    neg_h_cm=-d.dt / p["c_m"],
                )
            elif g.model_class is Izhikevich2003:  # as Izhikevich2003Dynamics.step combines it
                p = d.p
                v = {k: p[k] for k in ("b", "c", "v_peak", "i_e")}
                v.update(
                    ha=d.dt * p["a"],
                    d_eff=p["d"],
                    # read by the Triton step only, which runs it as a 2007 variant (c_m: a
                    # divisor there, in a result it then discards)
                    u_max=math.inf,
                    c_m=1.0,
                    i_stim=0.0 if i_stim is None else i_stim,
                )
            elif g.model_class is AdEx:  # each value as AdExDynamics.step combines it
                p = d.p
                v = {k: p[k] for k in ("e_l", "v_th", "v_reset", "g_l", "c_m", "delta_t")}
                v.update({k: p[k] for k in ("v_peak", "a", "b", "tau_w")})
                i_ext = p["i_e"] if i_stim is None else i_stim + p["i_e"]
                v.update(
                    ref=d.ref_steps,
                    exp_arg_max=d.exp_arg_max,
                    spike_scale=d.spike_scale,
                    adex_drive=d.leak_drive + i_ext,
                    hs=d.h_sub,
                    half_hs=0.5 * d.h_sub,
                    n_sub=float(d.n_sub),
                )
            else:  # Izhikevich2007: each value as the torch step combines it (see its step)
                p = d.p
                v = {k: p[k] for k in ("k", "v_r", "v_t", "c_m", "b", "v_b", "c", "v_peak")}
                v.update(
                    ha=d.dt * p["a"],  # a double product when a is a Python float, as there
                    b_hyper=d.b_hyper_t,
                    d_eff=d.d_eff,
                    peak_u=d.peak_u,
                    reset_u=d.reset_u,
                    u_max=d.u_max,
                    i_e=p["i_e"],
                    i_stim=0.0 if i_stim is None else i_stim,
                )
                izh_code[g.start : g.stop] = self._izhikevich_code(d)
            if g.model_class is not LIF:  # the Mg2+ block's [Mg] / 3.57 (mg_block), any NMDA
                v["mg_c"] = d.params.get("mg", 1.0) / 3.57
            vals.append(v)

        def rows(key: str) -> int:
            per_member = (
                isinstance(v.get(key), torch.Tensor) and v[key].ndim == 2 and v[key].shape[0] > 1
                for v in vals
            )
            return B if B > 1 and any(per_member) else 1

        dev = self.device

        def table(key: str, dtype: torch.dtype = dt) -> torch.Tensor:
            out = torch.zeros((rows(key), N), dtype=dtype, device=dev)
            for g, v in zip(groups, vals):
                if key in v:
                    out[:, g.start : g.stop] = v[key]
            return out

        p21_rows = max([rows(f"p21_{r}") for r in range(rmax)] + [1])
        p21 = torch.zeros((rmax, p21_rows, N), dtype=dt, device=dev)
        for r in range(rmax):
            p21[r] = table(f"p21_{r}")
        decay = torch.zeros((len(groups), rmax), dtype=dt, device=dev)
        for gi, (g, d) in enumerate(zip(groups, self.dyn)):
            decay[gi, : len(g.receptors)] = d.syn_decay.reshape(-1)
        gain_rows = max([1] + [x.shape[1] for x in self._gain if x is not None])
        gain = torch.ones((rmax, gain_rows, N), dtype=dt, device=dev)
        for g, x in zip(groups, self._gain):
            if x is not None:
                gain[: len(g.receptors), :, g.start : g.stop] = x
        out = {
            "e_l": table("e_l"),
            "p22": table("p22"),
            "c0": table("c0"),
            "p21": p21,
            "decay": decay,
            "gain": gain,
            "v_th": table("v_th"),
            "v_reset": table("v_reset"),
            "ref": table("ref", torch.int32),
        }
        if models:
            m_rows = max(rows(k) for k in MODEL_ROWS)
            mtab = torch.zeros((len(MODEL_ROWS), m_rows, N), dtype=dt, device=dev)
            for r, key in enumerate(MODEL_ROWS):
                mtab[r] = table(key)
            out["mtab"], out["izh_code"], out["rcp"] = mtab, izh_code, self._receptor_table()
            out["consts"] = torch.tensor(
                [self.dt, 1e-30, -65.0, 0.0, 1.0, -0.062, 0.04, 5.0, 140.0], dtype=dt
            )
        return out

    @staticmethod
    def _izhikevich_code(d: Any) -> Any:
        """The compiled loop's Izhikevich (2007) variant code of a group's neurons (0 generic,
        1 FS, 2 TC / RTN): one int, or an array for per-neuron variants."""
        if d.mixed:
            return torch.where(d.is_fs, 1, torch.where(d.is_switch, 2, 0)).reshape(-1).cpu().numpy()
        return 1 if d.cubic else (2 if d.switch else 0)

    def _receptor_table(self) -> torch.Tensor:
        """The compiled loop's receptor constants (G, R, C) (see ``cpu_kernels._KIND``): kind,
        reversal potential, LIFAHP's mean decay over a step, and AdEx's coefficients at its
        sub-step boundaries (as :class:`AdExDynamics` forms them: float64, then cast)."""
        from zentai.sim import cpu_kernels as ck

        groups = self.net.groups
        J = 1 + max([d.n_sub for d in self.dyn if d.model_class is AdEx] + [0])
        rmax = max(len(g.receptors) for g in groups)
        out = torch.zeros((len(groups), rmax, ck._JCOL + 3 * J), dtype=torch.float64)
        for gi, (g, d) in enumerate(zip(groups, self.dyn)):
            for r, rec in enumerate(g.receptors):
                kind = 2 if rec.is_conductance and rec.mg_block else int(rec.is_conductance)
                out[gi, r, ck._KIND] = kind
                out[gi, r, ck._EREV] = rec.e_rev if rec.is_conductance else 0.0
                if g.model_class in (LIFAHP, LIFCond):
                    out[gi, r, ck._SMEAN] = d.step_mean[r]
                if g.model_class is AdEx:
                    n, c = d.n_sub + 1, ck._JCOL
                    blocked = {rb: decay for rb, _, decay in d.blocked}
                    out[gi, r, c : c + n] = d.g_lin[r]
                    out[gi, r, c + J : c + J + n] = d.i_lin[r]
                    if r in blocked:
                        out[gi, r, c + 2 * J : c + 2 * J + n] = torch.tensor(blocked[r])
        return out.to(self.dtype)

    def _inputs_at(self, t: int) -> None:
        """Apply the DC and Poisson-window changes due at step ``t``."""
        if t in self._dc_change:
            self._update_dc()
        if self._has_poisson and t in self._p_change:
            self._update_poisson_weights()

    def _later_changes(self, t: int, end: int) -> list[int]:
        """Steps in (t, end) where a chunk of the compiled or Triton loop must end: a DC or
        Poisson window changes, a SpikeTrain's events enter (at the start of a chunk), a
        monitor records (after one)."""
        later = [c for c in self._dc_change if t < c < end]
        if self._has_poisson:
            later += [c for c in self._p_change if t < c < end]
        later += [c for c in self._train_events if t < c < end]
        later += [(t // every + 1) * every for *_, every in self._monitors]
        return later

    def _compiled_steps(self, n: int) -> None:
        """Advance ``n`` steps with the compiled loop (chunks end where inputs change)."""
        from zentai.sim import cpu_kernels

        end = self.t_step + n
        while self.t_step < end:
            t = self.t_step
            self._inputs_at(t)
            # tables are rebuilt only after what they depend on changed (see _invalidate)
            if self._cparams is None:
                self._cparams = self._compiled_params()
            if self._cpoisson is None:
                self._cpoisson = self._compiled_poisson()
            if self._cpw is None:
                self._cpw = (
                    self._p_w[self._cperm].numpy()
                    if self._has_poisson
                    else np.zeros(0, self._cval.dtype)
                )
            stop = min([end, *self._later_changes(t, end)])
            ex_c, ex_w = self._compiled_train_events(t)
            if (
                self._cblk is not None
                and stop - t >= BLOCK_MIN_STEPS
                and self._block_steps(t, stop, ex_c, ex_w)
            ):
                self.t_step = stop
                self._record_monitors(self.t_step)
                continue
            ob, oi, ot = self._cout
            parts = (self._cparams, self._cpoisson, self._cpw, self._cbounds, self._cseg, self.buf)
            if self._cargs is None or any(a is not b for a, b in zip(self._cargs[0], parts)):
                # the arrays the loop reads, gathered once (a call per step in closed loops and
                # distributed runs made this Python tuple a third of the step's time)
                self._cargs = (
                    parts,
                    (
                        self.buf.view(self.D, self.B * self.S).numpy(),
                        self.indptr.numpy(),
                        self.target.numpy(),
                        self.weight.numpy(),
                        self.dsteps.numpy(),
                        *self._cgroups,
                        self._cv.numpy(),
                        self._cu.numpy(),
                        self._csyn.numpy(),
                        self._crefr.numpy(),
                        *self._cparams,
                        *self._cseg,
                        *self._cpoisson,
                        self._cpw,
                        self._cval,
                        self._cxs,
                        self._ccnt,
                        *self._cbounds,
                        *self._cproc,
                        self._cspiked,
                        self._ctask_n,
                        self._cspk_b,
                        self._cspk_i,
                    ),
                )
            args = (
                t,
                stop - t,
                self.D,
                self.B,
                self.S,
                *self._cargs[1],
                *self._cbins,
                self._cbin_n,
                ob,
                oi,
                ot,
                ob.shape[0],
                ex_c,
                ex_w,
            )
            done, n_out, *self._cbins = cpu_kernels.run_lif(self.num_threads, *args)
            if n_out:
                self._compiled_record(ob[:n_out], oi[:n_out], ot[:n_out])
            self.t_step = t + done
            self._record_monitors(self.t_step)

    def _compiled_poisson(self) -> tuple:
        """Member keys, table indices, CDF rows and slots of the Poisson entries in the
        threads' order."""
        if not self._has_poisson:
            return (np.zeros((self.B, 0), np.uint64), np.zeros((1, 0)), self._crows, self._ccnt)
        perm = self._cperm
        return (
            self._p_h[:, perm].contiguous().numpy().view(np.uint64),
            self._p_tab_f[:, perm].contiguous().numpy(),
            self._crows,
            self._p_slots[perm].numpy(),
        )

    def _invalidate(self) -> None:
        """Forget the compiled loop's tables (rebuilt at its next call): parameters and
        currents (after set_param, a DC change or a restore), Poisson keys and weights."""
        self._cparams = self._cpoisson = self._cpw = None

    def _compiled_train_events(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Cells and weights of the SpikeTrain events entering at step ``t`` (in order)."""
        ftype = self._cval.dtype
        events = self._train_events.get(t)
        if not events:
            return np.zeros(0, np.int64), np.zeros(0, ftype)
        cells, weights = [], []
        for slots, w in events:
            for b in range(self.B):
                cells.append(slots.numpy() + b * self.S)
                weights.append(np.full(slots.numel(), w, dtype=ftype))
        return np.concatenate(cells), np.concatenate(weights)

    def _compiled_record(self, b: np.ndarray, i: np.ndarray, steps: np.ndarray) -> None:
        if self._rate is not None:
            pop = self._pop_of.numpy()[i]
            flat = ((steps - self._rate_t0) * self.B + b) * self._n_pops + pop
            self._rate_cur.view(-1).index_add_(
                0, torch.from_numpy(flat), torch.ones(flat.size, dtype=torch.int32)
            )
        self._record_spike_arrays(b, i, steps)

    def _record_spike_arrays(self, b: np.ndarray, i: np.ndarray, steps: np.ndarray) -> None:
        """A chunk's spikes (member, neuron, step; in order) to the exchange of a distributed
        run (``spike_tap``) and, of its neurons, to the Spikes recorder."""
        if self.spike_tap is not None:
            self.spike_tap.append(tuple(torch.from_numpy(x.copy()) for x in (b, i, steps)))
        if self._record_spikes:
            if self._spike_mask is not None:
                keep = self._spike_mask.numpy()[i]
                b, i, steps = b[keep], i[keep], steps[keep]
            if b.size:
                self._flush()
                self._spk_chunks.append((b.astype(np.int32), i.copy(), steps.copy()))

    # ================================================================== fused Triton step
    def _setup_triton(self) -> None:
        """Prepare the fused GPU step (:mod:`zentai.sim.gpu_kernels`): the states merged into
        network-wide arrays, per-neuron tables of the group layout, the step counter and spike
        list on the device, and fixed buffers for one chunk's records (fixed so that a
        captured CUDA graph stays valid)."""
        B, N, dev = self.B, self.net.n_neurons, self.device
        soff = self._merge_states()
        groups = self.net.groups
        slot0 = torch.empty(N, dtype=torch.int64)
        ng = torch.empty(N, dtype=torch.int64)
        synb = torch.empty(N, dtype=torch.int64)
        gid = torch.empty(N, dtype=torch.int32)
        nrec = torch.empty(N, dtype=torch.int32)
        for gi, g in enumerate(groups):
            loc = torch.arange(g.size, dtype=torch.int64)
            slot0[g.start : g.stop] = g.slot_offset + loc
            ng[g.start : g.stop] = g.size
            synb[g.start : g.stop] = soff[gi] + loc
            gid[g.start : g.stop] = gi
            nrec[g.start : g.stop] = len(g.receptors)
        self._tneur = tuple(x.to(dev) for x in (slot0, ng, synb, gid, nrec))
        # each neuron's update: 0 LIF; Izhikevich (2007): 1 + its variant code of the
        # compiled loop (1 generic, 2 FS, 3 TC / RTN); Izhikevich (2003) 4, LIFCond 5, LIFAHP
        # 6, AdEx 7; and which of them the kernel needs (compile-time flags)
        models = {g.model_class for g in groups}
        self._tflags = {
            "HAS_IZH": bool(models & {Izhikevich2007, Izhikevich2003}),
            "HAS_COND": bool(models & {LIFCond, LIFAHP}),
            "HAS_ADEX": AdEx in models,
        }
        self._tmodels = models != {LIF}
        if self._tmodels:
            kind = torch.zeros(N, dtype=torch.int32)
            codes = {Izhikevich2003: 4, LIFCond: 5, LIFAHP: 6, AdEx: 7}
            for g, d in zip(groups, self.dyn):
                if g.model_class is Izhikevich2007:
                    kind[g.start : g.stop] = 1 + torch.as_tensor(self._izhikevich_code(d))
                elif g.model_class in codes:
                    kind[g.start : g.stop] = codes[g.model_class]
            self._tkind = kind.to(dev)
        # AdEx sub-steps per step (dt / MAX_SUBSTEP_MS: the same for every AdEx group)
        self._tnsub = max([d.n_sub for d in self.dyn if d.model_class is AdEx] + [0])
        self._trmax = max(len(g.receptors) for g in groups)
        # the kernels' step is base + j: the host sets base before each launch sequence (or
        # graph replay), each launch of the sequence has its own j
        self._tbase = torch.zeros(1, dtype=torch.int64, device=dev)
        # the spike lists of steps t mod 3 (their counts, spikes, rows' first and end synapse)
        self._tcnt = torch.zeros(3, dtype=torch.int32, device=dev)
        self._tspk, self._tspk_lo, self._tspk_hi = (
            torch.zeros(3 * max(B * N, 1), dtype=torch.int64, device=dev) for _ in range(3)
        )
        self._ttstart = torch.zeros(1, dtype=torch.int64, device=dev)
        self._trec_n = torch.zeros(1, dtype=torch.int32, device=dev)
        # the neurons whose spikes the kernel records: those of the Spikes recorder; every
        # neuron in a part of a distributed network (the exchange takes them all: spike_tap)
        mask = None if self.net.is_part else self._spike_mask
        self._trecf = (torch.ones(N, dtype=torch.int8) if mask is None else mask.to(torch.int8)).to(
            dev
        )
        self._n_rec = int(self._trecf.sum()) if self._record_spikes or self.net.is_part else 0
        self._tpop = self._pop_of.to(torch.int32)
        self._tchunk = self.nan_check_steps  # steps per chunk (set by _triton_tables)
        self._trate = torch.zeros((0, B, self._n_pops), dtype=torch.int32, device=dev)
        self._trec_cap = -1
        self._trec_t = self._trec_i = None
        self._tgraphs: dict[tuple[int, int], Any] = {}  # by (phase, steps)
        self._tkeep: dict[str, torch.Tensor] = {}  # tensors the captured graphs read
        self._twarm: dict[int, bool] = {}  # phases compiled for the current arguments
        if self._has_poisson:
            self._setup_poisson_tables()
            # the Poisson entries by slot: (rank among the slot's entries, slot) of each entry,
            # in entry order within a slot (the slots never change, the tables may)
            slots = self._p_slots.cpu()
            order = torch.argsort(slots, stable=True)
            ss = slots[order]
            rank = torch.arange(ss.numel()) - torch.searchsorted(ss, ss)
            self._tslot = (order, rank, ss, int(rank.max()) + 1)
        # deliver: each spike's row cut into parts of about TUNE["syn_per_part"] synapses
        # (at least 1, at most 64 parts)
        from zentai.sim import gpu_kernels

        mean_row = self.net.n_synapses / max(N, 1)
        tune = dict(gpu_kernels.TUNE)
        self._ttune = tune
        self._tsplit = int(min(64, max(1, round(mean_row / tune["syn_per_part"]))))
        self._setup_triton_procedural()
        # programmatic dependent launch: where the GPU has it (the interpreter runs its code
        # path, in order), the step holds at most 4 receptors' Poisson terms, and no
        # procedural projections add a third kernel between the two
        cuda = dev.type == "cuda"
        self._tpdl = bool(
            tune["pdl"]
            and (
                not cuda or (gpu_kernels.HAVE_PDL and torch.cuda.get_device_capability(dev)[0] >= 9)
            )
            and self._trmax <= 4
            and self._tproc is None
        )
        self._tpipe = self._tpdl and bool(tune["pipeline"])
        if cuda:
            sms = torch.cuda.get_device_properties(dev).multi_processor_count
            per_sm = tune[
                "pdl_deliver_programs_per_sm" if self._tpdl else "deliver_programs_per_sm"
            ]
            self._tgrid_d = (per_sm * sms,)
            self._tblock = tune["block"]
        else:  # the interpreter runs programs one after another: few, wide ones
            self._tgrid_d = (2,)
            self._tblock = 1024

    def _procedural_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The procedural projections as the fast paths read them: per projection 8 integers
        (pre range, posts, slot base, segment length, three keys) and 11 float64s (p,
        log(1 - p), weight and delay (mu, sigma, low, high), dt); CPU tensors."""
        procs = self.net.procedural
        pi = torch.tensor(
            [
                [pp.pre_start, pp.pre_stop, pp.n_post, pp.slot_base, pp.seg,
                 pp.key_conn, pp.key_weight, pp.key_delay]
                for pp in procs
            ],
            dtype=torch.int64,
        ).reshape(-1, 8)  # fmt: skip
        pf = torch.tensor(
            [
                [pp.p, math.log1p(-pp.p) if pp.p < 1 else -math.inf, *pp.w, *pp.d, self.dt]
                for pp in procs
            ],
            dtype=torch.float64,
        ).reshape(-1, 11)
        return pi, pf

    def _setup_triton_procedural(self) -> None:
        """Tables of the procedural projections for ``deliver_procedural``
        (:meth:`_procedural_tables`) and the offsets of their posts' segments."""
        procs = self.net.procedural
        self._tproc = None
        if not procs:
            return
        segs = [-(-pp.n_post // pp.seg) for pp in procs]
        off = np.concatenate([[0], np.cumsum(segs)]).astype(np.int64)
        pi, pf = self._procedural_tables()
        dev = self.device
        self._tproc = (pi.to(dev), pf.to(dev), torch.as_tensor(off, device=dev), int(off[-1]))

    def _triton_tables(self) -> None:
        """(Re)build what changed since the last call (see :meth:`_invalidate`): parameter
        tables, Poisson tables and weights, and the record buffer's size. Tensors a captured
        graph reads are refilled in place when their shape is unchanged, else the graphs are
        dropped."""
        dev, B = self.device, self.B
        keep = self._tkeep

        def hold(name: str, x: torch.Tensor) -> torch.Tensor:
            old = keep.get(name)
            if old is not None and old.shape == x.shape and old.dtype == x.dtype:
                old.copy_(x)
                return old
            self._tgraphs.clear()
            keep[name] = x.contiguous()
            return keep[name]

        rebuild = False
        if self._cparams is None:
            t = self._param_tables(models=self._tmodels)
            self._cparams = {
                k: hold(k, t[k])
                for k in ("e_l", "p22", "c0", "v_th", "v_reset", "ref", "p21", "gain", "decay")
            }
            if self._tmodels:  # the compiled loop's model and receptor tables and constants
                for k in ("mtab", "rcp", "consts"):
                    self._cparams[k] = hold(k, t[k].to(dev))
            # the record buffer holds every spike a chunk can make: each recorded neuron
            # fires at most once per refractory period + 1 steps; chunks are shortened so
            # that this bound stays under REC_LIMIT entries (12 bytes each)
            min_ref = int(self._cparams["ref"].min()) if self._n_rec else 0
            chunk = self.nan_check_steps
            if self._n_rec:
                chunk = min(chunk, max(1, REC_LIMIT // (B * self._n_rec) * (min_ref + 1)))
            self._tchunk = chunk
            cap = max(B * self._n_rec * -(-chunk // (min_ref + 1)), 1)
            if cap > self._trec_cap:
                self._trec_cap = cap
                self._trec_t = torch.zeros(cap, dtype=torch.int32, device=dev)
                self._trec_i = torch.zeros(cap, dtype=torch.int64, device=dev)
            if self._rate is not None and self._trate.shape[0] < chunk:
                self._trate = torch.zeros((chunk, B, self._n_pops), dtype=torch.int32, device=dev)
            rebuild = True
        if self._has_poisson:
            # per (rank among the slot's entries, member row, slot): each entry's stream key
            # and table (after a rate or key change), and weight (after a window change), so
            # a neuron finds its Poisson input without an indirection
            order, rank, ss, Q = self._tslot
            S = self.S
            if self._cpoisson is None:
                M, P = self._p_slots.numel(), self._p_tab.shape[0]
                e_tab = torch.full((Q, P, S), -1, dtype=torch.int32)
                e_tab[rank, :, ss] = self._p_tab.cpu()[:, order].to(torch.int32).T
                e_h = torch.zeros((Q, B, S), dtype=torch.int64)
                e_h[rank, :, ss] = self._p_h.cpu().expand(B, M)[:, order].T
                rows = torch.as_tensor(self._crows, dtype=torch.float64)
                self._cpoisson = (
                    hold("e_h", e_h.to(dev)),
                    hold("e_tab", e_tab.to(dev)),
                    hold("prows", rows.reshape(-1).to(dev)),
                    rows.shape[1],
                )
                rebuild = True
            if self._cpw is None:
                e_w = torch.zeros((Q, S), dtype=self.dtype)
                e_w[rank, ss] = self._p_w.cpu().to(self.dtype)[order]
                self._cpw = hold("e_w", e_w.to(dev))
                rebuild = True
        if rebuild:
            self._triton_args()

    def _triton_args(self) -> None:
        """Argument lists of the two kernels (everything but the step counter cells)."""
        B, N, dev = self.B, self.net.n_neurons, self.device
        P = self._cparams

        def rs(x: torch.Tensor) -> int:  # row stride: per-member rows, or one shared row
            return N if x.shape[-2] > 1 else 0

        if self._has_poisson:
            e_h, e_tab, prows, L = self._cpoisson
            e_w, maxe = self._cpw, e_tab.shape[0]
            rs_tab = self.S if e_tab.shape[1] > 1 else 0
            qs_tab, qs_h = e_tab.shape[1] * self.S, B * self.S
        else:
            z = torch.zeros(1, dtype=torch.int32, device=dev)
            e_h, e_tab, e_w, prows = z.long(), z, z.to(self.dtype), z.double()
            L, maxe, rs_tab, qs_tab, qs_h = 1, 1, 0, 0, 0
        rate = self._trate
        if self._tmodels:
            mtab, rcp, cst, kind = P["mtab"], P["rcp"], P["consts"], self._tkind
            rs_m, rr_m = (N if mtab.shape[1] > 1 else 0), mtab.shape[1] * N
        else:
            mtab = rcp = cst = torch.zeros(1, dtype=self.dtype, device=dev)
            kind, rs_m, rr_m = torch.zeros(1, dtype=torch.int32, device=dev), 0, 0
        self._targs_u = (
            self._cv,
            self._crefr,
            self._csyn,
            self.buf,
            *self._tneur,
            P["e_l"],
            P["p22"],
            P["c0"],
            P["v_th"],
            P["v_reset"],
            P["ref"],
            P["p21"],
            P["gain"],
            P["decay"],
            rs(P["e_l"]),
            rs(P["p22"]),
            rs(P["c0"]),
            rs(P["v_th"]),
            rs(P["v_reset"]),
            rs(P["ref"]),
            rs(P["p21"]),
            rs(P["gain"]),
            P["p21"].shape[1] * N,
            P["gain"].shape[1] * N,
            e_h,
            e_tab,
            e_w,
            prows,
            rs_tab,
            qs_tab,
            qs_h,
            self.indptr,
            self._tcnt,
            self._tspk,
            self._tspk_lo,
            self._tspk_hi,
            self._trecf,
            self._trec_n,
            self._trec_t,
            self._trec_i,
            self._trec_cap,
            self._tpop,
            rate,
            self._ttstart,
            self._cu,
            kind,
            mtab,
            rs_m,
            rr_m,
            cst,
            rcp,
            rcp.shape[-1],
            self._tnsub,
            self._n_pops,
            N,
            self.S,
            B,
            self.D,
        )
        self._tkw_u = {
            "RMAX": self._trmax,
            "L": L,
            "JV": 4 if self.device.type == "cpu" else 8,  # (a power of 2)
            "MAXE": maxe,
            "HAS_POISSON": self._has_poisson,
            "HAS_GAIN": any(x is not None for x in self._gain),
            "REC_SPIKES": self._n_rec > 0,
            "REC_RATE": self._rate is not None,
            **self._tflags,
            "BLOCK": self._tblock,
        }
        self._tgrid_u = (-(-N // self._tblock), B)
        self._targs_d = (
            self._tcnt,
            self._tspk,
            self._tspk_lo,
            self._tspk_hi,
            self.target,
            self.weight,
            self.dsteps,
            self.buf,
            N,
            self.S,
            B,
            self.D,
        )
        self._tkw_d = {"SPLIT": self._tsplit, "DBLOCK": self._ttune["deliver_block"]}
        self._tgraphs.clear()
        self._twarm = {}

    def _triton_launch(self, k: int, phase: int) -> None:
        """Launch steps base + 0, ..., base + k - 1: an update of ``phase`` (STEP, or BODY /
        TAIL of the pipelined launch) and a delivery each; for HEAD the update alone."""
        from zentai.sim import gpu_kernels as gk

        interp = gk.interpreting()
        opts = {} if interp else {"enable_fp_fusion": False}
        warps = {} if interp else {"num_warps": self._ttune["warps"]}
        if self._ttune["maxnreg"] and not interp:
            warps["maxnreg"] = self._ttune["maxnreg"]
        pdl = {}
        if self._tpdl and phase != gk.HEAD:
            # programmatic dependent launch: each kernel starts while the one before it runs
            pdl = {"PDL": True} if interp else {"PDL": True, "launch_pdl": True}
        pipe = {"PIPE": phase != gk.STEP}
        for j in range(k):
            gk.lif_step[self._tgrid_u](
                self._tbase, j, *self._targs_u, **self._tkw_u, PHASE=phase, **opts, **warps, **pdl
            )
            if phase == gk.HEAD:
                continue
            if self._tproc is not None:
                self._triton_procedural(j, opts)
            gk.deliver[self._tgrid_d](
                self._tbase, j, *self._targs_d, **self._tkw_d, **pipe, **opts, **pdl
            )

    def _triton_procedural(self, j: int, opts: dict) -> None:
        from zentai.build.procedural import REDRAW_ROUNDS
        from zentai.sim import gpu_kernels as gk

        pi, pf, off, n_seg = self._tproc
        gk.deliver_procedural[self._tgrid_d](
            self._tbase, j, self._tcnt, self._tspk, pi, pf, off, self.buf, n_seg,
            self.net.n_neurons, self.S, self.B, self.D,
            NPROJ=pi.shape[0], R=REDRAW_ROUNDS,
            PBLOCK=128 if self.device.type == "cuda" else 256, **opts,
        )  # fmt: skip

    def _triton_run(self, t: int, k: int) -> None:
        """Steps t, ..., t + k - 1. On CUDA, once launched steps have compiled the kernels,
        blocks of up to ``TUNE["graph_steps"]`` steps are replayed from captured CUDA graphs
        (one per block length, cached). Pipelined (``TUNE["pipeline"]``, chunks of 4 steps
        or more): the update of step t alone (HEAD), then updates that take step s's input
        and fire step s + 1 (BODY), the last taking its input only (TAIL)."""
        from zentai.sim import gpu_kernels as gk

        pipe = self._tpipe and k >= 4
        if pipe:
            self._tbase.fill_(t)
            self._triton_launch(1, gk.HEAD)
        phase = gk.BODY if pipe else gk.STEP
        graphs = self.device.type == "cuda" and get_option("cuda_graphs")
        s, end = t, (t + k - 1 if pipe else t + k)  # (the last pipelined step: TAIL)
        while s < end:
            self._tbase.fill_(s)
            n = min(end - s, self._ttune["graph_steps"])
            if graphs and self._twarm.get(phase) and n >= 2:
                g = self._tgraphs.get((phase, n))
                if g is None:  # capture records the launches without running them
                    g = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(g):
                        self._triton_launch(n, phase)
                    self._tgraphs[phase, n] = g
                g.replay()
            else:  # launched: compiles the kernels first (a compile inside a capture fails)
                n = min(n, 2) if graphs else n
                self._triton_launch(n, phase)
                self._twarm[phase] = True
            s += n
        if pipe:
            self._tbase.fill_(end)
            self._triton_launch(1, gk.TAIL)

    def _triton_steps(self, n: int) -> None:
        """Advance ``n`` steps with the fused step (chunks end where inputs change)."""
        end = self.t_step + n
        B, N = self.B, self.net.n_neurons
        while self.t_step < end:
            t = self.t_step
            self._inputs_at(t)
            self._triton_tables()
            stop = min([end, t + self._tchunk, *self._later_changes(t, end)])
            k = stop - t
            self._add_train_events(t, self.buf[t % self.D])
            self._tcnt.zero_()
            self._trec_n.zero_()
            if self._rate is not None:
                self._trate[:k].zero_()
                self._ttstart.fill_(t)
            self._triton_run(t, k)
            self.t_step = stop
            if self._rate is not None:
                r0 = t - self._rate_t0
                self._rate_cur[r0 : r0 + k] += self._trate[:k]
            if self._tkw_u["REC_SPIKES"]:
                n_rec = int(self._trec_n)
                if n_rec > self._trec_cap:  # cannot happen: the buffer holds the bound
                    raise SimulationError(
                        f"internal error: {n_rec} spikes in a chunk of {k} steps exceed the "
                        f"record buffer ({self._trec_cap}); please report."
                    )
                if n_rec:
                    # atomics leave them unordered: sort by (step, member, neuron) on the
                    # device (one int64 key each), then move them to the host
                    bn = B * N
                    key = (self._trec_t[:n_rec].to(torch.int64) - t) * bn + self._trec_i[:n_rec]
                    rel, flat = np.divmod(torch.sort(key).values.cpu().numpy(), bn)
                    bb, ii = np.divmod(flat, N)
                    self._record_spike_arrays(bb.astype(np.int32), ii, rel + t)
            self._record_monitors(self.t_step)

    # ================================================================== inputs
    def _update_dc(self) -> None:
        t = self.t_step
        per_group: dict[int, torch.Tensor] = {}

        def acc(gi: int) -> torch.Tensor:
            if gi not in per_group:
                n = self.net.groups[gi].size
                per_group[gi] = torch.zeros((self.B, n), dtype=self.dtype, device=self.device)
            return per_group[gi]

        for gi, start, stop, idx, amp in self._dc:
            if start <= t and (stop < 0 or t < stop):
                acc(gi)[:, idx.to(self.device)] += amp
        for (gi, _), (idx, amp) in self._injected.items():
            a = acc(gi)
            a[:, idx] += amp
        self._i_stim = [per_group.get(gi) for gi in range(len(self.net.groups))]
        self._cparams = None

    def _update_poisson_weights(self) -> None:
        t = self.t_step
        active = torch.tensor(
            [a <= t and (b is None or t < b) for a, b in self._poisson_windows],
            device=self.device,
        )
        self._p_w = self._p_w_full * active[self._p_stim]
        self._cpw = None

    def _set_poisson_keys(self) -> None:
        # per (member, entry) stream state, so a step costs one hash per entry
        keys = torch.tensor(
            [rng.key(s, "poisson") for s in self.member_seeds],
            dtype=torch.int64,
            device=self.device,
        ).reshape(self.B, 1)
        self._p_h = rng.stream_key(keys, self._p_stream)
        self._cpoisson = None

    def _poisson_step(self, bufrow: torch.Tensor) -> None:
        if self._fast_poisson is not None:
            from zentai.sim import cpu_kernels

            cpu_kernels.poisson_row(
                bufrow.view(-1).numpy(),
                self.S,
                self.B,
                self.t_step,
                self._fast_poisson,
                self._p_h.numpy().view(np.uint64),
                self._p_tab_f.numpy(),
                self._crows,
                self._p_slots.numpy(),
                self._p_w.numpy(),
                self._cval,
                self._cxs,
                self._ccnt,
            )
            return
        uu = rng.to_uniform(rng.bits_from(self._p_h, self.t_step))  # (B, M)
        # bucketize: same as searchsorted(right=True), ~100x faster for 2-D inputs on CPU
        pos = torch.bucketize(uu + self._p_tab_f, self._p_cdf, right=True)
        counts = pos - self._p_tab_start[self._p_tab]
        bufrow.index_add_(1, self._p_slots, counts.to(self.dtype) * self._p_w)

    def inject_current(self, population: str, amplitude: Any, neurons: Any = None) -> None:
        """Set a persistent external current (pA) on a population until changed.

        ``amplitude`` may be a scalar or one value per member (B,). Call again with 0 to stop.
        """
        gi, a, b = self._locate(population)
        amp = u.to_canonical(amplitude, "pA", owner="inject_current.amplitude")
        idx = torch.arange(a, b) if neurons is None else torch.as_tensor(neurons) + a
        amp_t = torch.as_tensor(amp, dtype=self.dtype, device=self.device)
        if amp_t.ndim == 1:
            if amp_t.numel() != self.B:
                raise SpecError(
                    f"inject_current.amplitude must be a scalar or {self.B} values (one per "
                    f"member); got {amp_t.numel()} values."
                )
            amp_t = amp_t.reshape(self.B, 1)
        self._injected[(gi, a)] = (idx.to(self.device), amp_t)
        self._dc_change.add(self.t_step)

    # ================================================================== state access
    def get_state(self, population: str, variable: str = "v") -> torch.Tensor:
        """View (B, size) of a state variable of a population, on the device."""
        gi, a, b = self._locate(population)
        st = self.states[gi]
        if variable not in st or variable in ("syn", "refr"):
            names = type(self.spec.population(population).model).state_names
            raise SpecError(
                f"{type(self.spec.population(population).model).__name__} has no state "
                f"variable {variable!r}; state variables: {list(names)}."
            )
        return st[variable][:, a:b]

    def set_state(self, population: str, variable: str, value: Any) -> None:
        """Overwrite a state variable of a population (scalar, (size,), (B,1) or (B, size))."""
        view = self.get_state(population, variable)
        view[...] = torch.as_tensor(value, dtype=self.dtype, device=self.device)

    def get_param(self, population: str, name: str) -> torch.Tensor:
        """A parameter of a population as the engine uses it, (1 or B, size) (a copy).

        It can differ from the model's value: the builder folds constant currents (e.g. the
        DC that replaces background input) into ``i_e``. Add to it rather than overwrite it.
        """
        gi, a, b = self._locate(population)
        d = self.dyn[gi]
        if name not in d.params:
            raise SpecError(f"{population!r} has no parameter {name!r}; {closest(name, d.params)}.")
        v = d.params[name]
        if isinstance(v, torch.Tensor):
            return v[:, a:b].clone()
        return torch.full((1, b - a), float(v), dtype=self.dtype, device=self.device)

    def set_param(self, population: str, name: str, value: Any) -> None:
        """Change a model parameter of a population, per neuron or per member.

        ``value``: scalar, (size,), (B, 1) or (B, size), canonical units of the parameter.
        """
        gi, a, b = self._locate(population)
        d = self.dyn[gi]
        if name not in d.params:
            raise SpecError(f"{population!r} has no parameter {name!r}; {closest(name, d.params)}.")
        n = self.net.groups[gi].size
        cur = d.params[name]
        val = torch.as_tensor(value, dtype=self.dtype, device=self.device)
        if val.ndim == 2 and val.shape[0] not in (1, self.B):
            raise SpecError(
                f"set_param value must have shape (), ({b - a},), (B, 1) or (B, {b - a}) with "
                f"B = {self.B}; got {tuple(val.shape)}."
            )
        rows = self.B if (val.ndim == 2 and val.shape[0] == self.B and self.B > 1) else 1
        if isinstance(cur, torch.Tensor) and cur.shape[0] == self.B:
            rows = self.B
        full = torch.empty((rows, n), dtype=self.dtype, device=self.device)
        full[...] = cur
        full[:, a:b] = val
        d.params[name] = full
        d.setup()
        self._cparams = None

    # ================================================================== stepping
    def _step(self) -> None:
        t = self.t_step
        row = t % self.D
        bufrow = self.buf[row]
        self._inputs_at(t)
        if self._has_poisson:
            self._poisson_step(bufrow)
        self._add_train_events(t, bufrow)
        spikes = []
        for gi, g in enumerate(self.net.groups):
            arriving = (
                bufrow[:, g.slot_offset : g.slot_offset + g.n_slots]
                .view(self.B, len(g.receptors), g.size)
                .transpose(0, 1)
            )
            if self._gain[gi] is not None:
                arriving = arriving * self._gain[gi]
            spikes.append(self.dyn[gi].step(self.states[gi], arriving, self._i_stim[gi]))
        bufrow.zero_()
        spiked = spikes[0] if len(spikes) == 1 else torch.cat(spikes, dim=1)
        nz = spiked.nonzero()
        if self.spike_tap is not None and nz.shape[0]:
            self.spike_tap.append((nz[:, 0], nz[:, 1], torch.full_like(nz[:, 0], t)))
        if nz.shape[0]:
            self._deliver(nz[:, 0], nz[:, 1])
            self._record_step(nz)
        self._record_monitors(t + 1)
        self.t_step = t + 1

    def _add_train_events(self, t: int, bufrow: torch.Tensor) -> None:
        """Add the SpikeTrain events entering at step ``t`` to the buffer row (B, S)."""
        for slots, w in self._train_events.get(t, ()):
            bufrow.index_add_(
                1,
                slots,
                torch.full((self.B, slots.numel()), w, dtype=self.dtype, device=self.device),
            )

    def _deliver(self, b: torch.Tensor, i: torch.Tensor) -> None:
        for pp in self.net.procedural:
            self._deliver_procedural(pp, b, i)
        # the STP state moves with every spike, also of neurons without synapses
        f = self._stp_factors(b, i) if self._stp else None
        rep, syn = row_synapses(self.indptr, i)
        if syn.numel() == 0:
            return
        flat = self.ring_cells(self.dsteps[syn], self.target[syn], self.t_step, b[rep])
        w = self.weight[syn]
        if f is not None:
            w = w * f[rep, self._stp_cls[syn].to(torch.int64)].to(self.dtype)
        self.buf.view(-1).index_add_(0, flat, w)

    def ring_cells(
        self, dsteps: torch.Tensor, target: torch.Tensor, t: Any, b: torch.Tensor
    ) -> torch.Tensor:
        """Flat ring-buffer cells of events emitted at step(s) ``t`` by member(s) ``b`` with
        delays ``dsteps`` (steps) onto input slots ``target``: ((t + d) % D, b, target)."""
        flat = ((dsteps.to(torch.int64) + t) % self.D) * (self.B * self.S)
        flat += target.to(torch.int64)
        if self.B > 1:
            flat += b * self.S
        return flat

    def _deliver_procedural(self, pp: Any, b: torch.Tensor, i: torch.Tensor) -> None:
        """Regenerate and deliver the synapses of projection ``pp`` of this step's spikes
        (:func:`zentai.build.procedural.row`, on the CPU)."""
        from zentai.build.procedural import row

        sel = ((i >= pp.pre_start) & (i < pp.pre_stop)).nonzero()[:, 0]
        if sel.numel() == 0:
            return
        k, j, w, steps = row(pp, i[sel].cpu(), self.dt)
        if k.numel() == 0:
            return
        bb = b[sel].cpu()[k]
        flat = ((steps + self.t_step) % self.D) * (self.B * self.S) + bb * self.S + pp.slot_base + j
        self.buf.view(-1).index_add_(0, flat.to(self.device), w.to(self.device, self.dtype))

    def _record_step(self, nz: torch.Tensor) -> None:
        if self._record_spikes:
            sel = nz if self._spike_mask is None else nz[self._spike_mask[nz[:, 1]]]
            if sel.shape[0]:
                self._spk_pending.append((self.t_step, sel))
        if self._rate is not None:
            idx = nz[:, 0] * self._n_pops + self._pop_of[nz[:, 1]]
            row = self._rate_cur[self.t_step - self._rate_t0].view(-1)
            row.index_add_(0, idx, torch.ones(idx.numel(), dtype=torch.int32, device=self.device))

    def _record_monitors(self, step: int) -> None:
        """Append the monitored variables after ``step`` steps, for monitors due then."""
        for k, (rec, gi, idx, every) in enumerate(self._monitors):
            if step % every == 0:
                st = self.states[gi]
                self._mon_data[k].append(
                    (step, torch.stack([st[v][:, idx] for v in rec.variables]))
                )

    def _flush(self) -> None:
        if self._spk_pending:
            steps = (
                torch.cat(
                    [
                        torch.full((s.shape[0],), t, dtype=torch.int64, device=s.device)
                        for t, s in self._spk_pending
                    ]
                )
                .cpu()
                .numpy()
            )
            nz = torch.cat([s for _, s in self._spk_pending]).cpu().numpy()
            self._spk_chunks.append((nz[:, 0].astype(np.int32), nz[:, 1], steps))
            self._spk_pending = []

    def _check_nan(self, t_prev_ms: float) -> None:
        for gi, st in enumerate(self.states):
            bad = torch.isnan(st["v"])
            if bool(bad.any()):
                cols = bad.any(0).nonzero()[:, 0]
                first = int(cols[0]) + self.net.groups[gi].start
                pop = next(name for name, (a, b) in self.net.pop_slices.items() if a <= first < b)
                raise SimulationError(
                    f"State of population {pop!r} became NaN between t = {t_prev_ms:g} ms and "
                    f"t = {self.t_ms:g} ms (neuron {first - self.net.pop_slices[pop][0]}). "
                    f"Check its parameters and input; results up to t = {t_prev_ms:g} ms are "
                    f"in sim.result()."
                )

    @property
    def t_ms(self) -> float:
        """Biological time reached (ms)."""
        return self.t_step * self.dt

    def _n_steps(self, duration: Any) -> int:
        dur = u.to_canonical(duration, "ms", owner="run duration")
        if not isinstance(dur, float) or not math.isfinite(dur) or dur < 0:
            raise SpecError(
                f"run duration must be a finite, non-negative time (e.g. 1000 * u.ms); got "
                f"{duration!r}."
            )
        n = dur / self.dt
        if abs(n - round(n)) > 1e-6 * max(1.0, n):
            raise SpecError(f"run duration must be a multiple of dt = {self.dt} ms; got {dur} ms.")
        return round(n)

    def step(self, n: int = 1) -> None:
        """Advance by ``n`` steps (no progress bar; for closed loops)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise SpecError(f"step(n): n must be a non-negative integer; got {n!r}.")
        self._advance(int(n), progress=False)

    def run(
        self,
        duration: Any,
        *,
        progress: bool | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: Any = None,
    ) -> Result:
        """Simulate ``duration`` (ms or quantity) more and return the cumulative :class:`Result`.

        With ``checkpoint``, the full state is saved there (atomically) every
        ``checkpoint_every`` of biological time (default: only at the end) and at the end, so an
        interrupted long run continues with :meth:`restore` and loses at most one interval.
        """
        n = self._n_steps(duration)
        every = None
        if checkpoint_every is not None:
            every_ms = u.to_canonical(checkpoint_every, "ms", owner="run checkpoint_every")
            if not (isinstance(every_ms, float) and every_ms > 0 and math.isfinite(every_ms)):
                raise SpecError(
                    f"run checkpoint_every must be a positive time; got {checkpoint_every!r}."
                )
            if checkpoint is None:
                raise SpecError("run checkpoint_every needs checkpoint= (a file path).")
            every = max(1, round(every_ms / self.dt))
        self._advance(n, progress=progress, checkpoint=checkpoint, every=every)
        if checkpoint is not None:
            self.save(checkpoint)
        return self.result()

    def _advance(
        self,
        n: int,
        progress: bool | None,
        checkpoint: str | os.PathLike | None = None,
        every: int | None = None,
    ) -> None:
        if n == 0:
            return
        if progress is None:
            progress = get_option("progress")
        if self._rate is not None:
            self._rate_t0 = self.t_step
            self._rate_cur = torch.zeros(
                (n, self.B, self._n_pops), dtype=torch.int32, device=self.device
            )
        bar = tqdm(
            total=round(n * self.dt, 6),
            unit="ms",
            desc="simulating",
            disable=not progress,
            delay=get_option("progress_min_s"),
            leave=False,
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} ms [{elapsed}<{remaining}]",
        )
        t_wall = time.perf_counter()
        threads_before = torch.get_num_threads()
        if self.device.type == "cpu":
            torch.set_num_threads(self.num_threads)
        try:
            done = 0
            last_check = self.t_ms
            chunk = self.nan_check_steps if every is None else min(self.nan_check_steps, every)
            last_save = self.t_step
            since = 0  # steps since the last NaN check
            hook = self.exchange
            while done < n:
                k = min(chunk - since, n - done)
                if hook is not None:  # stop at the hook's next multiple of its interval
                    k = min(k, hook[0] - self.t_step % hook[0])
                if self.backend == "compiled":
                    self._compiled_steps(k)
                elif self.backend == "triton":
                    self._triton_steps(k)
                else:
                    for _ in range(k):
                        self._step()
                done += k
                since += k
                if hook is not None:
                    hook[1]()
                if since < chunk and done < n:
                    continue
                self._check_nan(last_check)
                last_check = self.t_ms
                self._flush()
                bar.update(since * self.dt)
                since = 0
                if every is not None and done < n and self.t_step - last_save >= every:
                    self._save_mid_run(checkpoint, n - done)
                    last_save = self.t_step
        finally:
            torch.set_num_threads(threads_before)
            bar.close()
            self._flush()
            if self._rate is not None:
                self._stash_rates()
                self._rate_cur = None
            self.wall_s = self.wall_s + time.perf_counter() - t_wall

    # ================================================================== results
    def population_counts(self, per_step: bool = False) -> np.ndarray:
        """Spikes per member and population, (B, populations of the PopulationRate recorder,
        in its order), since the previous call (or the start), and forget them: the read-out of
        a closed loop (brain -> body) window by window. ``per_step``: (steps, B, populations)
        instead of the sums."""
        if self._rate is None:
            raise SpecError(
                "population_counts needs a PopulationRate recorder in the spec "
                "(zt.record.PopulationRate(populations=...))."
            )
        self._flush()
        pops = self._rate.populations or self.spec.population_names
        cols = [self._pop_index[p] for p in pops]
        if per_step:
            steps = (
                np.concatenate(self._rate_chunks)
                if self._rate_chunks
                else np.zeros((0, self.B, self._n_pops), np.int32)
            )
            self._rate_chunks = []
            return steps[:, :, cols]
        total = np.zeros((self.B, self._n_pops), dtype=np.int64)
        for c in self._rate_chunks:
            total += c.sum(axis=0)
        self._rate_chunks = []
        return total[:, cols]

    def clear_recordings(self) -> None:
        """Drop what was recorded so far (spikes, population rates, monitored states).

        The next :meth:`result` holds only what is recorded afterwards (its population rate
        starts at the current time). For long or repeated runs whose results are consumed as
        they come, e.g. the cycles of an ensemble filter, so host memory does not grow.
        """
        self._flush()
        self._spk_chunks = []
        self._rate_chunks = []
        self._mon_data = [[] for _ in self._monitors]

    def result(self) -> Result:
        """Everything recorded so far as a :class:`Result` (host memory)."""
        self._flush()
        if self._spk_chunks:
            member = np.concatenate([c[0] for c in self._spk_chunks])
            neuron = np.concatenate([c[1] for c in self._spk_chunks])
            steps = np.concatenate([c[2] for c in self._spk_chunks])
        else:
            member = np.zeros(0, np.int32)
            neuron = np.zeros(0, np.int64)
            steps = np.zeros(0, np.int64)
        res = Result(
            dt_ms=self.dt,
            t_stop_ms=self.t_ms,
            n_ensembles=self.B,
            populations=dict(self.net.pop_slices),
            spike_member=member,
            spike_neuron=neuron,
            spike_time_ms=(steps + 1) * self.dt,
            recorded_populations=self._spike_pops,
            meta={
                "seed": self.seed,
                "device": str(self.device),
                "dt_ms": self.dt,
                "network_seed": self.net.seed,
                "wall_s": self.wall_s,
            },
        )
        _warn_runaway(res)
        if self._rate is not None:
            counts = (
                np.concatenate(self._rate_chunks)
                if self._rate_chunks
                else np.zeros((0, self.B, self._n_pops), np.int32)
            )
            pops = self._rate.populations or self.spec.population_names
            cols = [self._pop_index[p] for p in pops]
            res.rate_counts = counts[:, :, cols]
            res.rate_bin_ms = self._rate.bin
            res.rate_populations = tuple(pops)
        import xarray as xr

        for k, (rec, _gi, idx, _every) in enumerate(self._monitors):
            data = self._mon_data[k]
            if data:
                arr = torch.stack([d for _, d in data], dim=-1).cpu().numpy()  # (V, B, n, T)
                times = np.array([t for t, _ in data]) * self.dt
            else:
                arr = np.zeros((len(rec.variables), self.B, idx.numel(), 0))
                times = np.zeros(0)
            a = self.net.population_group(rec.population)[1]
            neurons = idx.cpu().numpy() - a
            for vi, var in enumerate(rec.variables):
                unit = {"v": "mV", "u": "pA", "w": "pA"}.get(var, "")
                res.states[f"{rec.population}.{var}"] = xr.DataArray(
                    arr[vi],
                    dims=("member", "neuron", "time"),
                    coords={"neuron": neurons, "time": times},
                    attrs={"units": unit, "time_units": "ms"},
                )
        return res

    # ================================================================== checkpoints
    def _payload(self) -> dict[str, Any]:
        self._flush()
        return {
            "version": CHECKPOINT_VERSION,
            "network_hash": self.net.hash(),
            "dt": self.dt,
            "dtype": str(self.dtype),
            "B": self.B,
            "seed": self.seed,
            "member_seeds": self.member_seeds,
            "t_step": self.t_step,
            "buf": self.buf.cpu(),
            "states": [{k: v.cpu() for k, v in st.items()} for st in self.states],
            "params": [
                {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in d.params.items()}
                for d in self.dyn
            ],
            "injected": {
                k: (i.cpu(), a.cpu() if isinstance(a, torch.Tensor) else a)
                for k, (i, a) in self._injected.items()
            },
            "poisson_rates": self._p_rates if self._has_poisson else None,
            "input_gain": [None if x is None else x.cpu() for x in self._gain],
            "stp": [{k: st[k].cpu() for k in ("u", "x", "t")} for st in self._stp],
            "spikes": self._spk_chunks,
            "rates": self._rate_chunks,
            "monitors": [[(t, d.cpu()) for t, d in m] for m in self._mon_data],
            "wall_s": self.wall_s,
        }

    def _stash_rates(self) -> None:
        """Move the filled rows of this run's population-rate buffer to the host chunks."""
        filled = self.t_step - self._rate_t0
        self._rate_chunks.append(self._rate_cur[:filled].cpu().numpy())

    def _save_mid_run(self, path: str | os.PathLike, remaining: int) -> None:
        # the population-rate buffer of this run() call is partly filled: store what exists
        if self._rate is not None:
            self._stash_rates()
            self._rate_t0 = self.t_step
            self._rate_cur = torch.zeros(
                (remaining, self.B, self._n_pops), dtype=torch.int32, device=self.device
            )
        self.save(path)

    def save(self, path: str | os.PathLike) -> None:
        """Write a checkpoint of the full state (atomically: a temporary file, then rename).

        Restoring it with :meth:`restore` and running on gives exactly the spikes of an
        uninterrupted run: state, in-flight spikes (the ring buffer), step counter, injected
        currents, changed parameters and recordings are saved; random draws are counter-based
        and need no generator state.
        """
        path = os.fspath(path)
        tmp = path + ".tmp"
        buf = io.BytesIO()
        torch.save(self._payload(), buf)
        with open(tmp, "wb") as f:
            f.write(buf.getbuffer())
        os.replace(tmp, path)

    @classmethod
    def restore(
        cls,
        path: str | os.PathLike,
        network: Network,
        *,
        device: str = "cpu",
        backend: str = "auto",
        num_threads: int | None = None,
    ) -> Simulator:
        """A simulator continuing from checkpoint ``path`` (written by :meth:`save`).

        ``backend`` and ``num_threads`` as for :class:`Simulator` (they do not change the
        spikes)."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise SpecError(f"checkpoint file {path!r} does not exist.")
        try:
            ck = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise SpecError(f"checkpoint file {path!r} could not be read: {exc}.") from None
        if not isinstance(ck, dict) or ck.get("version") != CHECKPOINT_VERSION:
            raise SpecError(f"{path!r} is not a zentai checkpoint of version {CHECKPOINT_VERSION}.")
        if ck["network_hash"] != network.hash():
            raise SpecError(
                f"checkpoint {path!r} was written for another network (hash "
                f"{ck['network_hash'][:12]}, this network {network.hash()[:12]}); build the same "
                f"spec with the same seed."
            )
        dtype = ck["dtype"].replace("torch.", "")
        sim = cls(
            network,
            dt=ck["dt"],
            device=device,
            dtype=dtype,
            n_ensembles=ck["B"],
            seed=ck["seed"],
            backend=backend,
            num_threads=num_threads,
        )
        sim.member_seeds = ck["member_seeds"]
        if sim._has_poisson:
            sim._set_poisson_keys()
        sim.t_step = ck["t_step"]
        sim.buf.copy_(ck["buf"])
        for st, saved in zip(sim.states, ck["states"]):
            for k, v in saved.items():
                st[k].copy_(v)
        for d, saved in zip(sim.dyn, ck["params"]):
            d.params = {
                k: (v.to(sim.device) if isinstance(v, torch.Tensor) else v)
                for k, v in saved.items()
            }
            d.setup()
        sim._invalidate()
        sim._injected = {
            k: (i.to(sim.device), a.to(sim.device) if isinstance(a, torch.Tensor) else a)
            for k, (i, a) in ck["injected"].items()
        }
        sim._gain = [
            None if x is None else x.to(sim.device) for x in ck.get("input_gain", sim._gain)
        ]
        for st, saved in zip(sim._stp, ck.get("stp", [])):
            for k in ("u", "x", "t"):
                st[k].copy_(saved[k])
        sim._dc_change.add(sim.t_step)
        if sim._has_poisson:
            sim._p_change.add(sim.t_step)
            rates = ck.get("poisson_rates")
            if rates is not None and not np.array_equal(rates, sim._p_rates):
                sim._p_rates = rates
                sim._build_poisson_tables()
                sim._segment_poisson()
        sim._spk_chunks = ck["spikes"]
        sim._rate_chunks = ck["rates"]
        sim._mon_data = [[(t, d.to(sim.device)) for t, d in m] for m in ck["monitors"]]
        sim.wall_s = ck["wall_s"]
        return sim


def run(
    network: Network,
    duration: Any,
    *,
    dt: Any = 0.1,
    device: str = "cpu",
    seed: int = 0,
    progress: bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: Any = None,
    **kwargs: Any,
) -> Result:
    """Build a :class:`Simulator` (``kwargs`` go to it), run ``duration``, return the Result."""
    sim = Simulator(network, dt=dt, device=device, seed=seed, **kwargs)
    return sim.run(
        duration, progress=progress, checkpoint=checkpoint, checkpoint_every=checkpoint_every
    )
