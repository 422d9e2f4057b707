"""``zentai assimilate CONFIG --out DIR``: run (or resume) a twin experiment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zentai.errors import SpecError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``assimilate`` subcommand to the ``zentai`` parser."""
    from zentai.assimilate.twin import CONFIGS

    p = subparsers.add_parser(
        "assimilate",
        help="twin experiment: recover hidden parameters with an ensemble Kalman filter",
        description=(
            "A true network with hidden parameters is observed; an ensemble of members run in "
            "one simulator assimilates the observations cycle by cycle. Writes summary.json, "
            "trajectories.npz, assimilation.png and checkpoint/ into --out; running the same "
            f"command again resumes after the last finished cycle. Built-in configs: "
            f"{', '.join(CONFIGS)}."
        ),
    )
    p.add_argument("config", help="built-in config name or the path of a TOML file")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--members", type=int, metavar="B", help="ensemble size (default: config's)")
    p.add_argument("--cycles", type=int, metavar="N", help="number of cycles (default: config's)")
    p.add_argument("--seed", type=int, metavar="N", help="seed of every draw (default: config's)")
    p.add_argument("--method", choices=("enkf", "etkf", "dtb"), help="filter (default: config's)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads of the simulators")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_assimilate)


def cmd_assimilate(args: argparse.Namespace) -> int:
    """``zentai assimilate``."""
    from zentai.assimilate import load_config, run_twin

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out must be a folder; {str(out)!r} is a file.")
    cfg = load_config(
        args.config,
        members=args.members,
        cycles=args.cycles,
        seed=args.seed,
        method=args.method,
        threads=args.threads,
    )
    s = run_twin(cfg, out, progress=not args.no_progress, restart=args.restart)
    w = sys.stdout.write
    w(f"{cfg.name}: {s['members']} members, {s['cycles']} cycles, {s['method']}, "
      f"{s['wall_s']:.0f} s\n")  # fmt: skip
    for name, truth in s["truth"].items():
        w(
            f"  {name:>12}: truth {truth:.4g}, estimate {s['estimate'][name]:.4g} ± "
            f"{s['spread'][name]:.2g} (prior sd {s['prior_spread'][name]:.2g}), relative error "
            f"{s['rel_error'][name]:.3f}\n"
        )
    r = s["rmse_per_cycle"]
    w(f"  forecast RMSE: cycle 1 {r[0]:.3g}, last {r[-1]:.3g}\n")
    w(f"  wrote {out / 'summary.json'}\n")
    return 0
