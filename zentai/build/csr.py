"""Fill a presynaptic-major (CSR) synapse table from per-projection parts, in one pass.

Each projection's synapses come out of the wiring ordered by postsynaptic neuron. The table
stores them by presynaptic neuron, keeping, within one row, the order of the projections and
then the order within a projection (a *stable* sort by presynaptic neuron). With the row sizes
known in advance (a bincount per part), every synapse's place is its row's next free position:
a counting sort, linear in the number of synapses and with no sort permutation held in memory
(an argsort of the full-scale microcircuit's 3e8 synapses took 15 s and 2.4 GB of int64
indices). :func:`scatter_rows` is the tensor form; on the CPU the build runs the same counting
sort compiled, drawing each synapse's weight and delay as it places it
(:func:`zentai.build.wiring.draw_into_rows`).
"""

from __future__ import annotations

import numpy as np
import torch

try:
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

__all__ = ["delay_steps_into", "expand_ranges", "scatter_rows"]

if HAVE_NUMBA:

    @njit(cache=True, nogil=True, parallel=True)
    def _steps(delay, dt, out):  # pragma: no cover - compiled
        for i in prange(delay.shape[0]):
            out[i] = max(np.rint(np.float64(delay[i]) / dt), 1.0)


def expand_ranges(
    starts: torch.Tensor, counts: torch.Tensor, total: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every element of the ranges ``[starts[k], starts[k] + counts[k])``, in order: (k of
    each element, the element). ``total`` = counts.sum() when the caller has it.

    >>> rep, pos = expand_ranges(torch.tensor([10, 3, 7]), torch.tensor([2, 0, 3]))
    >>> rep.tolist(), pos.tolist()
    ([0, 0, 2, 2, 2], [10, 11, 7, 8, 9])
    """
    if total is None:
        total = int(counts.sum())
    rep = torch.repeat_interleave(counts, output_size=total)
    first = torch.cumsum(counts, 0) - counts
    return rep, starts[rep] + (torch.arange(total, device=counts.device) - first[rep])


def row_synapses(indptr: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every synapse of the CSR ``rows`` (repeats allowed), in row order: (index into ``rows``
    of each synapse, the synapse's position in the tables)."""
    starts = indptr[rows]
    return expand_ranges(starts, indptr[rows + 1] - starts)


def delay_steps_into(delay_ms: torch.Tensor, dt: float, out: torch.Tensor) -> None:
    """``out = max(1, round_half_even(delay_ms / dt))`` computed in float64, in one pass.

    ``out`` (int16 or int32) must be able to hold the largest value. Same values as the tensor
    expression, without its float64 temporaries (2.4 GB at the full-scale microcircuit).
    """
    if HAVE_NUMBA and delay_ms.numel() >= 4096 and delay_ms.device.type == "cpu":
        _steps(delay_ms.numpy(), float(dt), out.numpy())
        return
    step = 1 << 24  # in slices: bounded float64 temporaries
    for a in range(0, delay_ms.numel(), step):
        d = delay_ms[a : a + step].to(torch.float64)
        out[a : a + step] = torch.clamp(torch.round(d / dt), min=1).to(out.dtype)


def scatter_rows(
    pre: torch.Tensor,
    post: torch.Tensor,
    base: int,
    w: torch.Tensor,
    d: torch.Tensor,
    cursor: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    delay: torch.Tensor,
) -> None:
    """Place one part's synapses at their rows' next free positions, in order.

    ``pre`` (int32) are global presynaptic ids; a synapse's target slot is ``base + post``
    (``post`` int32); ``w`` and ``d`` are converted to the tables' dtypes as they are stored.
    ``cursor`` (int64, one per neuron) holds the next free position of each row; it is advanced
    in place. This is the tensor form (a GPU build, or no numba); on the CPU the build draws
    and places in one compiled pass (:func:`zentai.build.wiring.draw_into_rows`).
    """
    # a stable sort by row, each synapse's rank within its row's run, placed after what
    # earlier parts put there
    order = torch.argsort(pre, stable=True)
    sp = pre[order].to(torch.int64)
    ar = torch.arange(sp.numel(), device=sp.device)
    first = torch.zeros_like(sp)
    if sp.numel():
        new = torch.ones_like(sp, dtype=torch.bool)
        new[1:] = sp[1:] != sp[:-1]
        first = torch.cummax(torch.where(new, ar, 0), 0).values
    pos = cursor[sp] + ar - first
    target[pos] = (post[order] + base).to(target.dtype)
    weight[pos] = w[order].to(weight.dtype)
    delay[pos] = d[order].to(delay.dtype)
    cursor += torch.bincount(sp, minlength=cursor.numel())
