"""Start R local processes joined by torch.distributed (gloo) and collect what each returns.

For tests, benchmarks and notebooks on one machine; on a cluster use ``torchrun`` or
``mpiexec`` (docs/design/distributed.md has the Slurm recipes). Each process runs
``fn(comm, *args)`` with a :class:`~zentai.distributed.comm.TorchComm`; the return values come
back in rank order (pickled through a temporary folder). A process that fails makes
:func:`spawn` raise with that rank's traceback.
"""

from __future__ import annotations

import datetime
import os
import pickle
import socket
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.multiprocessing as mp

from zentai.errors import SpecError, ZentaiError

__all__ = ["free_port", "spawn"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child(
    rank: int,
    fn: Callable,
    n: int,
    port: int,
    folder: str,
    args: tuple,
    threads: int,
    timeout_s: float,
) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    out = Path(folder) / f"rank{rank}.pkl"
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=n,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
        from zentai.distributed.comm import TorchComm

        comm = TorchComm()
        value = fn(comm, *args)
        comm.close()  # every rank done before any leaves
        payload = ("ok", value)
    except BaseException as e:
        payload = ("error", (type(e).__name__, str(e), traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    with open(out, "wb") as f:
        pickle.dump(payload, f)


def spawn(
    fn: Callable, n_ranks: int, *args: Any, threads: int = 1, timeout_s: float = 600.0
) -> list[Any]:
    """Run ``fn(comm, *args)`` in ``n_ranks`` fresh processes (gloo on localhost); return the
    values in rank order. ``fn`` must be importable (a module-level function); a collective
    that waits longer than ``timeout_s`` fails."""
    if isinstance(n_ranks, bool) or not isinstance(n_ranks, int) or n_ranks < 1:
        raise SpecError(f"spawn: n_ranks must be an integer >= 1; got {n_ranks!r}.")
    with tempfile.TemporaryDirectory(prefix="zentai-spawn-") as folder:
        port = free_port()
        env_before = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            mp.start_processes(
                _child,
                args=(fn, n_ranks, port, folder, args, threads, timeout_s),
                nprocs=n_ranks,
                join=True,
                start_method="spawn",
            )
        finally:
            if env_before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = env_before
        values = []
        for r in range(n_ranks):
            with open(Path(folder) / f"rank{r}.pkl", "rb") as f:
                status, value = pickle.load(f)
            if status == "error":
                name, msg, tb = value
                err = SpecError if name == "SpecError" else ZentaiError
                raise err(f"rank {r} of {n_ranks} failed: {name}: {msg}\n{tb}")
            values.append(value)
        return values
