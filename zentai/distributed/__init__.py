"""One brain across processes, GPUs and nodes (issue 10): partition, build, exchange, plan.

* :func:`partition` — neurons over R ranks by spatial tiles (MONET style);
* :class:`DistributedSimulator` — each rank builds and simulates its part; spikes are
  all-gathered every communication interval through torch.distributed or mpi4py; the spikes
  are the same for any number of ranks;
* :func:`merge_results` — the ranks' recordings as one Result;
* :func:`plan` — neurons, synapses, memory and traffic per rank before a cluster job.
"""

from zentai.distributed.comm import Comm, MPIComm, SingleComm, TorchComm, from_environment
from zentai.distributed.engine import DistributedSimulator, fingerprint, merge_results, spec_hash
from zentai.distributed.partition import Partition, partition

__all__ = [
    "Comm",
    "DistributedSimulator",
    "MPIComm",
    "Partition",
    "SingleComm",
    "TorchComm",
    "fingerprint",
    "from_environment",
    "merge_results",
    "partition",
    "spec_hash",
]
