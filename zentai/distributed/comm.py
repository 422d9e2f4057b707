"""The collectives a distributed run needs, on torch.distributed or mpi4py.

zentai does not bring its own transport: a :class:`Comm` wraps a process group the user's
launcher already set up — ``torchrun`` (torch.distributed: gloo on CPUs, NCCL on GPUs) or
``mpiexec`` (MPI through mpi4py) — or a single process (:class:`SingleComm`). A run needs only
three things from it: an all-gather of equal-sized int64 buffers (blocking or started now and
waited for later, which lets the exchange overlap with computation), an all-gather of small
Python objects (hashes, summaries) and a barrier.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from zentai.errors import SpecError

__all__ = ["Comm", "MPIComm", "SingleComm", "TorchComm", "from_environment"]


class Comm:
    """A group of ``size`` processes; this one is ``rank``."""

    rank: int = 0
    size: int = 1
    name: str = ""

    def gather_fixed(self, buf: np.ndarray, wait: bool = True) -> Any:
        """All-gather one equal-sized int64 buffer per rank -> (size, n) array; with
        ``wait=False`` a handle whose ``wait()`` returns it."""
        raise NotImplementedError

    def allgather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order."""
        raise NotImplementedError

    def barrier(self) -> None:
        raise NotImplementedError

    def close(self, wait: bool = True) -> None:
        """End the run's use of the group (no collective after it); ``wait``: first wait for
        every rank (on success; a failing rank must not wait for ranks that never come)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"


class _Done:
    def __init__(self, value: Any) -> None:
        self.value = value

    def wait(self) -> Any:
        return self.value


class SingleComm(Comm):
    """One process: every collective returns its own input."""

    name = "single"

    def gather_fixed(self, buf: np.ndarray, wait: bool = True) -> Any:
        out = np.asarray(buf)[None].copy()
        return out if wait else _Done(out)

    def allgather_object(self, obj: Any) -> list[Any]:
        return [obj]

    def barrier(self) -> None:
        return None


class TorchComm(Comm):
    """torch.distributed's default process group (gloo or NCCL), already initialised —
    by :func:`from_environment` under ``torchrun``, or by the caller."""

    def __init__(self) -> None:
        import torch.distributed as dist

        if not dist.is_initialized():
            raise SpecError(
                "TorchComm needs an initialised torch.distributed process group "
                "(torch.distributed.init_process_group, or launch with torchrun)."
            )
        self._dist = dist
        self.rank = dist.get_rank()
        self.size = dist.get_world_size()
        self.name = f"torch.distributed/{dist.get_backend()}"
        # NCCL moves CUDA tensors only
        self._device = "cuda" if dist.get_backend() == "nccl" else "cpu"

    def gather_fixed(self, buf: np.ndarray, wait: bool = True) -> Any:
        import torch

        t = torch.from_numpy(np.ascontiguousarray(buf, dtype=np.int64)).to(self._device)
        out = torch.empty((self.size, t.numel()), dtype=torch.int64, device=self._device)
        work = self._dist.all_gather(list(out.unbind(0)), t, async_op=True)

        class _Handle:
            def wait(self_inner) -> np.ndarray:
                work.wait()
                return out.cpu().numpy()

        h = _Handle()
        return h.wait() if wait else h

    def allgather_object(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.size
        self._dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        self._dist.barrier()

    def close(self, wait: bool = True) -> None:
        """Wait for every rank, then destroy the process group: a rank that left the
        interpreter with the group alive while others still worked was aborted by gloo's
        threads ("terminate called without an active exception", seen under torchrun)."""
        if self._dist.is_initialized():
            if wait:
                self._dist.barrier()
            self._dist.destroy_process_group()


class MPIComm(Comm):
    """An mpi4py communicator (``MPI.COMM_WORLD`` by default)."""

    def __init__(self, comm: Any = None) -> None:
        from mpi4py import MPI

        self._mpi = MPI
        self._comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self._comm.Get_rank()
        self.size = self._comm.Get_size()
        self.name = "mpi4py"

    def gather_fixed(self, buf: np.ndarray, wait: bool = True) -> Any:
        send = np.ascontiguousarray(buf, dtype=np.int64)
        out = np.empty((self.size, send.size), dtype=np.int64)
        req = self._comm.Iallgather(send, out)

        class _Handle:
            def wait(self_inner) -> np.ndarray:
                req.Wait()
                return out

        h = _Handle()
        return h.wait() if wait else h

    def allgather_object(self, obj: Any) -> list[Any]:
        return self._comm.allgather(obj)

    def barrier(self) -> None:
        self._comm.Barrier()


def launched_ranks() -> tuple[str, int]:
    """(launcher, number of processes) this process was started with: ``("torchrun", R)``
    when torchrun's variables are set, ``("mpi", R)`` under mpiexec (MPICH, Open MPI, Slurm's
    PMI), ``("single", 1)`` otherwise."""
    if "TORCHELASTIC_RUN_ID" in os.environ or (
        "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ
    ):
        return "torchrun", int(os.environ.get("WORLD_SIZE", "1"))
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        if var in os.environ:
            return "mpi", int(os.environ[var])
    return "single", 1


def from_environment(device: str = "cpu") -> Comm:
    """The :class:`Comm` of how this process was launched: under ``torchrun`` the default
    process group is initialised here (gloo for ``device="cpu"``, NCCL for CUDA), under
    ``mpiexec`` MPI.COMM_WORLD, else a :class:`SingleComm`."""
    launcher, n = launched_ranks()
    if launcher == "torchrun":
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if str(device).startswith("cuda") else "gloo"
            if backend == "nccl":
                import torch

                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend=backend)
        return TorchComm()
    if launcher == "mpi" and n > 1:
        try:
            return MPIComm()
        except ImportError as e:
            raise SpecError(
                f"this process was started by mpiexec ({n} processes) but mpi4py is not "
                "installed; pip install mpi4py, or launch with torchrun."
            ) from e
    return SingleComm()
