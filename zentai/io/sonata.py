"""Built networks as SONATA (Dai et al. 2020, PLoS Comput. Biol. 16:e1007696), written with h5py.

:func:`write_sonata` writes a folder::

    circuit_config.json         networks (nodes and edges files) + a "zentai" section
    spec.toml                   the spec without its projections (models, labels, stimuli, ...)
    network/nodes.h5            /nodes/<name>: node_id (= zentai's global neuron id),
                                node_type_id (= population index), node_group_id,
                                node_group_index; group 0: x, y, z (CCF µm, NaN if none)
    network/node_types.csv      one type per population (space-separated, as SONATA's): model
                                template nest:iaf_psc_exp for LIF (NEST parameter names in
                                components/<population>.json), zentai:<Model> otherwise
    network/edges.h5            /edges/<name>: source_node_id, target_node_id (node_population
                                attributes), edge_type_id, edge_group_id, edge_group_index;
                                group 0: syn_weight (float32, pA or nS), delay (float32, ms),
                                receptor (uint8: index into the target model's receptors)
    network/edge_types.csv      one static synapse type

Edges are written in zentai's table order (by presynaptic neuron, then as built), so
:func:`read_sonata` rebuilds exactly the same :class:`~zentai.build.Network` (synapse tables
bit for bit, same layout and hash, same spikes); files from other tools with edges in another
order are sorted by source first. Short-term plastic and procedural projections are not
exported (an error says so).
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from zentai.errors import DataError, SpecError

__all__ = ["read_sonata", "write_sonata"]

FORMAT_VERSION = 1


def _nest_params(model: Any) -> dict[str, float] | None:
    """NEST iaf_psc_exp parameters of a zentai LIF with its two default receptors."""
    from zentai.celltypes import LIF

    if type(model) is not LIF or len(model.receptors) != 2:
        return None
    ex, inh = model.receptors
    return {
        "C_m": model.c_m,
        "tau_m": model.tau_m,
        "E_L": model.e_l,
        "V_th": model.v_th,
        "V_reset": model.v_reset,
        "t_ref": model.t_ref,
        "I_e": model.i_e,
        "tau_syn_ex": ex.tau,
        "tau_syn_in": inh.tau,
    }


def write_sonata(net: Any, folder: str | os.PathLike, *, name: str = "zentai") -> Path:
    """Write the built network ``net`` as a SONATA circuit in ``folder`` (module docstring);
    returns the path of ``circuit_config.json``."""
    from zentai.build.network import Network
    from zentai.io.toml import dump

    if not isinstance(net, Network):
        raise SpecError(f"write_sonata expects a built Network; got {type(net).__name__}.")
    if net.stp_class is not None or net.procedural:
        raise SpecError(
            "write_sonata: networks with TsodyksMarkram or procedural projections cannot be "
            "exported yet (static stored synapses only)."
        )
    if not name.replace("_", "").isalnum():
        raise SpecError(f"write_sonata: name must be letters, digits and '_'; got {name!r}.")
    spec = net.spec
    root = Path(folder)
    (root / "network").mkdir(parents=True, exist_ok=True)
    (root / "components").mkdir(exist_ok=True)
    import dataclasses

    dump(dataclasses.replace(spec, projections=()), root / "spec.toml")
    n = net.n_neurons
    type_id = np.empty(n, np.uint64)
    xyz = np.full((n, 3), math.nan)
    rows = []
    for k, p in enumerate(spec.populations):
        a, b = net.pop_slices[p.name]
        type_id[a:b] = k
        if p.positions is not None:
            xyz[a:b] = p.positions
        nest = _nest_params(p.model)
        if nest is not None:
            fname = f"{k}_{''.join(c if c.isalnum() else '_' for c in p.name)}.json"
            (root / "components" / fname).write_text(json.dumps(nest, indent=1))
            template, params = "nest:iaf_psc_exp", fname
        else:
            template, params = f"zentai:{type(p.model).__name__}", "NONE"
        rows.append([k, "point_neuron", template, p.name.replace(" ", "_"), params])
    with open(root / "network" / "node_types.csv", "w", newline="") as f:
        w = csv.writer(f, delimiter=" ")
        w.writerow(["node_type_id", "model_type", "model_template", "pop_name", "dynamics_params"])
        w.writerows(rows)
    with h5py.File(root / "network" / "nodes.h5", "w") as f:
        f.attrs["magic"] = np.uint32(0x0A7A)
        f.attrs["version"] = np.array([0, 1], np.uint32)
        g = f.create_group(f"nodes/{name}")
        g["node_id"] = np.arange(n, dtype=np.uint64)
        g["node_type_id"] = type_id
        g["node_group_id"] = np.zeros(n, np.uint32)
        g["node_group_index"] = np.arange(n, dtype=np.uint64)
        for c, axis in enumerate("xyz"):
            g[f"0/{axis}"] = xyz[:, c]
    # edges: CSR order; target slot -> (post neuron, receptor)
    indptr = net.indptr.numpy()
    src = np.repeat(np.arange(n, dtype=np.uint64), np.diff(indptr))
    slot = net.target.numpy().astype(np.int64)
    post = np.empty(slot.size, np.uint64)
    rec = np.empty(slot.size, np.uint8)
    for gr in net.groups:
        sel = (slot >= gr.slot_offset) & (slot < gr.slot_offset + gr.n_slots)
        r, local = np.divmod(slot[sel] - gr.slot_offset, gr.size)
        post[sel] = gr.start + local
        rec[sel] = r
    with h5py.File(root / "network" / "edges.h5", "w") as f:
        f.attrs["magic"] = np.uint32(0x0A7A)
        f.attrs["version"] = np.array([0, 1], np.uint32)
        g = f.create_group(f"edges/{name}_{name}")
        g["source_node_id"] = src
        g["source_node_id"].attrs["node_population"] = name
        g["target_node_id"] = post
        g["target_node_id"].attrs["node_population"] = name
        g["edge_type_id"] = np.zeros(slot.size, np.uint64)
        g["edge_group_id"] = np.zeros(slot.size, np.uint32)
        g["edge_group_index"] = np.arange(slot.size, dtype=np.uint64)
        g["0/syn_weight"] = net.weight.numpy()
        g["0/delay"] = net.delay_ms.numpy()
        g["0/receptor"] = rec
    with open(root / "network" / "edge_types.csv", "w", newline="") as f:
        w = csv.writer(f, delimiter=" ")
        w.writerow(["edge_type_id", "model_template"])
        w.writerow([0, "static_synapse"])
    config = {
        "manifest": {"$NETWORK_DIR": "./network", "$COMPONENTS_DIR": "./components"},
        "components": {"point_neuron_models_dir": "$COMPONENTS_DIR"},
        "networks": {
            "nodes": [
                {
                    "nodes_file": "$NETWORK_DIR/nodes.h5",
                    "node_types_file": "$NETWORK_DIR/node_types.csv",
                }
            ],
            "edges": [
                {
                    "edges_file": "$NETWORK_DIR/edges.h5",
                    "edge_types_file": "$NETWORK_DIR/edge_types.csv",
                }
            ],
        },
        "zentai": {
            "format_version": FORMAT_VERSION,
            "population": name,
            "seed": net.seed,
            "spec": "spec.toml",
        },
    }
    path = root / "circuit_config.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def read_sonata(path: str | os.PathLike) -> Any:
    """The :class:`~zentai.build.Network` of a circuit written by :func:`write_sonata`
    (``path``: its folder or ``circuit_config.json``)."""
    from zentai.build.network import Network, _layout
    from zentai.io.toml import load

    path = Path(path)
    cfg_path = path / "circuit_config.json" if path.is_dir() else path
    if not cfg_path.is_file():
        raise DataError(f"SONATA config {str(cfg_path)!r} does not exist.")
    cfg = json.loads(cfg_path.read_text())
    z = cfg.get("zentai")
    if not isinstance(z, dict) or z.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{str(cfg_path)!r} has no zentai section of format version {FORMAT_VERSION}: "
            f"read_sonata reads circuits written by write_sonata."
        )
    root = cfg_path.parent
    spec = load(root / z["spec"])
    name = z["population"]
    groups, pop_slices = _layout(spec)
    n = spec.n_neurons
    with h5py.File(root / "network" / "nodes.h5", "r") as f:
        g = f[f"nodes/{name}"]
        if g["node_id"].shape[0] != n:
            raise DataError(
                f"{str(cfg_path)!r}: nodes.h5 has {g['node_id'].shape[0]} nodes, the spec "
                f"{n} neurons."
            )
    with h5py.File(root / "network" / "edges.h5", "r") as f:
        g = f[f"edges/{name}_{name}"]
        src = g["source_node_id"][()].astype(np.int64)
        post = g["target_node_id"][()].astype(np.int64)
        weight = g["0/syn_weight"][()].astype(np.float32)
        delay = g["0/delay"][()].astype(np.float32)
        rec = g["0/receptor"][()].astype(np.int64)
    if src.size and np.any(np.diff(src) < 0):  # edges from other writers: by source first
        order = np.argsort(src, kind="stable")
        src, post, weight, delay, rec = (x[order] for x in (src, post, weight, delay, rec))
    slot = np.empty(post.size, np.int64)
    for gr in groups:
        sel = (post >= gr.start) & (post < gr.stop)
        if np.any(rec[sel] >= len(gr.receptors)):
            raise DataError(f"{str(cfg_path)!r}: an edge names a receptor its target lacks.")
        slot[sel] = gr.slot_offset + rec[sel] * gr.size + (post[sel] - gr.start)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return Network(
        spec,
        int(z["seed"]),
        groups,
        pop_slices,
        torch.from_numpy(indptr),
        torch.from_numpy(slot.astype(np.int32)),
        torch.from_numpy(weight),
        torch.from_numpy(delay),
        [],
        0.0,
    )
