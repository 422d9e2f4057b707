"""Tests of the counter-based generator :mod:`zentai.rng`.

Statistical checks use fixed keys. Where a test computes a p-value it uses the two-level scheme
of NEST's connection tests: one p-value per key for 20 keys, then a KS test of those p-values
against Uniform(0, 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from zentai import rng

ALPHA = 0.01
N_KEYS = 20  # keys 0..19 of each test, fixed in advance


def _two_level(pvalues: list[float]) -> None:
    """Level 1: no single p-value below ALPHA / n (Bonferroni over the keys, family-wise
    ALPHA). Level 2: the p-values are Uniform(0, 1) (KS test at ALPHA)."""
    pvalues = np.asarray(pvalues)
    assert pvalues.min() > ALPHA / len(pvalues), pvalues
    assert scipy.stats.kstest(pvalues, "uniform").pvalue > ALPHA, pvalues


def _as_unsigned(x: torch.Tensor) -> list[int]:
    return [v & ((1 << 64) - 1) for v in x.tolist()]


# ------------------------------------------------------------------------- exact hash
def test_mix64_matches_pure_python_reference():
    # rng.mix64_int is the SplitMix64 finaliser on Python ints (arbitrary precision, masked),
    # i.e. the reference; the torch version must agree bit for bit, including the edge values.
    gen = np.random.default_rng(0)
    raw = gen.integers(0, 2**64, size=2000, dtype=np.uint64)
    edges = np.array([0, 1, 2**63 - 1, 2**63, 2**64 - 1], dtype=np.uint64)
    x = np.concatenate([raw, edges])
    got = _as_unsigned(rng.mix64(torch.from_numpy(x.view(np.int64))))
    expected = [rng.mix64_int(int(v)) for v in x]
    assert got == expected


def test_bits_follow_the_documented_formula():
    # module docstring: draw = mix64(mix64(key + stream * G1) + counter * G2), mod 2**64
    g1, g2, m = 0x9E3779B97F4A7C15, 0xD1B54A32D192ED03, (1 << 64) - 1
    k = rng.key(3, "formula")
    stream = torch.tensor([0, 1, 5, 123456789, 2**40])
    counter = torch.tensor([0, 7, 1, 99, 2**33])
    got = _as_unsigned(rng.bits(k, stream, counter))
    expected = [
        rng.mix64_int(rng.mix64_int((k + s * g1) & m) + c * g2)
        for s, c in zip(stream.tolist(), counter.tolist())
    ]
    assert got == expected


def test_key_is_deterministic_and_separates_parts():
    assert rng.key(7, "conn", 3) == rng.key(7, "conn", 3)
    keys = {rng.key(7, "conn", 3), rng.key(7, "conn", 4), rng.key(8, "conn", 3), rng.key(7, "x", 3)}
    assert len(keys) == 4
    assert rng.key(1, 2) != rng.key(2, 1)  # order matters
    assert -(2**63) <= rng.key(-1, "neg") < 2**63  # a signed int64 value


# ------------------------------------------------------------------------ uniform
def test_uniform_in_unit_interval_with_mean_and_variance_of_u01():
    k = rng.key(0, "uniform")
    n = 1_000_000
    x = rng.uniform(k, torch.arange(n) // 1000, torch.arange(n) % 1000)
    assert x.dtype == torch.float64
    assert bool(((x >= 0) & (x < 1)).all())
    # U(0,1): mean 1/2, variance 1/12; standard error of the mean sqrt(1/12 / n) = 2.9e-4,
    # of the variance sqrt(1/180 / n) = 7.5e-5 (fourth central moment 1/80); 5 standard errors.
    assert float(x.mean()) == pytest.approx(0.5, abs=5 * math.sqrt(1 / 12 / n))
    assert float(x.var()) == pytest.approx(1 / 12, abs=5 * math.sqrt(1 / 180 / n))


def test_uniform_float32_in_unit_interval():
    x = rng.uniform(rng.key(1), torch.arange(100_000), 0, dtype=torch.float32)
    assert x.dtype == torch.float32
    assert bool(((x >= 0) & (x < 1)).all())
    assert float(x.mean()) == pytest.approx(0.5, abs=5 * math.sqrt(1 / 12 / 100_000))


def test_uniform_two_level_ks():
    pvalues = []
    for seed in range(N_KEYS):
        x = rng.uniform(rng.key(seed, "ks"), torch.arange(20_000), 3)
        pvalues.append(scipy.stats.kstest(x.numpy(), "uniform").pvalue)
    _two_level(pvalues)


def test_normal_two_level_ks():
    pvalues = []
    for seed in range(N_KEYS):
        z = rng.normal(
            rng.key(seed, "normal"), torch.zeros(20_000, dtype=torch.int64), torch.arange(20_000)
        )
        pvalues.append(scipy.stats.kstest(z.numpy(), "norm").pvalue)
    _two_level(pvalues)


def test_uniform_int_range_and_two_level_chi2():
    n_bins, n_draws = 1000, 200_000  # 200 expected per bin
    pvalues = []
    for seed in range(N_KEYS):
        r = rng.uniform_int(
            rng.key(seed, "int"), torch.arange(n_draws) % 7, torch.arange(n_draws), n_bins
        )
        assert int(r.min()) >= 0 and int(r.max()) < n_bins
        counts = torch.bincount(r, minlength=n_bins).numpy()
        pvalues.append(scipy.stats.chisquare(counts).pvalue)
    _two_level(pvalues)


def test_uniform_int_large_n_stays_in_range():
    n = 2**31 - 1  # documented upper limit
    r = rng.uniform_int(rng.key(2), torch.arange(100_000), 0, n)
    assert int(r.min()) >= 0 and int(r.max()) < n
    # mean of U{0..n-1} is (n-1)/2; standard error n / sqrt(12 * 1e5)
    assert float(r.double().mean()) == pytest.approx((n - 1) / 2, abs=5 * n / math.sqrt(12e5))


# ---------------------------------------------------------------- independence
@pytest.mark.parametrize("axis", ["counter", "stream"])
def test_no_lag1_correlation_between_adjacent_streams_or_counters(axis):
    # Pearson r of independent pairs is ~ N(0, 1/n); allow 5 standard errors.
    n = 200_000
    k = rng.key(4, "lag")
    idx = torch.arange(n + 1)
    x = rng.uniform(k, idx, 0) if axis == "stream" else rng.uniform(k, 0, idx)
    r = np.corrcoef(x[:-1].numpy(), x[1:].numpy())[0, 1]
    assert abs(r) < 5 / math.sqrt(n)


def test_no_correlation_between_neighbouring_keys():
    n = 200_000
    s, c = torch.arange(n), torch.zeros(n, dtype=torch.int64)
    x = rng.uniform(rng.key(5, "a", 0), s, c)
    y = rng.uniform(rng.key(5, "a", 1), s, c)
    assert abs(np.corrcoef(x.numpy(), y.numpy())[0, 1]) < 5 / math.sqrt(n)


def test_each_output_bit_is_fair():
    # Each of the 64 bits is set with probability 1/2: count over 100 000 draws has standard
    # deviation 158; allow 5 standard deviations.
    n = 100_000
    b = rng.bits(rng.key(6), torch.arange(n), torch.arange(n)).numpy().view(np.uint64)
    ones = [int(((b >> np.uint64(i)) & np.uint64(1)).sum()) for i in range(64)]
    assert max(abs(o - n / 2) for o in ones) < 5 * math.sqrt(n / 4)


# ------------------------------------------------------------------ determinism
def test_same_key_same_numbers_other_key_other_numbers():
    s, c = torch.arange(1000), torch.arange(1000)
    a = rng.uniform(rng.key(9), s, c)
    assert torch.equal(a, rng.uniform(rng.key(9), s, c))
    assert not torch.equal(a, rng.uniform(rng.key(10), s, c))


def test_draws_do_not_depend_on_batching():
    # a draw is a function of (key, stream, counter) only: computing a subset gives a subset
    k = rng.key(11)
    s, c = torch.arange(5000) // 50, torch.arange(5000) % 50
    full = rng.normal(k, s, c)
    part = rng.normal(k, s[1234:2345], c[1234:2345])
    assert torch.equal(full[1234:2345], part)


@pytest.mark.gpu
def test_cuda_gives_the_same_numbers_as_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    k = rng.key(12, "device")
    s, c = torch.arange(100_000) // 100, torch.arange(100_000) % 100
    for f in (rng.uniform, rng.normal):
        cpu = f(k, s, c)
        gpu = f(k, s.cuda(), c.cuda()).cpu()
        if f is rng.normal:  # log/sqrt/cos may differ in the last bit between devices
            torch.testing.assert_close(gpu, cpu, rtol=1e-12, atol=1e-12)
        else:
            assert torch.equal(gpu, cpu)
    assert torch.equal(
        rng.uniform_int(k, s.cuda(), c.cuda(), 977).cpu(), rng.uniform_int(k, s, c, 977)
    )


def test_compiled_cpu_draws_equal_the_tensor_draws(monkeypatch):
    # the numba loops used for large CPU draws give the same integers and normals as the
    # whole-tensor torch operations, for signed keys, negative streams and broadcasting
    g = torch.Generator().manual_seed(0)
    s = torch.randint(-(2**62), 2**62, (20000,), generator=g)
    c = torch.randint(0, 2**40, (20000,), generator=g)
    if rng._compiled() is None:
        pytest.skip("numba not installed")
    for k in (rng.key(3, "x"), -5, 2**62 + 7):
        fast_bits, fast_normal = rng.bits(k, s, c), rng.normal(k, s, c)
        fast_2d = rng.bits(k, s.reshape(100, 200), torch.tensor(3))
        monkeypatch.setattr(rng, "_COMPILED_MIN", 10**12)
        assert torch.equal(fast_bits, rng.bits(k, s, c))
        assert torch.equal(fast_normal, rng.normal(k, s, c))
        assert torch.equal(fast_2d, rng.bits(k, s.reshape(100, 200), torch.tensor(3)))
        monkeypatch.setattr(rng, "_COMPILED_MIN", 4096)
