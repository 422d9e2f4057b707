"""Twin experiments: recover hidden parameters of a spiking network from its own recordings.

A "true" brain, run with hidden parameter values, produces observations (population rates,
calcium ΔF/F or BOLD, plus measurement noise). An ensemble of B brains — the same wiring, each
member with its own noise stream and parameter values drawn from a broad prior — is run in one
:class:`~zentai.sim.Simulator`; after every cycle a filter moves the members' parameters
towards the observation (state augmentation: the filter's state is the parameters, in the
logit space of their bounds). Parameters change between cycles without rebuilding anything
(:meth:`Simulator.set_poisson_rate`, :meth:`Simulator.set_input_gain`, :meth:`set_param`).

One cycle: ``settle_ms`` of simulation (the network adapts to the new parameters) then
``window_ms`` over which the observation is taken; before the first cycle ``warmup_ms``.
The scheme is the Digital Twin Brain's (MODEL_SPEC §7.1): forecast (random walk of the
parameters, optional inflation), simulate every member, analyse.

Config: a TOML file or a built-in name (:data:`CONFIGS`), see ``configs/twin_microcircuit.toml``
for every key. :func:`run_twin` writes into ``out``: ``summary.json`` (``truth``,
``estimate``, ``spread``, ``rel_error``, ``rmse_per_cycle``, ``members``, ``wall_s``, ...),
``trajectories.npz`` (parameters of every member before/after each analysis, observations and
predictions), ``assimilation.png``, and ``checkpoint/`` after every cycle: running the same
command again resumes after the last finished cycle.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zentai import rng as zrng
from zentai.assimilate import filters, observe
from zentai.errors import SpecError, closest
from zentai.io.atomic import save_figure, write_bytes

__all__ = ["CONFIGS", "Parameter", "TwinConfig", "load_config", "run_twin"]

#: built-in configs: name -> file in zentai/assimilate/configs
CONFIGS = {"twin-microcircuit": "twin_microcircuit.toml"}
_KINDS = ("poisson_rate", "input_gain", "neuron_param")
_OPERATORS = ("rate", "calcium", "bold")
_METHODS = ("enkf", "etkf", "dtb")


@dataclass(frozen=True)
class Parameter:
    """One hidden parameter: how it enters the simulator, its truth and its bounds.

    ``kind``: ``"poisson_rate"`` (Hz of every source of the PoissonInput stimuli of
    ``populations``; empty = all), ``"input_gain"`` (factor on the input to ``receptor`` of
    ``populations``), ``"neuron_param"`` (the model parameter ``param`` of ``populations``, in
    its canonical unit). The prior is uniform on [``prior_low``, ``prior_high``] (default: the
    bounds' inner 90 %), the estimate stays inside (``low``, ``high``).
    """

    name: str
    kind: str
    truth: float
    low: float
    high: float
    populations: tuple[str, ...] = ()
    receptor: str | None = None
    param: str | None = None
    prior_low: float | None = None
    prior_high: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise SpecError(
                f"parameter {self.name!r}: kind must be one of {list(_KINDS)}; got {self.kind!r}."
            )
        bounds = filters.Bounded(self.name, self.low, self.high)  # checks low < high
        if not (isinstance(self.truth, (int, float)) and self.low < self.truth < self.high):
            raise SpecError(
                f"parameter {self.name!r}: truth must lie inside (low, high) = ({self.low}, "
                f"{self.high}); got {self.truth!r}."
            )
        lo, hi = self.prior
        if not (self.low <= lo < hi <= self.high):
            raise SpecError(
                f"parameter {self.name!r}: prior range must satisfy low <= prior_low < "
                f"prior_high <= high; got [{lo}, {hi}] within ({self.low}, {self.high})."
            )
        if self.kind == "input_gain" and not (self.receptor and self.populations):
            raise SpecError(
                f"parameter {self.name!r}: an input_gain needs populations and a receptor."
            )
        if self.kind == "neuron_param" and not (self.param and self.populations):
            raise SpecError(f"parameter {self.name!r}: a neuron_param needs populations and param.")
        object.__setattr__(self, "_bounds", bounds)

    @property
    def bounds(self) -> filters.Bounded:
        return self._bounds  # type: ignore[attr-defined]

    @property
    def prior(self) -> tuple[float, float]:
        span = self.high - self.low
        lo = self.low + 0.05 * span if self.prior_low is None else self.prior_low
        hi = self.high - 0.05 * span if self.prior_high is None else self.prior_high
        return float(lo), float(hi)

    def apply(self, sim: Any, values: np.ndarray) -> None:
        """Set this parameter in ``sim``, one value per member."""
        vals = values if sim.B > 1 else float(values[0])
        if self.kind == "poisson_rate":
            for p in self.populations or (None,):
                sim.set_poisson_rate(vals, population=p)
        elif self.kind == "input_gain":
            for p in self.populations:
                sim.set_input_gain(p, self.receptor, vals)
        else:
            col = np.asarray(values, dtype=np.float64).reshape(-1, 1)
            for p in self.populations:
                sim.set_param(p, self.param, col if sim.B > 1 else float(values[0]))


@dataclass(frozen=True)
class TwinConfig:
    """A twin experiment (see the module docstring and ``configs/twin_microcircuit.toml``)."""

    name: str
    parameters: tuple[Parameter, ...]
    model: dict[str, Any] = field(default_factory=lambda: {"kind": "microcircuit"})
    members: int = 100
    seed: int = 0
    cycles: int = 20
    warmup_ms: float = 200.0
    settle_ms: float = 100.0
    window_ms: float = 400.0
    operator: str = "rate"
    populations: tuple[str, ...] = ()
    noise_rel: float = 0.05
    error_rel: float = 0.1
    error_floor: float = 0.1
    method: str = "enkf"
    inflation: float = 1.0
    random_walk: float = 0.05
    dtb_rho: float = 0.5
    threads: int | None = None
    calcium: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.members, bool) or not isinstance(self.members, int) or self.members < 2:
            raise SpecError(
                f"ensemble.members must be an integer >= 2 (a filter needs an ensemble); got "
                f"{self.members!r}."
            )
        if not self.parameters:
            raise SpecError("a twin experiment needs at least one [[parameter]].")
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise SpecError(f"parameter names must be unique; got {names}.")
        if not (isinstance(self.cycles, int) and self.cycles >= 1):
            raise SpecError(f"cycles.count must be an integer >= 1; got {self.cycles!r}.")
        for key in ("warmup_ms", "settle_ms"):
            val = getattr(self, key)
            if not (isinstance(val, (int, float)) and math.isfinite(val) and val >= 0):
                raise SpecError(f"cycles.{key} must be a time >= 0 (ms); got {val!r}.")
        if not (isinstance(self.window_ms, (int, float)) and self.window_ms > 0):
            raise SpecError(f"cycles.window_ms must be > 0 (ms); got {self.window_ms!r}.")
        if self.operator not in _OPERATORS:
            raise SpecError(
                f"observation.operator must be one of {list(_OPERATORS)}; got {self.operator!r}."
            )
        if self.method not in _METHODS:
            raise SpecError(f"filter.method must be one of {list(_METHODS)}; got {self.method!r}.")
        for key in ("noise_rel", "random_walk"):
            if not getattr(self, key) >= 0:
                raise SpecError(f"{key} must be >= 0; got {getattr(self, key)!r}.")
        if not (self.error_rel > 0 or self.error_floor > 0):
            raise SpecError("observation.error_rel or error_floor must be > 0 (R would be 0).")
        if not self.inflation >= 1.0:
            raise SpecError(f"filter.inflation must be >= 1; got {self.inflation!r}.")

    def digest(self) -> str:
        """Hash of everything that changes the result (not the threads)."""
        d = asdict(self)
        d.pop("threads")
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def config_path(name_or_path: str | os.PathLike) -> Path:
    from zentai.io.packaged import builtin_or_file

    files = {name: f"configs/{f}" for name, f in CONFIGS.items()}
    return builtin_or_file(name_or_path, files, "zentai.assimilate", "assimilation config", "TOML")


_TABLE_KEYS = {
    "assimilate": ("name", "description"),
    "model": ("kind", "scale", "k_scale", "seed", "spec"),
    "ensemble": ("members", "seed", "threads"),
    "cycles": ("count", "warmup_ms", "settle_ms", "window_ms"),
    "observation": ("operator", "populations", "noise_rel", "error_rel", "error_floor", "calcium"),
    "filter": ("method", "inflation", "random_walk", "dtb_rho"),
}


def _keys(table: dict, allowed: tuple[str, ...], where: str) -> None:
    for k in table:
        if k not in allowed:
            raise SpecError(f"{where}: unknown key {k!r}; {closest(k, allowed)}.")


def load_config(name_or_path: str | os.PathLike, **overrides: Any) -> TwinConfig:
    """Read a twin-experiment TOML (or a built-in name); ``overrides`` replace fields."""
    path = config_path(name_or_path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"config {str(path)!r} is not valid TOML: {exc}.") from None
    _keys(data, (*_TABLE_KEYS, "parameter"), f"config {str(path)!r}")
    t = {k: data.get(k, {}) for k in _TABLE_KEYS}
    for k, table in t.items():
        if not isinstance(table, dict):
            raise SpecError(f"[{k}] must be a table; got {table!r}.")
        _keys(table, _TABLE_KEYS[k], f"[{k}]")
    params = []
    allowed = tuple(Parameter.__dataclass_fields__)
    for i, p in enumerate(data.get("parameter", [])):
        _keys(p, allowed, f"[[parameter]] {i}")
        p = dict(p)
        p["populations"] = tuple(p.get("populations", ()))
        try:
            params.append(Parameter(**p))
        except TypeError as exc:
            raise SpecError(f"[[parameter]] {i}: {exc}.") from None
    cyc, obs, flt, ens = t["cycles"], t["observation"], t["filter"], t["ensemble"]
    kw: dict[str, Any] = {
        "name": t["assimilate"].get("name", path.stem),
        "parameters": tuple(params),
        "model": {"kind": "microcircuit", **t["model"]},
        "members": ens.get("members", 100),
        "seed": ens.get("seed", 0),
        "threads": ens.get("threads"),
        "cycles": cyc.get("count", 20),
        "warmup_ms": float(cyc.get("warmup_ms", 200.0)),
        "settle_ms": float(cyc.get("settle_ms", 100.0)),
        "window_ms": float(cyc.get("window_ms", 400.0)),
        "operator": obs.get("operator", "rate"),
        "populations": tuple(obs.get("populations", ())),
        "noise_rel": float(obs.get("noise_rel", 0.05)),
        "error_rel": float(obs.get("error_rel", 0.1)),
        "error_floor": float(obs.get("error_floor", 0.1)),
        "calcium": dict(obs.get("calcium", {})),
        "method": flt.get("method", "enkf"),
        "inflation": float(flt.get("inflation", 1.0)),
        "random_walk": float(flt.get("random_walk", 0.05)),
        "dtb_rho": float(flt.get("dtb_rho", 0.5)),
    }
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return TwinConfig(**kw)


# ============================================================================ the experiment
def _build(cfg: TwinConfig) -> Any:
    import dataclasses

    import zentai as zt
    from zentai.record import PopulationRate

    m = dict(cfg.model)
    kind = m.pop("kind")
    seed = int(m.pop("seed", 1))
    if kind == "microcircuit":
        spec = zt.build.microcircuit(m.get("scale", 0.1), k_scale=m.get("k_scale"), record=False)
    elif kind == "spec":
        if "spec" not in m:
            raise SpecError("model.kind = 'spec' needs model.spec, the path of a spec TOML.")
        spec = zt.io.toml.load(m["spec"])
    else:
        raise SpecError(f"model.kind must be 'microcircuit' or 'spec'; got {kind!r}.")
    spec = dataclasses.replace(spec, recorders=(PopulationRate(bin=1.0),))
    return zt.build.network(spec, seed=seed)


class _Observer:
    """The configured observation operator for one simulator (it keeps its own state)."""

    def __init__(self, cfg: TwinConfig) -> None:
        self.cfg = cfg
        if cfg.operator == "calcium":
            self.op: Any = observe.Calcium(1.0, **cfg.calcium)
        elif cfg.operator == "bold":
            self.op = observe.BalloonWindkessel()
        else:
            self.op = None

    def __call__(self, rate: np.ndarray) -> np.ndarray:
        """rate (B, channels, time of one cycle, 1 ms bins) -> (B, channels)."""
        w = round(self.cfg.window_ms)
        if self.op is None:
            return observe.window_rate(rate[:, :, -w:])
        sig = self.op(rate)
        if isinstance(self.op, observe.BalloonWindkessel):
            return sig[:, :, -1]  # one BOLD sample at the end of the cycle (its TR)
        return sig[:, :, -w:].mean(axis=2)


def _error_var(cfg: TwinConfig, y: np.ndarray) -> np.ndarray:
    return (cfg.error_rel * np.abs(y)) ** 2 + cfg.error_floor**2


def _rng(cfg: TwinConfig, *key: Any) -> np.random.Generator:
    return np.random.default_rng(zrng.key(cfg.seed, "assimilate", *key) % 2**63)


def _save_checkpoint(out: Path, truth: Any, ens: Any, state: dict[str, Any]) -> None:
    """Write checkpoint/ as a whole: a new folder, then swapped in (the old one is removed
    only after the new one is complete)."""
    import torch

    new, cur, old = out / "checkpoint.new", out / "checkpoint", out / "checkpoint.old"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    truth.save(new / "truth.pt")
    ens.save(new / "ensemble.pt")
    buf = io.BytesIO()
    torch.save(state, buf)
    (new / "filter.pt").write_bytes(buf.getvalue())
    if cur.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(cur, old)
    os.replace(new, cur)
    shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(out: Path) -> Path | None:
    for name in ("checkpoint", "checkpoint.old"):
        d = out / name
        if all((d / f).exists() for f in ("truth.pt", "ensemble.pt", "filter.pt")):
            return d
    return None


def run_twin(
    cfg: TwinConfig,
    out: str | os.PathLike,
    *,
    progress: bool = True,
    restart: bool = False,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) the twin experiment ``cfg``; write the outputs into ``out``.

    ``restart`` ignores an existing checkpoint. ``stop_after``: finish only this many cycles in
    this call (the rest continue on the next call, from the checkpoint). Returns the summary
    (also written as ``summary.json``; only once all cycles are done).
    """
    import torch
    from tqdm.auto import tqdm

    import zentai as zt
    from zentai.io.jsonfile import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    net = _build(cfg)
    chans = list(cfg.populations) or list(net.spec.population_names)
    missing = [p for p in chans if p not in net.pop_slices]
    if missing:
        raise SpecError(
            f"observation.populations {missing} are not in the model; populations: "
            f"{list(net.spec.population_names)}."
        )
    B, P, m = cfg.members, len(cfg.parameters), len(chans)
    threads = cfg.threads
    ck = None if restart else _load_checkpoint(out)
    obs_truth, obs_ens = _Observer(cfg), _Observer(cfg)
    if ck is not None:
        state = torch.load(ck / "filter.pt", weights_only=False)
        if state["digest"] != cfg.digest():
            raise SpecError(
                f"{str(out)!r} holds a checkpoint of another configuration; use another --out, "
                "or --restart to discard it."
            )
        truth = zt.sim.Simulator.restore(ck / "truth.pt", net, num_threads=threads)
        ens = zt.sim.Simulator.restore(ck / "ensemble.pt", net, num_threads=threads)
        obs_truth.op and obs_truth.op.load_state_dict(state["op_truth"])
        obs_ens.op and obs_ens.op.load_state_dict(state["op_ens"])
        Z, hist, wall_before = state["Z"], state["hist"], state["wall_s"]
    else:
        truth = zt.sim.Simulator(
            net, n_ensembles=1, seed=zrng.key(cfg.seed, "truth") % 2**62, num_threads=threads
        )
        ens = zt.sim.Simulator(net, n_ensembles=B, seed=cfg.seed, num_threads=threads)
        prior = _rng(cfg, "prior")
        Z = np.stack([p.bounds.to_z(prior.uniform(*p.prior, size=B)) for p in cfg.parameters])
        truth_vals = np.array([p.truth for p in cfg.parameters])
        for p, v in zip(cfg.parameters, truth_vals):
            p.apply(truth, np.array([v]))
        hist = {"prior": [], "post": [], "y": [], "Y": [], "rmse": []}
        wall_before = 0.0
        _set_all(cfg, ens, Z)
        for sim in (truth, ens):
            if cfg.warmup_ms > 0:
                sim.run(cfg.warmup_ms, progress=False)
                sim.clear_recordings()
    done = len(hist["rmse"])
    todo = cfg.cycles - done
    if stop_after is not None:
        todo = min(todo, stop_after)
    bar = tqdm(total=cfg.cycles, initial=done, desc=cfg.name, unit="cycle", disable=not progress)
    cycle_ms = cfg.settle_ms + cfg.window_ms
    for c in range(done, done + todo):
        # forecast: spread the parameters (random walk in z, multiplicative inflation)
        if c > 0:
            Z = filters.inflate(
                Z, _rng(cfg, "walk", c), multiplicative=cfg.inflation, additive=cfg.random_walk
            )
        _set_all(cfg, ens, Z)
        rates = []
        for sim in (truth, ens):
            res = sim.run(cycle_ms, progress=False)
            rates.append(observe.population_rates(res, chans))
            sim.clear_recordings()
        y_clean = obs_truth(rates[0])[0]
        y = y_clean * (1.0 + cfg.noise_rel * _rng(cfg, "noise", c).standard_normal(m))
        Y = obs_ens(rates[1]).T  # (m, B)
        if not np.all(np.isfinite(Y)):
            raise SpecError(f"cycle {c}: the ensemble's predicted observations hold NaN/inf.")
        R = _error_var(cfg, y)
        hist["prior"].append(_values(cfg, Z))
        hist["rmse"].append(float(np.sqrt(np.mean((Y.mean(axis=1) - y) ** 2))))
        if cfg.method == "enkf":
            Z = filters.enkf(Z, Y, y, R, _rng(cfg, "analysis", c))
        elif cfg.method == "etkf":
            Z = filters.etkf(Z, Y, y, R)
        else:
            # every parameter informed by every channel (global parameters): the local part
            # uses channel 0; configure per-voxel parameters with a model of your own
            Z = filters.dtb(
                Z, Y, y, R, _rng(cfg, "analysis", c), state_obs=np.zeros(P, int), rho=cfg.dtb_rho
            )
        hist["post"].append(_values(cfg, Z))
        hist["y"].append(y)
        hist["Y"].append(Y)
        wall = wall_before + time.perf_counter() - t_start
        _save_checkpoint(
            out,
            truth,
            ens,
            {
                "digest": cfg.digest(),
                "Z": Z,
                "hist": hist,
                "wall_s": wall,
                "op_truth": obs_truth.op.state_dict() if obs_truth.op else None,
                "op_ens": obs_ens.op.state_dict() if obs_ens.op else None,
            },
        )
        est = hist["post"][-1].mean(axis=1)
        bar.set_postfix({p.name: f"{v:.3g}" for p, v in zip(cfg.parameters, est)})
        bar.update(1)
    bar.close()
    if len(hist["rmse"]) < cfg.cycles:
        return {"cycles_done": len(hist["rmse"]), "cycles": cfg.cycles}
    wall = wall_before + time.perf_counter() - t_start
    summary = _summary(cfg, hist, chans, wall, truth, ens)
    _write_outputs(out, cfg, hist, chans, summary)
    write_json(out / "summary.json", summary)
    return summary


def _set_all(cfg: TwinConfig, sim: Any, Z: np.ndarray) -> None:
    for p, z in zip(cfg.parameters, Z):
        p.apply(sim, p.bounds.from_z(z))


def _values(cfg: TwinConfig, Z: np.ndarray) -> np.ndarray:
    return np.stack([p.bounds.from_z(z) for p, z in zip(cfg.parameters, Z)])


def _summary(cfg, hist, chans, wall, truth, ens) -> dict[str, Any]:
    post = hist["post"][-1]
    prior0 = hist["prior"][0]
    est = post.mean(axis=1)
    spread = post.std(axis=1, ddof=1)
    names = [p.name for p in cfg.parameters]
    truth_v = [p.truth for p in cfg.parameters]
    bio_s = (cfg.warmup_ms + cfg.cycles * (cfg.settle_ms + cfg.window_ms)) * 1e-3
    return {
        "name": cfg.name,
        "truth": dict(zip(names, truth_v)),
        "estimate": dict(zip(names, est.tolist())),
        "spread": dict(zip(names, spread.tolist())),
        "prior_spread": dict(zip(names, prior0.std(axis=1, ddof=1).tolist())),
        "rel_error": {n: abs(e - t) / abs(t) for n, e, t in zip(names, est.tolist(), truth_v)},
        "rmse_per_cycle": hist["rmse"],
        "members": cfg.members,
        "cycles": cfg.cycles,
        "method": cfg.method,
        "operator": cfg.operator,
        "channels": chans,
        "observation_last": hist["y"][-1].tolist(),
        "prediction_last": hist["Y"][-1].mean(axis=1).tolist(),
        "wall_s": wall,
        "simulated_s_per_member": bio_s,
        "member_bio_s_per_wall_s": bio_s * (cfg.members + 1) / wall,
        "n_neurons": ens.net.n_neurons,
        "n_synapses": ens.net.n_synapses,
        "backend": ens.backend,
    }


def _write_outputs(out: Path, cfg, hist, chans, summary) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    np.savez(
        buf,
        parameters=np.array([p.name for p in cfg.parameters]),
        channels=np.array(chans),
        prior=np.stack(hist["prior"]),  # (cycles, P, B)
        posterior=np.stack(hist["post"]),
        observation=np.stack(hist["y"]),  # (cycles, m)
        prediction=np.stack(hist["Y"]),  # (cycles, m, B)
        rmse=np.array(hist["rmse"]),
    )
    write_bytes(out / "trajectories.npz", buf.getvalue())

    P = len(cfg.parameters)
    fig, axes = plt.subplots(1, P + 2, figsize=(4 * (P + 2), 3.4))
    cyc = np.arange(cfg.cycles + 1)  # 0: the prior
    for ax, p, k in zip(axes, cfg.parameters, range(P)):
        post = np.concatenate([hist["prior"][0][k][None], np.stack(hist["post"])[:, k]])
        mu, sd = post.mean(axis=1), post.std(axis=1, ddof=1)
        ax.fill_between(cyc, mu - sd, mu + sd, alpha=0.3, label="ensemble ± 1 sd")
        ax.plot(cyc, mu, label="estimate")
        ax.axhline(p.truth, color="k", ls="--", label="truth")
        ax.set(title=p.name, xlabel="cycle (0: prior)")
        ax.legend(fontsize=7)
    ax = axes[P]
    ax.plot(cyc[1:], hist["rmse"], "o-")
    ax.set(title="forecast RMSE", xlabel="cycle", yscale="log")
    ax = axes[P + 1]
    x = np.arange(len(chans))
    Y = hist["Y"][-1]
    ax.bar(x - 0.2, hist["y"][-1], 0.4, label="observed")
    ax.bar(x + 0.2, Y.mean(axis=1), 0.4, yerr=Y.std(axis=1), label="ensemble")
    ax.set_xticks(x, chans, rotation=60, fontsize=7)
    ax.set(title=f"last cycle ({cfg.operator})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "assimilation.png")
    plt.close(fig)
