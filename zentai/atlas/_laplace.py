"""Laplace potential on a voxel mask, shared by the cortical and cerebellar geometry.

The unknowns are the voxels of a boolean mask (7-point finite differences, unit spacing). Each
face between a mask voxel and a voxel outside the mask carries either a Dirichlet value or no
flux (Neumann). The Dirichlet value sits on the *face* (half a voxel from the centre), so the
discrete boundary is the voxelised surface itself: the flux across such a face is
``2 (value - phi_i)``. Faces between two mask voxels may also be cut (the caller decides, e.g.
across the brain's midline), and a cut face is then Dirichlet or Neumann on both sides.

Connected parts of the mask with no Dirichlet face have no unique solution; their voxels get
``nan``. The system is symmetric positive definite on the remaining voxels and is solved with
conjugate gradients and a Jacobi preconditioner.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import cg

from zentai.errors import ZentaiInternalError

__all__ = ["LaplaceSolution", "array_digest", "crop_padded", "solve_laplace"]

log = logging.getLogger(__name__)

# Face value callback: (src_index (n,3), nb_index (n,3), src_label (n,), nb_label (n,), axis,
# sign) -> values (n,), nan = Neumann.
FaceFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int], np.ndarray]
# Cut callback for faces inside the mask: same arguments -> (cut (n,) bool, values (n,)).
CutFn = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int], tuple[np.ndarray, np.ndarray]
]


@dataclass
class LaplaceSolution:
    """Potential and gradient on the voxels of a mask.

    Attributes
    ----------
    index : ndarray, (n, 3), int64
        Grid indices of the mask voxels (in the caller's array, offsets undone).
    phi : ndarray, (n,), float64
        Potential; nan in parts of the mask without any Dirichlet face.
    grad : ndarray, (n, 3), float64
        Gradient of ``phi`` per voxel edge (central differences; one-sided with the face
        value at Dirichlet faces; zero flux at Neumann faces).
    n_iter : int
        Conjugate-gradient iterations.
    """

    index: np.ndarray
    phi: np.ndarray
    grad: np.ndarray
    n_iter: int


def array_digest(a: np.ndarray) -> str:
    """Short content hash of an array (shape, dtype and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((a.shape, str(a.dtype))).encode())
    h.update(np.ascontiguousarray(a).view(np.uint8).reshape(-1))
    return h.hexdigest()


def crop_padded(mask: np.ndarray, pad: int = 1) -> tuple[tuple[slice, ...], np.ndarray]:
    """Bounding box of ``mask`` grown by ``pad`` (clipped to the array) and its lower corner."""
    idx = np.argwhere(mask)
    if idx.size == 0:
        raise ZentaiInternalError("crop_padded got an empty mask; please report.")
    lo = np.maximum(idx.min(0) - pad, 0)
    hi = np.minimum(idx.max(0) + pad + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi)), lo


def solve_laplace(
    labels: np.ndarray,
    mask: np.ndarray,
    face_fn: FaceFn,
    cut_fn: CutFn | None = None,
    *,
    rtol: float = 1e-8,
    maxiter: int = 20000,
) -> LaplaceSolution:
    """Solve the Laplace equation on ``mask`` with face boundary values from ``face_fn``.

    Parameters
    ----------
    labels : ndarray, (X, Y, Z), int
        Label volume (read at the neighbours of boundary faces; outside the array counts as 0).
    mask : ndarray, (X, Y, Z), bool
        The domain.
    face_fn
        Value of each boundary face (nan: no flux).
    cut_fn
        Optional; marks faces between two mask voxels as cut and gives their values.
    """
    sl, lo = crop_padded(mask, pad=1)
    m = np.pad(mask[sl], 1)
    lab = np.pad(labels[sl], 1)
    off = lo - 1  # grid index = local index + off
    idx = np.argwhere(m)
    n = len(idx)
    lut = np.full(m.shape, -1, dtype=np.int64)
    lut[tuple(idx.T)] = np.arange(n)
    src_lab = lab[tuple(idx.T)]

    diag = np.zeros(n)
    rhs = np.zeros(n)
    has_dirichlet = np.zeros(n, dtype=bool)
    rows, cols = [], []
    # per direction: neighbour value / distance, filled after the solve
    dirs: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for axis in range(3):
        for sign in (1, -1):
            nb = idx.copy()
            nb[:, axis] += sign
            j = lut[tuple(nb.T)]
            inside = j >= 0
            face_val = np.full(n, np.nan)
            connected = inside.copy()
            if cut_fn is not None and inside.any():
                s = np.flatnonzero(inside)
                cut, val = cut_fn(idx[s] + off, nb[s] + off, src_lab[s], src_lab[j[s]], axis, sign)
                connected[s[cut]] = False
                face_val[s[cut]] = val[cut]
            out = np.flatnonzero(~inside)
            if out.size:
                nb_lab = lab[tuple(nb[out].T)]
                face_val[out] = face_fn(
                    idx[out] + off, nb[out] + off, src_lab[out], nb_lab, axis, sign
                )
            c = np.flatnonzero(connected)
            rows.append(c)
            cols.append(j[c])
            diag[c] += 1.0
            d = np.isfinite(face_val)
            diag[d] += 2.0
            rhs[d] += 2.0 * face_val[d]
            has_dirichlet |= d
            dirs.append((axis, sign, connected, j, face_val, d))

    r = np.concatenate(rows)
    cidx = np.concatenate(cols)
    adj = sp.csr_matrix((np.ones(len(r)), (r, cidx)), shape=(n, n))
    n_comp, comp = connected_components(adj, directed=False)
    comp_ok = np.zeros(n_comp, dtype=bool)
    comp_ok[comp[has_dirichlet]] = True
    ok = comp_ok[comp]
    if not ok.all():
        log.info("Laplace: %d of %d voxels lie in parts without a boundary value", (~ok).sum(), n)

    phi = np.full(n, np.nan)
    n_iter = 0
    if ok.any():
        keep = np.flatnonzero(ok)
        new = np.full(n, -1, dtype=np.int64)
        new[keep] = np.arange(len(keep))
        sel = ok[r] & ok[cidx]
        a = sp.csr_matrix(
            (-np.ones(int(sel.sum())), (new[r[sel]], new[cidx[sel]])), shape=(len(keep),) * 2
        )
        a = a + sp.diags(diag[keep])
        pre = sp.diags(1.0 / diag[keep])
        counter = [0]

        def _count(_x: np.ndarray) -> None:
            counter[0] += 1

        x, info = cg(
            a,
            rhs[keep],
            x0=np.full(len(keep), 0.5),
            rtol=rtol,
            atol=0.0,
            maxiter=maxiter,
            M=pre,
            callback=_count,
        )
        if info != 0:
            raise ZentaiInternalError(
                f"Laplace solve did not converge (cg info {info}) on {len(keep)} voxels; "
                "please report."
            )
        phi[keep] = x
        n_iter = counter[0]

    # gradient: (v+ - v-) / (d+ + d-), v/d = neighbour value at 1, face value at 0.5, or self at 0
    grad = np.zeros((n, 3))
    for axis in range(3):
        vals, dists = [], []
        for a_, sign, connected, j, face_val, d in dirs:
            if a_ != axis:
                continue
            v = phi.copy()
            dist = np.zeros(n)
            v[connected] = phi[j[connected]]
            dist[connected] = 1.0
            v[d] = face_val[d]
            dist[d] = 0.5
            vals.append((sign, v))
            dists.append(dist)
        (s0, v0), (_s1, v1) = vals
        vp, vm = (v0, v1) if s0 > 0 else (v1, v0)
        dsum = dists[0] + dists[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            grad[:, axis] = np.where(dsum > 0, (vp - vm) / np.where(dsum > 0, dsum, 1.0), 0.0)
    return LaplaceSolution(index=idx + off, phi=phi, grad=grad, n_iter=n_iter)
