"""Run the brain-forelimb loop on 2 MPI ranks and save its trajectories (for the test that
compares them with the in-process loop).

    mpiexec -n 2 python -m zentai.cosim._mpi_check OUT.npz N_WINDOWS
"""

from __future__ import annotations

import sys

import numpy as np


def main() -> None:
    from mpi4py import MPI

    from zentai.cosim import run_mpi
    from zentai.cosim.forelimb import make_side

    out, n = sys.argv[1], int(sys.argv[2])

    def setup(rank):
        side = make_side(rank)
        if rank == 0:
            return side, lambda s, k: None
        return side, lambda s, k: s.data.qpos.copy()

    rec = run_mpi(setup, n)
    comm = MPI.COMM_WORLD
    qpos = comm.gather(rec, root=0)
    if comm.Get_rank() == 0:
        np.savez(out, qpos=np.array(qpos[1]))


if __name__ == "__main__":
    main()
