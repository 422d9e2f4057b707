"""The co-simulation loop: brain side, body side, in one process or on two MPI ranks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zentai.errors import SpecError, closest

__all__ = ["Afferent", "BodySide", "BrainSide", "CoSim", "Efferent", "prepare", "run_mpi"]

_KINDS = ("spindle", "golgi", "joint", "touch")


@dataclass(frozen=True)
class Efferent:
    """Spike counts of ``population`` per window drive ``muscles``:
    ``clip(count / (N r_max T), 0, 1)`` (``r_max`` Hz: the rate taken as full drive)."""

    population: str
    muscles: tuple[str, ...]
    r_max: float = 100.0


@dataclass(frozen=True)
class Afferent:
    """Afferent firing of ``kind`` (spindle, golgi, joint, touch), averaged over ``sensors``
    (muscle names for spindle/golgi, joint names for joint, limbs LF/RF/LH/RH for touch;
    empty = all), as the rate of ``n_sources`` Poisson sources onto ``population``."""

    kind: str
    population: str
    sensors: tuple[str, ...] = ()
    n_sources: int = 20
    weight: float = 87.8
    receptor: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise SpecError(f"Afferent.kind must be one of {list(_KINDS)}; got {self.kind!r}.")

    def stimulus(self) -> Any:
        from zentai.stim import PoissonInput

        return PoissonInput(
            target=self.population,
            n_sources=self.n_sources,
            rate=0.0,
            weight=self.weight,
            receptor=self.receptor,
        )


def prepare(spec: Any, efferents: tuple[Efferent, ...], afferents: tuple[Afferent, ...]) -> Any:
    """``spec`` with what the loop needs: one PoissonInput (rate 0) per afferent, appended in
    order, and a PopulationRate recorder of the efferent populations."""
    from zentai.record import PopulationRate

    pops = tuple(dict.fromkeys(e.population for e in efferents))
    recorders = tuple(r for r in spec.recorders if not isinstance(r, PopulationRate))
    return dataclasses.replace(
        spec,
        stimuli=tuple(spec.stimuli) + tuple(a.stimulus() for a in afferents),
        recorders=(*recorders, PopulationRate(populations=pops or None)),
    )


def _check_window(window_ms: float, dts_ms: dict[str, float], delays_ms: dict[str, float]):
    if not (isinstance(window_ms, (int, float)) and math.isfinite(window_ms) and window_ms > 0):
        raise SpecError(f"exchange window must be a positive time (ms); got {window_ms!r}.")
    steps = {}
    for name, dt in dts_ms.items():
        n = window_ms / dt
        if abs(n - round(n)) > 1e-9 or round(n) < 1:
            raise SpecError(
                f"exchange window {window_ms:g} ms is not a multiple of the {name} time step "
                f"({dt:g} ms); use a common multiple of "
                f"{', '.join(f'{v:g}' for v in dts_ms.values())} ms."
            )
        steps[name] = round(n)
    for name, d in delays_ms.items():
        if window_ms > d + 1e-12:
            raise SpecError(
                f"exchange window {window_ms:g} ms is longer than the {name} delay ({d:g} ms); "
                "the window's latency must fit inside the modelled conduction delay."
            )
    return steps


class BrainSide:
    """The brain's half of the loop: afferent rates in, muscle excitation (24,) out."""

    def __init__(self, sim: Any, efferents, afferents, window_ms: float) -> None:
        from zentai.body.mouse import MUSCLES
        from zentai.stim import PoissonInput

        if sim.B != 1:
            raise SpecError(f"co-simulation drives one brain (n_ensembles = 1); got {sim.B}.")
        self.sim = sim
        self.n = round(window_ms / sim.dt)
        self.window_s = window_ms * 1e-3
        rate_rec = sim._rate
        if rate_rec is None:
            raise SpecError(
                "the brain needs the loop's recorder: build from zt.cosim.prepare(spec)."
            )
        rec_pops = list(rate_rec.populations or sim.spec.population_names)
        self.eff = []
        for e in efferents:
            if e.population not in sim.net.pop_slices:
                raise SpecError(
                    f"efferent population {e.population!r} is not in the brain; "
                    f"{closest(e.population, sim.net.pop_slices)}."
                )
            if e.population not in rec_pops:
                raise SpecError(
                    f"efferent population {e.population!r} is not recorded; build from "
                    "zt.cosim.prepare(spec, efferents, afferents)."
                )
            bad = [m for m in e.muscles if m not in MUSCLES]
            if bad:
                raise SpecError(
                    f"unknown muscle {bad[0]!r} in the efferent map; {closest(bad[0], MUSCLES)}."
                )
            a, b = sim.net.pop_slices[e.population]
            idx = [MUSCLES.index(m) for m in e.muscles]
            self.eff.append((rec_pops.index(e.population), b - a, e.r_max, idx))
        # the afferent stimuli: the last len(afferents) PoissonInputs, as prepare() appends them
        stims = list(sim.spec.stimuli)
        self.aff_index = []
        for k, a in enumerate(afferents):
            j = len(stims) - len(afferents) + k
            st = stims[j] if j >= 0 else None
            if not (isinstance(st, PoissonInput) and st == a.stimulus()):
                raise SpecError(
                    f"afferent {k} ({a.kind} -> {a.population!r}) has no PoissonInput in the "
                    "brain; build the brain from zt.cosim.prepare(spec, efferents, afferents)."
                )
            if a.population not in sim.net.pop_slices:
                raise SpecError(f"afferent population {a.population!r} is not in the brain.")
            self.aff_index.append(j)
        self._last = [None] * len(afferents)

    def window(self, afferent_hz: np.ndarray) -> np.ndarray:
        for k, (j, r) in enumerate(zip(self.aff_index, afferent_hz)):
            r = round(float(r), 1)  # 0.1 Hz steps: a changed rate costs a new count table
            if r != self._last[k]:
                self.sim.set_poisson_rate(r, stimulus=j)
                self._last[k] = r
        self.sim.step(self.n)
        counts = self.sim.population_counts()[0]
        out = np.zeros(24)
        for col, size, r_max, idx in self.eff:
            out[idx] += counts[col] / (size * r_max * self.window_s)
        return np.clip(out, 0.0, 1.0)


class BodySide:
    """The body's half: muscle excitation in, afferent rates (one per afferent map) out."""

    def __init__(self, body: Any, spinal: Any, afferents, window_ms: float, data: Any = None):
        import mujoco

        from zentai.body.mouse import JOINTS, LIMBS, MUSCLES

        self.body, self.spinal = body, spinal
        self.data = data if data is not None else mujoco.MjData(body.model)
        self.dt = body.model.opt.timestep
        self.n = round(window_ms * 1e-3 / self.dt)
        names = {"spindle": MUSCLES, "golgi": MUSCLES, "joint": JOINTS}
        self.sel = []
        for a in afferents:
            pool = LIMBS if a.kind == "touch" else names[a.kind]
            bad = [x for x in a.sensors if x not in pool]
            chosen = [pool.index(x) for x in a.sensors if x in pool] or list(range(len(pool)))
            # touch: the 4 taxels of each chosen paw
            idx = [4 * i + t for i in chosen for t in range(4)] if a.kind == "touch" else chosen
            if bad:
                raise SpecError(
                    f"unknown {a.kind} sensor {bad[0]!r} in the afferent map; "
                    f"{closest(bad[0], pool)}."
                )
            self.sel.append((a.kind, np.array(idx)))

    def window(self, excitation: np.ndarray) -> np.ndarray:
        import mujoco

        from zentai.body.spinal import afferent_rates

        m, d = self.body.model, self.data
        for _ in range(self.n):
            d.ctrl[:] = self.spinal.step(self.body, d, self.dt, command=excitation)
            mujoco.mj_step(m, d)
        rates = afferent_rates(self.body, d)
        return np.array([rates[kind][idx].mean() for kind, idx in self.sel])


class CoSim:
    """Brain and body in one process, exchanging every ``window_ms`` (pipelined, see the
    package docstring). ``delays_ms``: the shortest efferent and afferent conduction delays
    the window must fit in."""

    def __init__(
        self,
        sim: Any,
        body: Any,
        spinal: Any,
        efferents: tuple[Efferent, ...],
        afferents: tuple[Afferent, ...],
        *,
        window_ms: float = 1.0,
        efferent_delay_ms: float = 5.0,
        afferent_delay_ms: float = 5.0,
        data: Any = None,
    ) -> None:
        _check_window(
            window_ms,
            {"brain": sim.dt, "body": body.model.opt.timestep * 1e3},
            {"efferent": efferent_delay_ms, "afferent": afferent_delay_ms},
        )
        self.window_ms = window_ms
        self.brain = BrainSide(sim, efferents, afferents, window_ms)
        self.bodyside = BodySide(body, spinal, afferents, window_ms, data)
        self.k = 0
        self.excitation = np.zeros(24)
        self.afferent_hz = np.zeros(len(afferents))

    def step(self) -> None:
        """One window: both sides advance with the other's output of the previous window."""
        exc = self.brain.window(self.afferent_hz)
        aff = self.bodyside.window(self.excitation)
        self.excitation, self.afferent_hz = exc, aff
        self.k += 1

    def run(self, duration_ms: float, callback: Any = None) -> None:
        n = round(duration_ms / self.window_ms)
        for _ in range(n):
            self.step()
            if callback is not None:
                callback(self)


def run_mpi(setup: Any, n_windows: int, window_ms: float = 1.0) -> Any:
    """Run a co-simulation on two MPI ranks: rank 0 the brain, rank 1 the body.

    ``setup(rank)`` returns the rank's side (:class:`BrainSide` on 0, :class:`BodySide` on
    1) and a recorder ``record(side, k)`` called after each window. Each window both ranks
    compute with the other's previous output, then swap outputs (``sendrecv``), exactly as
    :class:`CoSim` orders it. Returns the rank's list of records.
    """
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        raise SpecError(f"run_mpi needs exactly 2 ranks (brain, body); got {comm.Get_size()}.")
    rank = comm.Get_rank()
    side, record = setup(rank)
    n_aff = comm.bcast(len(side.aff_index) if rank == 0 else None, root=0)
    inp = np.zeros(n_aff) if rank == 0 else np.zeros(24)
    out_records = []
    for k in range(n_windows):
        out = side.window(inp)
        inp = comm.sendrecv(out, dest=1 - rank, source=1 - rank)
        out_records.append(record(side, k))
    return out_records
