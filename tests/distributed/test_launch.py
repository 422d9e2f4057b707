"""Issue 10: ``torchrun … -m zentai run`` and ``mpiexec -n R zentai run`` write the single
process's result; ``zentai plan`` sizes runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zentai.io.hdf5 import read_result

BIN = Path(sys.executable).parent
ARGS = [
    "run",
    "microcircuit",
    "--scale",
    "0.02",
    "--duration",
    "0.2",
    "--warmup",
    "0.05",
    "--seed",
    "3",
    "--no-progress",
]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    subprocess.run(
        [str(BIN / "zentai"), *ARGS, "--out", str(out)], check=True, env=_env(), capture_output=True
    )
    return read_result(out / "spikes.h5")


def _check(out: Path, single, ranks: int, launcher: str) -> None:
    res = read_result(out / "spikes.h5")
    assert res.n_spikes == single.n_spikes > 0
    np.testing.assert_array_equal(res.spike_neuron, single.spike_neuron)
    np.testing.assert_array_equal(res.spike_time_ms, single.spike_time_ms)
    np.testing.assert_array_equal(res.rate_counts, single.rate_counts)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ranks"] == ranks and launcher in summary["launcher"]
    assert len(summary["rank_stats"]) == ranks
    assert sorted(p.name for p in (out / "ranks").iterdir()) == [
        f"rank{r:04d}.h5" for r in range(ranks)
    ]


def test_torchrun_writes_the_single_process_result(tmp_path, single):
    cmd = [
        str(BIN / "torchrun"),
        "--nproc-per-node",
        "2",
        "-m",
        "zentai",
        *ARGS,
        "--out",
        str(tmp_path),
    ]
    p = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "2 ranks (torchrun (torch.distributed/gloo))" in p.stdout
    _check(tmp_path, single, 2, "torchrun")


@pytest.mark.skipif(shutil.which("mpiexec", path=str(BIN)) is None, reason="no mpiexec (mpich)")
def test_mpiexec_writes_the_single_process_result(tmp_path, single):
    cmd = [str(BIN / "mpiexec"), "-n", "2", str(BIN / "zentai"), *ARGS, "--out", str(tmp_path)]
    p = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "2 ranks (mpi (mpi4py))" in p.stdout
    _check(tmp_path, single, 2, "mpi")


def test_plan_command_names_the_smallest_rank_count():
    p = subprocess.run(
        [
            str(BIN / "zentai"),
            "plan",
            "whole-brain",
            "--ranks",
            "32",
            "--device",
            "cuda",
            "--device-memory",
            "80GB",
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert "67,900,000 neurons" in p.stdout
    line = next(x for x in p.stdout.splitlines() if "smallest number of ranks" in x)
    smallest = int(line.rsplit(":", 1)[1])
    assert 10 <= smallest <= 100
    bad = subprocess.run(
        [str(BIN / "zentai"), "plan", "whole-brain", "--device-memory", "lots"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "memory size must look like '80GB'" in bad.stderr and "'lots'" in bad.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mpiexec", path=str(BIN)) is None, reason="no mpiexec (mpich)")
def test_atlas_scenario_over_mpiexec_gives_the_single_process_spikes(tmp_path):
    """m1-gamma (CCF atlas, Izhikevich cortex, spatial tiles) on 2 ranks."""
    args = [
        "run",
        "m1-gamma",
        "--fraction",
        "0.01",
        "--duration",
        "0.2",
        "--warmup",
        "0.05",
        "--no-progress",
    ]
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run(
        [str(BIN / "zentai"), *args, "--out", str(one)], env=_env(), check=True, capture_output=True
    )
    p = subprocess.run(
        [str(BIN / "mpiexec"), "-n", "2", str(BIN / "zentai"), *args, "--out", str(two)],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = read_result(one / "spikes.h5"), read_result(two / "spikes.h5")
    assert a.n_spikes == b.n_spikes > 0
    np.testing.assert_array_equal(a.spike_neuron, b.spike_neuron)
    np.testing.assert_array_equal(a.spike_time_ms, b.spike_time_ms)
    summary = json.loads((two / "summary.json").read_text())
    assert summary["ranks"] == 2 and "spatial tiles" in summary["partition"]
