"""One network over R processes: each owns a part of the neurons and their incoming synapses.

How a run goes (every rank runs the same code):

1. **Agreement.** Every rank hashes what defines the run (spec, seeds, dt, dtype, members,
   ranks, tiling) and all ranks compare the hashes before anything is built: a rank started
   with another spec or seed stops every rank with an error naming the ranks that differ.
2. **Partition** (:mod:`zentai.distributed.partition`): the same on every rank, computed from
   the spec alone.
3. **Build** (:func:`zentai.build.network` with ``part=``): a rank generates only its neurons'
   incoming synapses. Every draw is keyed by (seed, projection, post neuron, draw index), so
   the union over ranks is exactly the single-process network, for any R. A partition-free
   fingerprint of the synapses (an order-free sum of per-synapse hashes) is summed over ranks
   and reported, so a user can check it equals the single-process build's.
4. **Steps.** Each rank advances its part with the ordinary :class:`~zentai.sim.Simulator`
   (compiled CPU loop, Triton step or torch path), whose own delivery is empty; every *communication
   interval* (at most the smallest delay of the network, ``d_min``) the ranks all-gather the
   interval's spikes (fixed-capacity int64 buffers, grown when one overflows) and each rank
   adds the events of every spike — its own too — onto its neurons, in the order (step,
   member, neuron, synapse): the order of the single-process engine, so each input cell sums
   the same numbers in the same order and the spikes are identical for any R (float32 and
   float64). With ``overlap`` and ``d_min`` >= 2 steps the interval is ``d_min // 2`` and the
   gather of one interval runs while the next is computed (its spikes are needed only
   ``d_min`` after they were emitted).
5. **Records.** Each rank records its own neurons under their global ids; :func:`merge_results`
   joins the ranks' results into the single-process :class:`~zentai.record.Result`
   (``zentai run`` under torchrun/mpiexec writes one HDF5 file per rank and merges them).

On CUDA each rank steps its part with the fused Triton step (``backend`` "auto" or "triton"):
its kernels record every spike of the part for the exchange, and the gathered events are added
to its ring buffer on the GPU between chunks (float64: the single process's spikes; float32:
its rates, the GPU's atomic adds meeting in no fixed order).

Not yet distributed: procedural projections, short-term plasticity, state monitors (clear
errors).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import torch

from zentai import rng
from zentai import units as u
from zentai.build.csr import row_synapses
from zentai.build.network import Network, _layout, network
from zentai.build.spec import NetworkSpec
from zentai.distributed.comm import Comm, from_environment
from zentai.distributed.partition import INDEX_TILES, TILE_UM, Partition, partition
from zentai.errors import SpecError
from zentai.options import get_option
from zentai.record.result import Result

__all__ = ["DistributedSimulator", "fingerprint", "merge_results", "spec_hash"]

_M64 = (1 << 64) - 1


# ----------------------------------------------------------------------------- hashes
def _digest(obj: Any, h: Any) -> None:
    """Feed a canonical encoding of ``obj`` into ``h`` (dict order, sets and numpy arrays
    handled, so equal specs hash equal in every process)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"<{type(obj).__name__}".encode())
        for f in fields(obj):
            h.update(f.name.encode())
            _digest(getattr(obj, f.name), h)
        h.update(b">")
    elif isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=repr):
            _digest(k, h)
            _digest(obj[k], h)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for x in obj:
            _digest(x, h)
        h.update(b"]")
    elif isinstance(obj, (set, frozenset)):
        _digest(sorted(obj, key=repr), h)
    elif isinstance(obj, np.ndarray):
        h.update(f"{obj.dtype}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, torch.Tensor):
        _digest(obj.detach().cpu().numpy(), h)
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def spec_hash(spec: NetworkSpec, **settings: Any) -> str:
    """SHA-256 of a spec and run settings (same in every process for equal inputs)."""
    h = hashlib.sha256()
    _digest(spec, h)
    _digest(settings, h)
    return h.hexdigest()


def _global_ids(net: Network, full_slices: dict[str, tuple[int, int]]) -> torch.Tensor:
    """Global neuron id of each of a part's neurons (its own layout -> the whole network's)."""
    out = torch.empty(net.n_neurons, dtype=torch.int64)
    for name, (a, b) in net.pop_slices.items():
        g0 = full_slices[name][0] + net.pop_offset.get(name, 0)
        out[a:b] = torch.arange(g0, g0 + b - a)
    return out


def fingerprint(net: Network, global_ids: torch.Tensor | None = None) -> int:
    """Order-free fingerprint of a network's synapses: the sum (mod 2^64) over synapses of a
    hash of (presynaptic id, postsynaptic id, receptor, weight bits, delay bits), ids global.
    The parts of a distributed build sum to the whole build's value, for any split."""
    if global_ids is None:
        global_ids = torch.arange(net.n_neurons, dtype=torch.int64)
    # input slot -> (neuron, receptor) of this network's layout
    S = net.n_slots
    neuron = torch.empty(S, dtype=torch.int64)
    receptor = torch.empty(S, dtype=torch.int64)
    for g in net.groups:
        r = torch.arange(len(g.receptors)).repeat_interleave(g.size)
        j = torch.arange(g.size).repeat(len(g.receptors))
        neuron[g.slot_offset : g.slot_offset + g.n_slots] = g.start + j
        receptor[g.slot_offset : g.slot_offset + g.n_slots] = r
    post_gid = global_ids[neuron]
    total = 0
    chunk = 1 << 18  # temporaries stay ~20 MB (they set the peak of small ranks)
    for s0 in range(0, net.n_synapses, chunk):
        s1 = min(s0 + chunk, net.n_synapses)
        pre = torch.searchsorted(net.indptr, torch.arange(s0, s1), right=True) - 1
        slot = net.target[s0:s1].to(torch.int64)
        x = rng.mix64(pre * (1 << 32) + post_gid[slot])
        x = rng.mix64(
            x + (receptor[slot] << 40) + net.weight[s0:s1].view(torch.int32).to(torch.int64)
        )
        x = rng.mix64(x + net.delay_ms[s0:s1].view(torch.int32).to(torch.int64))
        total = (total + int(x.numpy().view(np.uint64).sum(dtype=np.uint64))) & _M64
    return total


# ----------------------------------------------------------------------------- results
def merge_results(parts: list[Result]) -> Result:
    """Join the ranks' results (neuron ids already global) into one :class:`Result`: spikes
    in (time, member, neuron) order, population counts summed, wall time the slowest rank's."""
    if not parts:
        raise SpecError("merge_results needs at least one result.")
    first = parts[0]
    for r, p in enumerate(parts):
        if (p.dt_ms, p.t_stop_ms, p.n_ensembles, p.populations) != (
            first.dt_ms,
            first.t_stop_ms,
            first.n_ensembles,
            first.populations,
        ):
            raise SpecError(
                f"merge_results: result {r} is of another run (dt {p.dt_ms}, stop {p.t_stop_ms} "
                f"ms, {p.n_ensembles} members) than result 0 (dt {first.dt_ms}, stop "
                f"{first.t_stop_ms} ms, {first.n_ensembles} members)."
            )
    t = np.concatenate([p.spike_time_ms for p in parts])
    m = np.concatenate([p.spike_member for p in parts])
    n = np.concatenate([p.spike_neuron for p in parts])
    # times are (step + 1) dt: sort on the step so float noise cannot reorder
    steps = np.rint(t / first.dt_ms).astype(np.int64)
    order = np.lexsort((n, m, steps))
    out = Result(
        dt_ms=first.dt_ms,
        t_stop_ms=first.t_stop_ms,
        n_ensembles=first.n_ensembles,
        populations=dict(first.populations),
        spike_member=m[order],
        spike_neuron=n[order],
        spike_time_ms=t[order],
        recorded_populations=first.recorded_populations,
        rate_bin_ms=first.rate_bin_ms,
        rate_populations=first.rate_populations,
        meta=dict(first.meta),
    )
    if first.rate_counts is not None:
        out.rate_counts = np.sum([p.rate_counts for p in parts], axis=0).astype(
            first.rate_counts.dtype
        )
    out.meta["wall_s"] = max(p.meta.get("wall_s", 0.0) for p in parts)
    out.meta["ranks"] = len(parts)
    return out


# ----------------------------------------------------------------------------- exchange
class _Exchange:
    """All-gather of each interval's spike keys through fixed-capacity buffers."""

    def __init__(self, comm: Comm, capacity: int = 64) -> None:
        self.comm = comm
        self.capacity = capacity
        self.bytes = 0  # received by this rank
        self.rounds = 0
        self.wait_s = 0.0
        self._recent = 0  # most spikes one rank sent in the exchanges since the last shrink
        self._since = 0

    def _buffer(self, keys: np.ndarray, cap: int) -> np.ndarray:
        buf = np.full(cap + 1, -1, dtype=np.int64)
        buf[0] = keys.size
        k = min(keys.size, cap)
        buf[1 : 1 + k] = keys[:k]
        return buf

    def start(self, keys: np.ndarray) -> tuple[Any, np.ndarray, int]:
        cap = self.capacity
        return self.comm.gather_fixed(self._buffer(keys, cap), wait=False), keys, cap

    def finish(self, pending: tuple[Any, np.ndarray, int]) -> np.ndarray:
        handle, keys, cap = pending
        t0 = time.perf_counter()
        out = handle.wait()
        self.rounds += 1
        self.bytes += out.nbytes
        counts = out[:, 0]
        most = int(counts.max())
        if most > cap:  # someone overflowed: everyone resends with room for all
            cap = 1 << math.ceil(math.log2(most))
            out = self.comm.gather_fixed(self._buffer(keys, cap))
            self.rounds += 1
            self.bytes += out.nbytes
            self.capacity = cap
        # shrink after 256 exchanges that used under a quarter of the buffer (every rank sees
        # the same counts, so all decide alike)
        self._recent = max(self._recent, most)
        self._since += 1
        if self._since >= 256:
            if 4 * self._recent < self.capacity and self.capacity > 64:
                self.capacity //= 2
            self._recent = self._since = 0
        self.wait_s += time.perf_counter() - t0
        return np.concatenate([out[r, 1 : 1 + int(c)] for r, c in enumerate(counts)])


# ----------------------------------------------------------------------------- simulator
def _compiled_deliver(sim: Any) -> bool:
    """Deliver with the compiled loop (numba) where the simulator does: same sums, same order
    as the tensor path's index_add_ (the torch backend keeps the tensor reference)."""
    from zentai.sim import cpu_kernels

    return cpu_kernels.HAVE_NUMBA and sim.device.type == "cpu" and sim.backend == "compiled"


class DistributedSimulator:
    """Simulate ``spec`` with its neurons split over the processes of ``comm``.

    Parameters
    ----------
    spec : NetworkSpec
    comm : Comm, optional
        Default: :func:`zentai.distributed.comm.from_environment` (torchrun, mpiexec or one
        process).
    network_seed : int
        Seed of the wiring (as ``build.network(seed=)``).
    dt, device, dtype, n_ensembles, seed, backend, num_threads
        As for :class:`~zentai.sim.Simulator` (per rank; ``backend`` "auto", "compiled",
        "triton" or "torch").
    interval_ms : float, optional
        Communication interval; at most the network's smallest delay (default: that delay,
        or half of it with ``overlap``).
    overlap : bool
        Overlap each exchange with the next interval's computation (needs a smallest delay of
        at least 2 steps; otherwise the exchange is blocking).
    tile_um, n_tiles : as :func:`zentai.distributed.partition.partition`.

    Examples
    --------
    >>> from zentai.build.microcircuit import microcircuit
    >>> sim = DistributedSimulator(microcircuit(0.01), network_seed=1, seed=2)
    >>> res = sim.run(20.0)
    >>> res.t_stop_ms
    20.0
    """

    def __init__(
        self,
        spec: NetworkSpec,
        comm: Comm | None = None,
        *,
        network_seed: int = 0,
        dt: Any = 0.1,
        device: str = "cpu",
        dtype: str = "float32",
        n_ensembles: int = 1,
        seed: int = 0,
        backend: str = "auto",
        num_threads: int | None = None,
        interval_ms: float | None = None,
        overlap: bool = True,
        tile_um: float = TILE_UM,
        n_tiles: int = INDEX_TILES,
    ) -> None:
        from zentai.sim import Simulator

        if not isinstance(spec, NetworkSpec):
            raise SpecError(
                f"DistributedSimulator expects a NetworkSpec; got {type(spec).__name__}."
            )
        if backend not in ("auto", "compiled", "torch", "triton"):
            raise SpecError(
                f"DistributedSimulator.backend must be 'auto', 'compiled', 'torch' or "
                f"'triton'; got {backend!r}."
            )
        self.comm = comm if comm is not None else from_environment(device)
        self.rank, self.n_ranks = self.comm.rank, self.comm.size
        dt = u.to_canonical(dt, "ms", owner="DistributedSimulator.dt")
        t0 = time.perf_counter()
        # 1. every rank must describe the same run
        self.spec_hash = spec_hash(
            spec,
            network_seed=int(network_seed),
            seed=int(seed),
            dt=dt,
            dtype=str(dtype),
            n_ensembles=int(n_ensembles),
            ranks=self.n_ranks,
            tile_um=tile_um,
            n_tiles=n_tiles,
        )
        hashes = self.comm.allgather_object(self.spec_hash)
        if len(set(hashes)) > 1:
            groups: dict[str, list[int]] = {}
            for r, h in enumerate(hashes):
                groups.setdefault(h, []).append(r)
            text = "; ".join(f"ranks {rs}: {h[:12]}" for h, rs in groups.items())
            raise SpecError(
                f"the ranks disagree on the network (spec, seeds, dt, dtype, members or tiling "
                f"differ): {text}. Start every rank with the same arguments."
            )
        # 2. partition, 3. this rank's part
        self.partition: Partition = partition(spec, self.n_ranks, tile_um=tile_um, n_tiles=n_tiles)
        self.net = network(spec, seed=int(network_seed), part=self.partition.ranges[self.rank])
        _, self.full_slices = _layout(spec)
        self.global_ids = _global_ids(self.net, self.full_slices)
        self.build_s = time.perf_counter() - t0
        self.sim = Simulator(
            self.net,
            dt=dt,
            device=device,
            dtype=dtype,
            n_ensembles=n_ensembles,
            seed=seed,
            backend=backend,
            num_threads=num_threads,
        )
        sim = self.sim
        self.dt = sim.dt
        # smallest delay of the whole network (steps): every rank's own, then the minimum
        own = int(sim.in_dsteps.min()) if sim.in_dsteps.numel() else 2**31
        self.d_min = min(self.comm.allgather_object(own))
        if self.d_min == 2**31:  # no synapses anywhere: nothing to exchange
            self.d_min = 1
        if interval_ms is not None:
            steps = float(interval_ms) / self.dt
            if not (
                math.isfinite(steps) and steps >= 1 - 1e-9 and abs(steps - round(steps)) < 1e-6
            ):
                raise SpecError(
                    f"interval_ms must be a positive multiple of dt = {self.dt:g} ms; got "
                    f"{interval_ms!r}."
                )
            if round(steps) > self.d_min:
                raise SpecError(
                    f"the communication interval {interval_ms:g} ms exceeds the network's "
                    f"smallest delay {self.d_min * self.dt:g} ms: spikes would arrive after "
                    f"their delivery time. Use at most {self.d_min * self.dt:g} ms."
                )
            self.interval = round(steps)
        else:
            self.interval = self.d_min // 2 if overlap and self.d_min >= 2 else self.d_min
        self.overlap = bool(overlap) and 2 * self.interval <= self.d_min
        self.fingerprint = (
            sum(self.comm.allgather_object(fingerprint(self.net, self.global_ids))) & _M64
        )
        self.n_synapses = sum(self.comm.allgather_object(self.net.n_synapses))
        self.n_neurons = spec.n_neurons
        self._ids = self.global_ids.to(sim.device)
        self._x = _Exchange(self.comm)
        self._pending: Any = None
        sim.spike_tap = []
        self.wall_s = 0.0
        self.compute_s = 0.0
        self.deliver_s = 0.0
        self.spikes_exchanged = 0
        self.steps = 0

    # ------------------------------------------------------------------ stepping
    def _collect(self, t0: int) -> np.ndarray:
        """This rank's spikes since step ``t0`` as sorted keys ((t - t0) B + b) N + gid."""
        tap = self.sim.spike_tap
        if not tap:
            return np.zeros(0, dtype=np.int64)
        b = torch.cat([x[0] for x in tap]).to(torch.int64).cpu()
        i = torch.cat([x[1] for x in tap]).to(torch.int64).cpu()
        t = torch.cat([x[2] for x in tap]).to(torch.int64).cpu()
        tap.clear()
        gid = self.global_ids[i]
        keys = ((t - t0) * self.sim.B + b) * self.n_neurons + gid
        return torch.sort(keys).values.numpy()

    def _deliver(self, keys: np.ndarray, t0: int) -> None:
        """Add the events of every spike (all ranks) onto this rank's neurons, in the order
        (step, member, neuron, synapse)."""
        if keys.size == 0:
            return
        sim = self.sim
        k = np.sort(keys)
        N, B = self.n_neurons, sim.B
        gid, b, t = k % N, (k // N) % B, k // (N * B) + t0
        if _compiled_deliver(sim):
            from zentai.sim.cpu_kernels import deliver_events

            deliver_events(
                sim.buf.view(-1).numpy(), sim.D, B * sim.S, sim.S, t, b, gid,
                sim.in_indptr.numpy(), sim.in_target.numpy(), sim.in_weight.numpy(),
                sim.in_dsteps.numpy(),
            )  # fmt: skip
            return
        gid, b, t = (torch.from_numpy(x).to(sim.device) for x in (gid, b, t))
        rep, syn = row_synapses(sim.in_indptr, gid)
        if syn.numel() == 0:
            return
        flat = sim.ring_cells(sim.in_dsteps[syn], sim.in_target[syn], t[rep], b[rep])
        sim.buf.view(-1).index_add_(0, flat, sim.in_weight[syn])

    def _flush_pending(self) -> None:
        if self._pending is not None:
            pending, t0 = self._pending
            self._pending = None
            keys = self._x.finish(pending)
            self.spikes_exchanged += keys.size
            t1 = time.perf_counter()
            self._deliver(keys, t0)
            self.deliver_s += time.perf_counter() - t1

    def _exchange(self) -> None:
        """Called by the simulator at every multiple of the interval and at the end of each
        call: all-gather the spikes since the previous exchange, deliver (now, or with
        ``overlap`` after the next interval)."""
        start = self._t_last
        self._t_last = self.sim.t_step
        keys = self._collect(start)
        if self.overlap:
            self._flush_pending()
            self._pending = (self._x.start(keys), start)
        else:
            self._pending = (self._x.start(keys), start)
            self._flush_pending()

    def step(self, n: int) -> None:
        """Advance ``n`` steps (any n; exchanges happen every communication interval)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise SpecError(f"step(n): n must be a non-negative integer; got {n!r}.")
        self._advance(int(n), progress=False)

    def run(self, duration: Any, *, progress: bool | None = None) -> Result:
        """Simulate ``duration`` (ms or quantity) more; returns this rank's :meth:`result`
        (use :meth:`gather_result` or :func:`merge_results` for the whole network)."""
        n = self.sim._n_steps(duration)
        self._advance(n, progress=progress)
        return self.result()

    def _advance(self, n: int, progress: bool | None) -> None:
        if n == 0:
            return
        if progress is None:
            progress = get_option("progress")
        t_wall = time.perf_counter()
        wait0, deliver0 = self._x.wait_s, self.deliver_s
        self._t_last = self.sim.t_step
        self.sim.exchange = (self.interval, self._exchange)
        try:
            # the simulator's loop stops at every multiple of the interval (a fixed grid of the
            # step counter, so all ranks exchange at the same steps whatever the calls were)
            self.sim._advance(n, progress=bool(progress) and self.rank == 0)
            self._flush_pending()
        finally:
            self.sim.exchange = None
            self.steps += n
            wall = time.perf_counter() - t_wall
            self.wall_s += wall
            self.compute_s += wall - (self._x.wait_s - wait0) - (self.deliver_s - deliver0)

    # ------------------------------------------------------------------ results
    def result(self) -> Result:
        """This rank's recordings with global neuron ids (of the whole network's layout)."""
        res = self.sim.result()
        res.spike_neuron = self.global_ids.numpy()[res.spike_neuron]
        res.populations = dict(self.full_slices)
        res.meta.update(rank=self.rank, ranks=self.n_ranks, network_seed=self.net.seed)
        return res

    def gather_result(self) -> Result | None:
        """The whole network's result on rank 0 (None elsewhere), through the communicator
        (for large recordings write per-rank files and merge, as ``zentai run`` does)."""
        parts = self.comm.allgather_object(self.result())
        return merge_results(parts) if self.rank == 0 else None

    def stats(self) -> dict[str, Any]:
        """Timings and communication volume of this rank so far."""
        steps = max(1, self.steps)
        return {
            "rank": self.rank,
            "ranks": self.n_ranks,
            "comm": self.comm.name,
            "neurons": self.net.n_neurons,
            "synapses": self.net.n_synapses,
            "interval_steps": self.interval,
            "d_min_steps": self.d_min,
            "overlap": self.overlap,
            "build_s": self.build_s,
            "wall_s": self.wall_s,
            "compute_s": self.compute_s,
            "exchange_wait_s": self._x.wait_s,
            "deliver_s": self.deliver_s,
            "bytes_received_per_step": self._x.bytes / steps,
            "spikes_exchanged_per_step": self.spikes_exchanged / steps,
            "rounds": self._x.rounds,
            "capacity": self._x.capacity,
        }
