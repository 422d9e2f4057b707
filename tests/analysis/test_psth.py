"""The PSTH and its phase detector on synthetic responses with known phases."""

import numpy as np
import pytest
from scipy.special import i0

from zentai.analysis.psth import psth, response_phases
from zentai.errors import SpecError


def _trials(profile, n_trials=60, n_units=20, seed=0, before=50.0, after=100.0):
    """Poisson spikes (1 ms resolution) of n_units x n_trials with rate profile(t) Hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(-before, after, 0.1)
    rate = np.array([profile(x) for x in t])
    spikes, stims = [], []
    for k in range(n_trials):
        s0 = 1000.0 + 300.0 * k
        stims.append(s0)
        for _ in range(n_units):
            fire = rng.random(t.size) < rate * 1e-4
            spikes.append(s0 + t[fire])
    return np.concatenate(spikes), np.array(stims)


def _profile(segments, base=30.0):
    """A rate profile: ``rate`` Hz on each [start, stop) of ``segments``, ``base`` elsewhere."""

    def rate(t):
        return next((r for a, b, r in segments if a <= t < b), base)

    return rate


triphasic = _profile(((4, 10, 150.0), (12, 30, 0.0), (35, 55, 90.0)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triphasic_response_is_found_with_its_latencies(seed):
    spikes, stims = _trials(triphasic, seed=seed)
    edges, counts = psth(spikes, stims, before_ms=50, after_ms=100, bin_ms=1.0)
    ph = response_phases(edges, counts)
    assert [p["sign"] for p in ph] == ["+", "-", "+"], ph
    for p, (lat, dur) in zip(ph, ((4, 6), (12, 18), (35, 20))):
        assert abs(p["latency_ms"] - lat) <= 2.0, ph
        assert abs(p["duration_ms"] - dur) <= 4.0, ph


def test_no_response_no_phases_and_psth_counts_every_spike():
    spikes, stims = _trials(lambda t: 30.0, seed=3)
    edges, counts = psth(spikes, stims, before_ms=50, after_ms=100)
    assert counts.sum() == spikes.size  # every spike falls in the window
    assert response_phases(edges, counts) == []


def test_psth_bins_and_bad_input():
    edges, counts = psth([1000.0, 1000.5, 1001.0, 995.0], [1000.0], before_ms=10, after_ms=10)
    assert edges[10] == 0.0 and counts[10] == 2 and counts[11] == 1 and counts[5] == 1
    with pytest.raises(SpecError, match="at least one stimulus"):
        psth([1.0], [])
    with pytest.raises(SpecError, match="10 ms of pre-stimulus baseline"):
        response_phases(*psth([1.0], [0.0], before_ms=5, after_ms=20))


def test_over_dispersed_baseline_gives_no_false_phases():
    """Counts with extra-Poisson variance (a gamma-mixed rate per bin, as from correlated or
    rhythmic firing) and no response: the thresholds widen to the baseline's spread, so nothing
    is reported; a real response far above that spread is still found."""
    rng = np.random.default_rng(5)
    edges = np.arange(-100, 200, 1.0)
    lam = rng.gamma(2.0, 20.0, size=edges.size)  # mean 40, sd 28 per bin
    counts = rng.poisson(lam).astype(float)
    assert response_phases(edges, counts) == []
    counts[(edges >= 20) & (edges < 30)] += 400.0
    ph = response_phases(edges, counts)
    assert [p["sign"] for p in ph] == ["+"] and abs(ph[0]["latency_ms"] - 20) <= 2


def _rhythmic_trials(profile, n_trials=20, n_units=80, seed=0, hz=90.0, kappa=12.0):
    """Units of a trial fire in shared volleys (rate x a von Mises bump exp(kappa cos) / I0,
    phase random per trial): the summed PSTH is over-dispersed as a synchronised population
    makes it."""
    rng = np.random.default_rng(seed)
    t = np.arange(-100.0, 100.0, 0.1)
    base = np.array([profile(x) for x in t])
    spikes, stims = [], []
    for k in range(n_trials):
        s0 = 1000.0 + 300.0 * k
        stims.append(s0)
        phase = 2 * np.pi * hz * t * 1e-3 + rng.uniform(0, 2 * np.pi)
        rate = base * np.exp(kappa * np.cos(phase)) / i0(kappa)
        for _ in range(n_units):
            spikes.append(s0 + t[rng.random(t.size) < rate * 1e-4])
    return np.concatenate(spikes), np.array(stims)


def test_a_pause_under_a_population_rhythm_is_found():
    """A synchronised 90 Hz rhythm (the cbgc SNr's) widens the fine-scale band so much that a
    complete 13 ms silence would stay inside it; the coarse scale finds it, with the fine
    scale's edges. The rhythm alone gives no phases."""

    snr = _profile(((10, 16, 150.0), (17, 30, 0.0), (31, 45, 120.0)))
    for seed in (0, 1, 2):
        spikes, stims = _rhythmic_trials(snr, seed=seed)
        edges, counts = psth(spikes, stims, before_ms=100, after_ms=100)
        ph = response_phases(edges, counts)
        assert [p["sign"] for p in ph] == ["+", "-", "+"], ph
        assert abs(ph[1]["latency_ms"] - 17) <= 2 and abs(ph[1]["duration_ms"] - 13) <= 3, ph
        spikes, stims = _rhythmic_trials(lambda t: 30.0, seed=seed + 10)
        assert response_phases(*psth(spikes, stims, before_ms=100, after_ms=100)) == []


def test_per_trial_counts_sum_to_the_psth_and_find_the_triphasic_response():
    for seed in (0, 1, 2):
        spikes, stims = _trials(triphasic, seed=seed, n_trials=30)
        edges, summed = psth(spikes, stims, before_ms=50, after_ms=100)
        e2, per_trial = psth(spikes, stims, before_ms=50, after_ms=100, per_trial=True)
        assert np.array_equal(e2, edges) and per_trial.shape == (30, edges.size)
        assert np.array_equal(per_trial.sum(axis=0), summed)
        ph = response_phases(edges, per_trial)
        assert [p["sign"] for p in ph] == ["+", "-", "+"], ph
        for p, (lat, dur) in zip(ph, ((4, 6), (12, 18), (35, 20))):
            assert abs(p["latency_ms"] - lat) <= 2.0 and abs(p["duration_ms"] - dur) <= 4.0, ph


def test_false_phases_stay_within_alpha_without_a_response():
    """alpha (0.05) bounds the chance of any phase in a PSTH without a response; measured on
    40 Poisson and 40 rhythmic no-response experiments of 30 trials, summed and per trial
    (before the Bonferroni split over the span's bins: 3-5 of 40)."""
    false = {"poisson": 0, "rhythm": 0, "poisson_sum": 0, "rhythm_sum": 0}
    for seed in range(40):
        for kind, (spikes, stims) in (
            ("poisson", _trials(lambda t: 30.0, seed=100 + seed, n_trials=30, before=100,
                                after=200)),
            ("rhythm", _rhythmic_trials(lambda t: 30.0, seed=200 + seed, n_trials=30)),
        ):  # fmt: skip
            after = 200 if kind == "poisson" else 100
            edges, c = psth(spikes, stims, before_ms=100, after_ms=after, per_trial=True)
            false[kind] += bool(response_phases(edges, c))
            false[kind + "_sum"] += bool(response_phases(edges, c.sum(axis=0)))
    assert max(false.values()) <= 2, false  # 5 % of 40


def test_a_partial_pause_under_a_rhythm_is_found_per_trial():
    """A synchronised 90 Hz rhythm (random phase per trial) and the rate halved for 14 ms: the
    paired per-trial test, whose null spread pools all trials' baseline windows (hundreds of
    degrees of freedom), finds the pause in every seed; the summed PSTH's spread comes from
    ~10 baseline windows, and its test missed or fragmented it in two of these four seeds
    (measured: seed 1 nothing, seed 3 "-17 (3 ms)")."""
    pause = _profile(((16, 30, 15.0),))
    for seed in range(4):
        spikes, stims = _rhythmic_trials(pause, seed=seed, n_trials=30, n_units=50)
        edges, c = psth(spikes, stims, before_ms=100, after_ms=100, per_trial=True)
        ph = response_phases(edges, c)
        assert [p["sign"] for p in ph] == ["-"], ph
        assert abs(ph[0]["latency_ms"] - 16) <= 3 and abs(ph[0]["duration_ms"] - 14) <= 4, ph


def test_per_trial_counts_need_three_trials():
    edges, c = psth([1.0, 2.0], [0.0, 100.0], before_ms=20, after_ms=20, per_trial=True)
    with pytest.raises(SpecError, match="at least 3 trials"):
        response_phases(edges, c)
    with pytest.raises(SpecError, match="n_bins"):
        response_phases(edges, np.zeros((3, 5)))
