"""Analyses of the whole: correlation structure, directed interactions (Granger causality,
transfer entropy) between regions or populations.

All functions take plain arrays, ``(time, variables)`` (e.g. binned population rates from
:meth:`Result.rates_hz` over time, synthetic calcium traces, recorded signals), so recordings
and simulations go through the same code.

* :func:`correlation_structure` — pairwise and partial correlations (from the inverse of the
  covariance; Whittaker 1990) and modules by average-linkage clustering of 1 - correlation.
* :func:`compare_correlations` — how alike two correlation matrices are: Pearson correlation
  of their upper triangles and a Mantel permutation test (Mantel 1967).
* :func:`granger` — conditional Granger causality (Granger 1969; Geweke 1984) by least-squares
  vector autoregression of order ``p``: for every ordered pair j -> i, the F-test that j's past
  improves the prediction of i given the past of every other variable; returns the log ratio of
  residual variances (Geweke's F) and p-values.
* :func:`transfer_entropy` — TE_{X->Y} = I(Y_t ; X_{t-1..t-k} | Y_{t-1..t-k}) (Schreiber 2000)
  in bits by plug-in estimation on discretised series (quantile bins), with a shuffle
  surrogate to subtract the estimator's bias.
* :func:`decode` — cross-validated decoding of a stimulus or behavioural label from population
  activity: linear discriminant analysis with a shrunk pooled covariance (Ledoit–Wolf-style
  shrinkage towards its mean variance), stratified k-fold, accuracy and a label-permutation p.
* :func:`phi_g` — geometric integrated information of a Gaussian VAR(1) system (Oizumi,
  Tsuchiya & Amari 2016, PNAS 113:14817): the KL divergence from the system to the closest
  one whose causal influences between the parts of a bipartition are cut, minimised over
  bipartitions; :func:`phi_g_from_data` fits the VAR(1) first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from zentai.errors import SpecError

__all__ = [
    "compare_correlations",
    "correlation_structure",
    "decode",
    "granger",
    "phi_g",
    "phi_g_from_data",
    "transfer_entropy",
]


def _matrix(x: Any, owner: str, min_rows: int = 3) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < min_rows or a.shape[1] < 2:
        raise SpecError(
            f"{owner} expects a (time, variables) array with at least {min_rows} samples and 2 "
            f"variables; got shape {a.shape}."
        )
    if not np.isfinite(a).all():
        raise SpecError(f"{owner}: the data contain NaN or infinite values.")
    return a


def correlation_structure(x: Any, n_modules: int | None = None) -> dict[str, np.ndarray]:
    """Pairwise correlations, partial correlations and modules of the variables of ``x``.

    ``n_modules``: cut the average-linkage tree of 1 - correlation into that many modules
    (default: none). Returns ``{"corr", "partial", "modules"}`` (modules: label per variable,
    from 1; all ones without ``n_modules``).
    """
    a = _matrix(x, "correlation_structure")
    if np.any(a.std(axis=0) == 0):
        raise SpecError("correlation_structure: a variable is constant.")
    c = np.corrcoef(a, rowvar=False)
    prec = np.linalg.pinv(np.cov(a, rowvar=False))
    d = np.sqrt(np.diag(prec))
    partial = -prec / np.outer(d, d)
    np.fill_diagonal(partial, 1.0)
    modules = np.ones(a.shape[1], dtype=np.int64)
    if n_modules is not None:
        dist = np.clip(1.0 - c, 0.0, 2.0)
        np.fill_diagonal(dist, 0.0)
        tree = linkage(squareform(dist, checks=False), method="average")
        modules = fcluster(tree, t=n_modules, criterion="maxclust").astype(np.int64)
    return {"corr": c, "partial": partial, "modules": modules}


def compare_correlations(
    a: Any, b: Any, *, n_permutations: int = 999, seed: int = 0
) -> dict[str, float]:
    """Similarity of two correlation (or any symmetric) matrices of the same variables:
    ``r`` (Pearson correlation of the upper triangles) and ``p`` (Mantel: the fraction of
    joint row/column permutations of ``b`` giving an r at least as large)."""
    ma, mb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if ma.shape != mb.shape or ma.ndim != 2 or ma.shape[0] != ma.shape[1] or ma.shape[0] < 3:
        raise SpecError(
            f"compare_correlations expects two square matrices of one size >= 3; got "
            f"{ma.shape} and {mb.shape}."
        )
    iu = np.triu_indices(ma.shape[0], 1)
    r = float(np.corrcoef(ma[iu], mb[iu])[0, 1])
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_permutations):
        perm = rng.permutation(ma.shape[0])
        hits += np.corrcoef(ma[iu], mb[perm][:, perm][iu])[0, 1] >= r
    return {"r": r, "p": (hits + 1) / (n_permutations + 1)}


def granger(x: Any, order: int = 2) -> dict[str, np.ndarray]:
    """Conditional Granger causality between all ordered pairs of the variables of ``x``.

    Returns ``{"F": (n, n), "p": (n, n)}`` with ``[i, j]`` the influence j -> i given all
    other variables: F = log(var restricted / var full) (Geweke), p from the nested-model
    F-test. Diagonals are NaN.
    """
    a = _matrix(x, "granger", min_rows=order + 10)
    if not (isinstance(order, int) and order >= 1):
        raise SpecError(f"granger order must be an integer >= 1; got {order!r}.")
    a = a - a.mean(axis=0)
    T, n = a.shape
    lags = np.concatenate([a[order - k - 1 : T - k - 1] for k in range(order)], axis=1)
    y = a[order:]
    N = y.shape[0]
    full_cols = n * order
    if full_cols + 1 >= N:
        raise SpecError(f"granger: {T} samples are too few for {n} variables at order {order}.")
    design = np.hstack([np.ones((N, 1)), lags])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    rss_full = ((y - design @ coef) ** 2).sum(axis=0)
    F = np.full((n, n), np.nan)
    P = np.full((n, n), np.nan)
    df_full = N - (full_cols + 1)
    for j in range(n):
        keep = np.ones(design.shape[1], dtype=bool)
        keep[1 + np.arange(order) * n + j] = False  # j's lags
        d = design[:, keep]
        c, *_ = np.linalg.lstsq(d, y, rcond=None)
        rss_r = ((y - d @ c) ** 2).sum(axis=0)
        for i in range(n):
            if i == j:
                continue
            F[i, j] = np.log(rss_r[i] / rss_full[i])
            f_stat = ((rss_r[i] - rss_full[i]) / order) / (rss_full[i] / df_full)
            P[i, j] = stats.f.sf(f_stat, order, df_full)
    return {"F": F, "p": P}


def _discretise(v: np.ndarray, bins: int) -> np.ndarray:
    if np.unique(v).size <= bins:  # already discrete (e.g. binary)
        return np.unique(v, return_inverse=True)[1]
    edges = np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, v, side="right")


def _joint_code(*cols: np.ndarray) -> np.ndarray:
    """One integer code per sample for the tuple of non-negative integer columns (0, 1, ...)."""
    out = np.zeros(cols[0].size, dtype=np.int64)
    for c in cols:
        out = out * (int(c.max()) + 1) + c
    return np.unique(out, return_inverse=True)[1]


def _cond_mi_bits(yt: np.ndarray, xp: np.ndarray, yp: np.ndarray) -> float:
    """I(yt ; xp | yp) in bits from joint counts of three integer codes."""
    code = _joint_code

    def H(c):
        p = np.bincount(c) / c.size
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum())

    return H(code(yt, yp)) + H(code(xp, yp)) - H(code(yt, xp, yp)) - H(code(yp))


def transfer_entropy(
    source: Any,
    target: Any,
    *,
    history: int = 1,
    bins: int = 2,
    n_shuffles: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """Transfer entropy source -> target in bits (module docstring).

    Both series are discretised into ``bins`` quantile bins (unchanged if they already take at
    most ``bins`` values); histories of length ``history``. Returns ``te`` (plug-in), ``bias``
    (mean TE after shuffling the source in time, which keeps its distribution and destroys
    its relation to the target), ``te_corrected`` = te - bias, and ``p`` (fraction of shuffles
    reaching te).
    """
    s = np.asarray(source, dtype=np.float64).ravel()
    t = np.asarray(target, dtype=np.float64).ravel()
    if s.size != t.size or s.size < 10 * (history + 1):
        raise SpecError(
            f"transfer_entropy expects two series of one length >= {10 * (history + 1)}; got "
            f"{s.size} and {t.size}."
        )
    xs, ys = _discretise(s, bins), _discretise(t, bins)

    def past(v):  # the last ``history`` values before each sample, as one code
        return _joint_code(*(v[history - k - 1 : v.size - k - 1] for k in range(history)))

    yt, yp = ys[history:], past(ys)
    te = _cond_mi_bits(yt, past(xs), yp)
    rng = np.random.default_rng(seed)
    sh = [_cond_mi_bits(yt, past(rng.permutation(xs)), yp) for _ in range(n_shuffles)]
    bias = float(np.mean(sh)) if sh else 0.0
    p = (1 + sum(v >= te for v in sh)) / (1 + len(sh))
    return {"te": te, "bias": bias, "te_corrected": te - bias, "p": p}


def _phi_g_cut(A: np.ndarray, S: np.ndarray, SE: np.ndarray, keep: np.ndarray) -> float:
    """min over A' (zero where ``keep`` is False) of 1/2 log det(SE + D S D^T) / det(SE), with
    D = A - A'. For a fixed A' the closest disconnected model's noise covariance is
    SE + D S D^T (keeping p(X_{t-1})), which leaves this log-determinant ratio as the KL."""
    from scipy.optimize import minimize

    idx = np.nonzero(keep)
    _, logdet_e = np.linalg.slogdet(SE)

    def f(a):
        Ap = np.zeros_like(A)
        Ap[idx] = a
        D = A - Ap
        M = SE + D @ S @ D.T
        _, logdet = np.linalg.slogdet(M)
        g = -2.0 * np.linalg.solve(M, D @ S)  # d logdet / d A'
        return 0.5 * (logdet - logdet_e), 0.5 * g[idx]

    res = minimize(f, A[idx], jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15})
    return max(float(res.fun), 0.0)


def phi_g(A: Any, noise_cov: Any = None, partition: Any = None) -> dict[str, Any]:
    """Geometric integrated information Φ_G (nats) of X_t = A X_{t-1} + E_t, E ~ N(0, noise_cov).

    ``partition``: labels per unit (two or more parts); default: every bipartition is tried and
    the minimum returned (the minimum information partition). Returns ``{"phi", "partition"}``.
    """
    import itertools

    from scipy.linalg import solve_discrete_lyapunov

    A = np.asarray(A, dtype=np.float64)
    n = A.shape[0]
    if A.ndim != 2 or A.shape != (n, n) or n < 2:
        raise SpecError(f"phi_g expects a square (n, n) matrix A with n >= 2; got {A.shape}.")
    if np.max(np.abs(np.linalg.eigvals(A))) >= 1:
        raise SpecError("phi_g: the system is not stationary (a spectral radius of A >= 1).")
    SE = np.eye(n) if noise_cov is None else np.asarray(noise_cov, dtype=np.float64)
    if SE.shape != (n, n) or np.any(np.linalg.eigvalsh(SE) <= 0):
        raise SpecError(f"phi_g: noise_cov must be a positive definite ({n}, {n}) matrix.")
    S = solve_discrete_lyapunov(A, SE)
    if partition is not None:
        labels = [np.asarray(partition)]
    else:
        if n > 12:
            raise SpecError(f"phi_g: {n} units have too many bipartitions; give a partition.")
        labels = []
        for r in range(1, n // 2 + 1):
            for part in itertools.combinations(range(n), r):
                lab = np.zeros(n, dtype=np.int64)
                lab[list(part)] = 1
                labels.append(lab)
    best = None
    for lab in labels:
        keep = lab[:, None] == lab[None, :]
        phi = _phi_g_cut(A, S, SE, keep)
        if best is None or phi < best[0]:
            best = (phi, lab)
    return {"phi": best[0], "partition": best[1]}


def phi_g_from_data(x: Any, partition: Any = None) -> dict[str, Any]:
    """Φ_G of the VAR(1) fitted to ``x`` (time, units) by least squares (module docstring)."""
    a = _matrix(x, "phi_g_from_data", min_rows=20)
    a = a - a.mean(axis=0)
    past, now = a[:-1], a[1:]
    coef, *_ = np.linalg.lstsq(past, now, rcond=None)
    A = coef.T
    resid = now - past @ coef
    return phi_g(A, np.cov(resid, rowvar=False), partition)


def _lda_fit(x: np.ndarray, y: np.ndarray, classes: np.ndarray, shrinkage: float):
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    resid = x - means[np.searchsorted(classes, y)]
    cov = resid.T @ resid / max(x.shape[0] - classes.size, 1)
    target = np.eye(cov.shape[0]) * np.trace(cov) / cov.shape[0]
    cov = (1 - shrinkage) * cov + shrinkage * target
    prior = np.array([(y == c).mean() for c in classes])
    w = np.linalg.solve(cov, means.T)  # (features, classes)
    b = -0.5 * np.sum(means.T * w, axis=0) + np.log(prior)
    return w, b


def decode(
    x: Any,
    labels: Any,
    *,
    folds: int = 5,
    shrinkage: float = 0.1,
    n_permutations: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """Cross-validated decoding of ``labels`` (trials,) from ``x`` (trials, features).

    Linear discriminant analysis (shared covariance, shrunk by ``shrinkage`` towards a scaled
    identity), stratified ``folds``-fold cross-validation (trials of each class dealt to the
    folds in a random order from ``seed``). Returns ``accuracy`` (held-out), ``fold_accuracy``,
    ``chance`` (largest class fraction), ``confusion`` (true x predicted, classes in sorted
    order), ``classes`` and ``p`` (fraction of label permutations decoding at least as well).
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:  # one feature
        a = a[:, None]
    if a.ndim != 2 or not np.isfinite(a).all():
        raise SpecError(
            f"decode expects finite x of shape (trials, features); got shape {np.shape(x)}."
        )
    y = np.asarray(labels)
    if y.shape != (a.shape[0],):
        raise SpecError(f"decode: {y.size} labels for {a.shape[0]} trials.")
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2 or counts.min() < folds:
        raise SpecError(
            f"decode needs >= 2 classes with >= folds ({folds}) trials each; got counts "
            f"{dict(zip(classes.tolist(), counts.tolist()))}."
        )
    if not 0 <= shrinkage <= 1:
        raise SpecError(f"decode shrinkage must be in [0, 1]; got {shrinkage}.")
    rng = np.random.default_rng(seed)

    def folds_of(lab):
        f = np.empty(lab.size, dtype=np.int64)
        for c in classes:
            idx = rng.permutation(np.nonzero(lab == c)[0])
            f[idx] = np.arange(idx.size) % folds
        return f

    def run(lab):
        f = folds_of(lab)
        pred = np.empty_like(lab)
        acc = []
        for k in range(folds):
            test = f == k
            mu, sd = a[~test].mean(axis=0), a[~test].std(axis=0)
            sd[sd == 0] = 1.0
            w, b = _lda_fit((a[~test] - mu) / sd, lab[~test], classes, shrinkage)
            pred[test] = classes[np.argmax(((a[test] - mu) / sd) @ w + b, axis=1)]
            acc.append(float((pred[test] == lab[test]).mean()))
        return pred, acc

    pred, acc = run(y)
    accuracy = float((pred == y).mean())
    null = [
        float((run(p)[0] == p).mean()) for p in (rng.permutation(y) for _ in range(n_permutations))
    ]
    confusion = np.zeros((classes.size, classes.size), dtype=np.int64)
    np.add.at(confusion, (np.searchsorted(classes, y), np.searchsorted(classes, pred)), 1)
    return {
        "accuracy": accuracy,
        "fold_accuracy": acc,
        "chance": float(counts.max() / counts.sum()),
        "confusion": confusion,
        "classes": classes,
        "p": (1 + sum(v >= accuracy for v in null)) / (1 + n_permutations),
    }
