"""``zentai plan SCENARIO --fraction F --ranks R --device-memory 80GB``: size a distributed run."""

from __future__ import annotations

import argparse
import math
import os
import sys

from zentai.errors import SpecError

__all__ = ["register"]

PLANNABLE = ("microcircuit", "whole-brain")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plan`` subcommand to the ``zentai`` parser."""
    p = subparsers.add_parser(
        "plan",
        help="predict neurons, synapses, memory and traffic per rank of a distributed run",
        description=(
            "Predict, before a cluster job, what a network needs on R ranks: neurons and "
            "synapses per rank, peak memory per rank (host; and device on --device cuda), "
            "spikes and bytes exchanged per step, and the smallest number of ranks that fits "
            "--device-memory. SCENARIO: microcircuit (--fraction = its scale), whole-brain "
            "(the mouse brain from published counts; --fraction of full density) or a TOML "
            "spec file. The memory model is in zentai/distributed/plan.py."
        ),
    )
    p.add_argument("scenario", metavar="SCENARIO", help="microcircuit, whole-brain or spec.toml")
    p.add_argument("--fraction", type=float, default=1.0, help="density fraction (default 1)")
    p.add_argument("--ranks", type=int, default=1, help="number of ranks (default 1)")
    p.add_argument(
        "--device-memory", default=None, help="memory per rank to fit, e.g. 80GB (GPU on cuda)"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--rate", type=float, default=5.0, help="mean rate for the traffic (5 Hz)")
    p.add_argument("--dt", type=float, default=0.1, help="time step in ms (0.1)")
    p.add_argument("--members", type=int, default=1, help="ensemble members per rank (1)")
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from zentai.distributed.plan import plan, whole_brain

    f = args.fraction
    if not (math.isfinite(f) and 0 < f <= 1):
        raise SpecError(f"--fraction must be in (0, 1]; got {f!r}.")
    if args.ranks < 1:
        raise SpecError(f"--ranks must be an integer >= 1; got {args.ranks!r}.")
    if not (math.isfinite(args.rate) and args.rate >= 0):
        raise SpecError(f"--rate must be a rate >= 0 Hz; got {args.rate!r}.")
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        raise SpecError(f"--device must be cpu or cuda; got {args.device!r}.")
    if args.scenario == "whole-brain":
        target = whole_brain(f)
    elif args.scenario == "microcircuit":
        from zentai.build.microcircuit import microcircuit

        target = microcircuit(f)
    elif os.path.isfile(args.scenario) and args.scenario.endswith(".toml"):
        from zentai.io import toml as ztoml

        target = ztoml.load(args.scenario)
    else:
        raise SpecError(
            f"unknown SCENARIO {args.scenario!r}; give one of {', '.join(PLANNABLE)} "
            "or the path of a TOML spec file."
        )
    result = plan(
        target,
        args.ranks,
        device=args.device,
        device_memory=args.device_memory,
        dt=args.dt,
        rate_hz=args.rate,
        n_ensembles=args.members,
    )
    sys.stdout.write(str(result) + "\n")
    return 0
