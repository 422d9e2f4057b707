"""``zentai atlas info ACRONYM``: volume, voxels, layers, neuron estimate, strongest connections.

Example::

    $ zentai atlas info MOp --connectome oh2014
    $ zentai atlas info MOp --json

Data files are found through ``--data-dir``, then ``$ZENTAI_DATA``, then the user cache.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from zentai.errors import RegionError

__all__ = ["atlas_info", "register"]

CONNECTOMES = ("oh2014", "knox2019")


def _layers(atlas: Any, region: str) -> list[str]:
    """CCF layer children of ``region`` with voxels, e.g. MOp -> ["1", "2/3", "5", "6a", "6b"]."""
    onto = atlas.ontology
    parent = onto.get(region)
    out = []
    for child in onto.children(parent.id):
        if "layer" not in child.name.lower() or not child.acronym.startswith(parent.acronym):
            continue
        if atlas.voxel_count(child.id) > 0:
            out.append(child.acronym[len(parent.acronym) :].lstrip("-_ "))
    return out


def atlas_info(
    region: str, connectome: str = "oh2014", n: int = 10, data_dir: str | None = None
) -> dict[str, Any]:
    """Everything ``zentai atlas info`` prints, as a JSON-ready dict.

    Raises :class:`~zentai.errors.RegionError` (closest acronyms) for an unknown region.
    """
    from zentai.atlas import load
    from zentai.atlas.densities import estimate_neurons
    from zentai.connectome.allen import load_knox2019, load_oh2014

    atlas = load(data_dir=data_dir)
    s = atlas.ontology.get(region)
    right = atlas.voxel_count(s.id, "right")
    left = atlas.voxel_count(s.id, "left")
    est = estimate_neurons(atlas, s.id, data_dir=data_dir)
    loader = load_oh2014 if connectome == "oh2014" else load_knox2019
    conn = loader(data_dir=data_dir, atlas=atlas)
    info: dict[str, Any] = {
        "acronym": s.acronym,
        "id": s.id,
        "name": s.name,
        "voxels": left + right,
        "voxels_left": left,
        "voxels_right": right,
        "resolution_um": atlas.resolution_um,
        "volume_mm3": (left + right) * atlas.voxel_volume_mm3,
        "layers": _layers(atlas, s.acronym),
        "neurons_estimate": est.to_dict(),
        "connectome": connectome,
        "connectome_note": None,
        "top_targets": [],
        "top_sources": [],
    }
    try:
        info["top_targets"] = [c.__dict__ for c in conn.targets(s.acronym, n)]
        info["top_sources"] = [c.__dict__ for c in conn.sources(s.acronym, n)]
    except RegionError:  # a known structure the model does not cover (fiber tracts, ...)
        info["connectome_note"] = f"{s.acronym} is not covered by the {connectome} model"
    return info


def _print(info: dict[str, Any]) -> None:
    est = info["neurons_estimate"]
    lines = [
        f"{info['acronym']} ({info['name']}), id {info['id']}",
        f"volume    {info['volume_mm3']:.3f} mm³ ({info['resolution_um']:g} µm voxels)",
        f"voxels    {info['voxels']:,} (left {info['voxels_left']:,}, "
        f"right {info['voxels_right']:,})",
        "layers    " + (", ".join(info["layers"]) if info["layers"] else "-"),
        f"neurons   {est['total']:,.0f} (estimate)",
    ]
    lines += [f"  {k:<17}{v:>14,.0f}" for k, v in est["counts"].items()]
    lines += [f"  source: {src}" for src in est["sources"]]
    for key, title in (("top_targets", "targets"), ("top_sources", "sources")):
        lines.append(f"strongest {title} ({info['connectome']}, W per unit injected volume):")
        if not info[key]:
            lines.append(f"  - ({info['connectome_note'] or 'none'})")
        for c in info[key]:
            lines.append(f"  {c['region']:<12}{c['hemisphere']:<8}{c['weight']:.4g}")
    sys.stdout.write("\n".join(lines) + "\n")


def cmd_atlas_info(args: argparse.Namespace) -> int:
    """``zentai atlas info``."""
    info = atlas_info(args.region, args.connectome, args.n, args.data_dir)
    if args.json:
        sys.stdout.write(json.dumps(info, allow_nan=False) + "\n")
    else:
        _print(info)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `atlas` subcommand to the `zentai` parser."""
    atlas = subparsers.add_parser("atlas", help="look up brain regions of the Allen CCFv3 atlas")
    sub = atlas.add_subparsers(dest="atlas_command", metavar="ATLAS_COMMAND", required=True)
    info = sub.add_parser(
        "info",
        help="volume, voxels, layers, neuron estimate and strongest connections of a region",
        description=(
            "Describe one region of the Allen CCFv3 atlas (100 µm): volume, voxel count per "
            "hemisphere, CCF layers, estimated neurons by cell class, and its strongest targets "
            "and sources in a regional connectome."
        ),
    )
    info.add_argument("region", metavar="ACRONYM", help="Allen CCF acronym, e.g. MOp, CA1, CB")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.add_argument("--connectome", choices=CONNECTOMES, default="oh2014", help="default oh2014")
    info.add_argument(
        "-n", type=int, default=10, metavar="N", help="number of targets and sources (default 10)"
    )
    info.add_argument("--data-dir", metavar="DIR", help="folder with the data files")
    info.set_defaults(func=cmd_atlas_info)
