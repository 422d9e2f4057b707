"""Run a circuit exported by :func:`zentai.io.sonata.write_sonata` in NEST, as a cross-check.

NEST's own SONATA reader needs a NEST built with HDF5 (the PyPI wheel is not), so the child
process here reads the SONATA files with h5py and builds the NEST network itself: one
``iaf_psc_exp`` population per node type (parameters from its ``dynamics_params`` JSON), one
connection per edge (``syn_weight``, ``delay``; NEST picks the excitatory or inhibitory port by
the weight's sign, as zentai's LIF does), and the spec's Poisson inputs as
``poisson_generator`` -> ``parrot``-free ``static_synapse`` connections (rate x sources,
weight). It returns the per-population rates of a run. The child runs in ``python`` (a
throwaway venv with ``nest-simulator`` and ``h5py``), never in zentai's environment.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from zentai.errors import DataError

__all__ = ["nest_rates"]

_CHILD = r"""
import csv, json, sys
import h5py, numpy as np
import nest
a = json.loads(sys.stdin.read())
root = a["root"]
nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.resolution = a["dt"]
nest.rng_seed = a["seed"]
nest.local_num_threads = 1
with open(root + "/network/node_types.csv") as f:
    types = {int(r["node_type_id"]): r for r in csv.DictReader(f, delimiter=" ")}
with h5py.File(root + "/network/nodes.h5") as f:
    type_id = f["nodes/" + a["population"] + "/node_type_id"][()]
n = type_id.size
gid = np.zeros(n, dtype=np.int64)
pops = {}
for k, r in sorted(types.items()):
    if r["model_template"] != "nest:iaf_psc_exp":
        raise SystemExit("node type %d is %s, not nest:iaf_psc_exp" % (k, r["model_template"]))
    params = json.load(open(root + "/components/" + r["dynamics_params"]))
    idx = np.nonzero(type_id == k)[0]
    nodes = nest.Create("iaf_psc_exp", idx.size, params=params)
    v0 = a["v0"].get(r["pop_name"])
    if v0 is not None:
        nodes.V_m = nest.random.normal(mean=v0[0], std=v0[1])
    gid[idx] = np.asarray(nodes.tolist())
    pops[r["pop_name"]] = nodes
with h5py.File(root + "/network/edges.h5") as f:
    g = f["edges/" + a["population"] + "_" + a["population"]]
    src = gid[g["source_node_id"][()].astype(np.int64)]
    tgt = gid[g["target_node_id"][()].astype(np.int64)]
    w = g["0/syn_weight"][()].astype(float)
    d = np.maximum(np.round(g["0/delay"][()].astype(float) / a["dt"]), 1) * a["dt"]
nest.Connect(src, tgt, "one_to_one", {"synapse_model": "static_synapse", "weight": w, "delay": d})
for p in a["poisson"]:
    pg = nest.Create("poisson_generator", params={"rate": p["rate"] * p["n_sources"]})
    nest.Connect(pg, pops[p["target"]], syn_spec={"weight": p["weight"], "delay": a["dt"]})
rec = nest.Create("spike_recorder")
for nodes in pops.values():
    nest.Connect(nodes, rec)
nest.Simulate(a["t_ms"])
ev = rec.get("events")
t, s = np.asarray(ev["times"]), np.asarray(ev["senders"])
out = {}
for name, nodes in pops.items():
    ids = np.asarray(nodes.tolist())
    m = np.isin(s, ids) & (t > a["t_start"])
    out[name] = float(m.sum()) / ids.size / ((a["t_ms"] - a["t_start"]) / 1e3)
print(json.dumps(out))
"""


def nest_rates(
    folder: str | os.PathLike,
    spec: Any,
    *,
    python: str,
    t_ms: float = 1000.0,
    t_start_ms: float = 200.0,
    dt: float = 0.1,
    seed: int = 1,
) -> dict[str, float]:
    """Per-population rates (Hz, after ``t_start_ms``) of the SONATA circuit in ``folder``
    simulated by NEST in ``python``; ``spec`` gives the Poisson inputs and initial V_m."""
    from zentai.stim import PoissonInput

    poisson = [
        {"target": s.target, "rate": s.rate, "n_sources": s.n_sources, "weight": s.weight}
        for s in spec.stimuli
        if isinstance(s, PoissonInput)
    ]
    v0 = {}
    for p in spec.populations:
        d = p.initial.get("v") if p.initial else None
        if d is not None and type(d).__name__ == "Normal":
            v0[p.name] = [float(d.mu), float(d.sigma)]
    cfg = json.loads((Path(folder) / "circuit_config.json").read_text())
    args = {
        "root": str(Path(folder).resolve()),
        "population": cfg["zentai"]["population"],
        "dt": dt,
        "seed": seed,
        "t_ms": t_ms,
        "t_start": t_start_ms,
        "poisson": poisson,
        "v0": v0,
    }
    out = subprocess.run(
        [python, "-c", _CHILD],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        check=False,
    )
    if out.returncode:
        raise DataError(f"the NEST child in {python!r} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
