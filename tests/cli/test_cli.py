"""The ``zentai`` command: outputs of ``zentai run``, checkpoints, spec files, error messages."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import zentai as zt
from zentai.build import NetworkSpec, Population
from zentai.build.microcircuit import microcircuit
from zentai.celltypes import LIF
from zentai.cli.main import main
from zentai.io import hdf5
from zentai.io import toml as ztoml
from zentai.stim import DC

REPO = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = {
    "n_neurons", "n_synapses", "build_s", "sim_s", "rtf", "rates_hz", "cv_isi", "model", "scale",
    "seed", "device", "dt_ms", "duration_s", "warmup_s", "zentai_version", "torch_version",
}  # fmt: skip
MC = ["run", "microcircuit", "--scale", "0.02", "--seed", "1", "--no-progress"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def mc_run(tmp_path_factory):
    """One in-process run of the scale-0.02 microcircuit: 50 ms warm-up + 100 ms."""
    out = tmp_path_factory.mktemp("mc")
    argv = [*MC, "--warmup", "50 ms", "--duration", "0.1", "--out", str(out)]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    assert rc == 0
    return out, json.loads((out / "summary.json").read_text()), buf.getvalue()


def test_run_writes_all_outputs(mc_run):
    out, _, _ = mc_run
    assert sorted(p.name for p in out.iterdir()) == [
        "raster.png", "spec.toml", "spikes.h5", "summary.json",
    ]  # fmt: skip
    assert (out / "raster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mc_net():
    return zt.build.network(microcircuit(0.02), seed=1)


def test_summary_keys_and_bookkeeping(mc_run, mc_net):
    _, summary, _ = mc_run
    assert summary.keys() >= SUMMARY_KEYS
    spec = microcircuit(0.02)
    sizes = {p.name: p.size for p in spec.populations}
    assert summary["populations"] == sizes
    assert summary["n_neurons"] == sum(sizes.values()) == 1544  # PD 2014 Table 5 x 0.02, rounded
    assert summary["model"] == "microcircuit" and summary["scale"] == 0.02
    assert (summary["seed"], summary["device"], summary["dt_ms"]) == (1, "cpu", 0.1)
    assert (summary["duration_s"], summary["warmup_s"], summary["t_stop_ms"]) == (0.1, 0.05, 150.0)
    assert summary["zentai_version"] == zt.__version__
    assert summary["torch_version"] == torch.__version__
    assert summary["rtf"] == pytest.approx(summary["sim_s"] / 0.15, rel=1e-12)
    assert summary["build_s"] > 0 and summary["sim_s"] > 0
    # the same network as the Python API builds with the same seed
    assert summary["n_synapses"] == mc_net.n_synapses


def test_summary_rates_equal_rates_recomputed_from_spikes_h5(mc_run):
    out, summary, _ = mc_run
    with h5py.File(out / "spikes.h5", "r") as f:
        names = [s.decode() for s in f["populations/name"][()]]
        start, stop = f["populations/start"][()], f["populations/stop"][()]
        t = f["spikes/time_ms"][()]
        pop = f["spikes/population"][()]
    window = (t > 50.0) & (t <= 150.0)  # after the warm-up
    assert window.sum() > 100
    for k, name in enumerate(names):
        n_spikes = int(np.sum(window & (pop == k)))
        expected = n_spikes / (stop[k] - start[k]) / 0.1  # spikes per neuron per second
        assert summary["rates_hz"][name] == pytest.approx(expected, rel=1e-12)
    result = hdf5.read_result(out / "spikes.h5")
    for name, cv in result.cv_isi(50.0, 150.0, min_spikes=3).items():
        got = summary["cv_isi"][name]
        assert (got is None) if math.isnan(cv) else (got == pytest.approx(cv, rel=1e-12))
    # (over 100 ms few neurons fire 3 times; the DC spec-file test checks a finite CV)
    assert hdf5.read_summary(out / "spikes.h5") == summary


def test_printed_table_lists_every_population(mc_run):
    _, summary, stdout = mc_run
    assert "neurons 1,544" in stdout and "RTF" in stdout
    for name, rate in summary["rates_hz"].items():
        line = next(row for row in stdout.splitlines() if row.startswith(f"{name} "))
        assert f"{rate:.3f}" in line


def test_written_spec_rebuilds_the_same_network(mc_run, mc_net):
    out, _, _ = mc_run
    original = mc_net
    reloaded = zt.build.network(ztoml.load(out / "spec.toml"), seed=1)
    for name in ("indptr", "target", "weight", "delay_ms"):
        assert torch.equal(getattr(original, name), getattr(reloaded, name))
    assert ztoml.load_run(out / "spec.toml")["duration"] == "0.1 s"


def test_checkpoint_resume_equals_one_long_run(tmp_path, mc_run):
    full, _, _ = mc_run
    ck = tmp_path / "state.ckpt"
    base = [*MC, "--warmup", "0.05", "--checkpoint", str(ck), "--out", str(tmp_path / "a")]
    assert main([*base, "--duration", "0.04"]) == 0
    assert ck.exists()
    assert main([*base, "--duration", "0.1"]) == 0  # continues from 90 ms to 150 ms
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["resumed_from_ms"] == pytest.approx(90.0)
    resumed = hdf5.read_result(tmp_path / "a" / "spikes.h5")
    one_run = hdf5.read_result(full / "spikes.h5")
    assert resumed.n_spikes == one_run.n_spikes > 0
    np.testing.assert_array_equal(resumed.spike_neuron, one_run.spike_neuron)
    np.testing.assert_array_equal(resumed.spike_time_ms, one_run.spike_time_ms)
    np.testing.assert_array_equal(resumed.rate_counts, one_run.rate_counts)


def _dc_spec_file(path: Path) -> Path:
    # LIF (tau_m 10 ms, c_m 250 pF, 15 mV to threshold) with 500 pA: first spike at
    # t1 = -tau ln(1 - c_m dV / (tau I)) = 13.86 ms, then every t_ref + t1 = 15.86 ms
    spec = NetworkSpec(
        populations=(Population(name="E", size=3, model=LIF()),),
        stimuli=(DC(target="E", amplitude=500.0),),
        name="dc test",
    )
    ztoml.dump(spec, path, run={"duration": "317.2 ms", "warmup": "20 ms", "seed": 2})
    return path


def test_run_spec_file_uses_its_run_table(tmp_path, capsys):
    spec_file = _dc_spec_file(tmp_path / "dc.toml")
    assert main(["run", str(spec_file), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["model"] == "dc test" and summary["scale"] is None
    assert (summary["duration_s"], summary["warmup_s"], summary["seed"]) == (0.3172, 0.02, 2)
    # recorders were added, since the spec had none: 20 regular spikes in (20, 337.2] ms
    t1 = -10.0 * math.log(1.0 - 250.0 * 15.0 / (10.0 * 500.0))
    assert summary["rates_hz"]["E"] == pytest.approx(20 / 0.3172, rel=1e-9)
    assert 1000.0 / summary["rates_hz"]["E"] == pytest.approx(2.0 + t1, rel=0.01)
    assert summary["cv_isi"]["E"] < 0.01  # regular firing
    assert "dc test" in capsys.readouterr().out


def test_command_line_flags_override_the_run_table(tmp_path):
    spec_file = _dc_spec_file(tmp_path / "dc.toml")
    argv = ["run", str(spec_file), "--duration", "0.05", "--seed", "5", "--out", str(tmp_path)]
    assert main([*argv, "--no-progress"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["duration_s"], summary["seed"], summary["warmup_s"]) == (0.05, 5, 0.02)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "microcircuits"], "unknown model 'microcircuits'; closest: 'microcircuit'"),
        (["run", "microcircuit", "--duration", "-1"], "--duration must be a positive time"),
        (["run", "microcircuit", "--duration", "nan"], "--duration must be a finite time"),
        (["run", "microcircuit", "--duration", "inf"], "--duration must be a finite time"),
        (["run", "microcircuit", "--duration", "2 mV"], "--duration must be a time"),
        (["run", "microcircuit", "--warmup", "-0.5"], "--warmup must be a time >= 0"),
        (["run", "microcircuit", "--scale", "1.5"], "--scale must be in (0, 1]; got 1.5"),
        (["run", "microcircuit", "--scale", "0"], "--scale must be in (0, 1]; got 0.0"),
        (["run", "microcircuit", "--k-scale", "-1"], "--k-scale must be in (0, 1]"),
        (["run", "microcircuit", "--device", "tpu"], "device must be 'cpu', 'cuda' or 'cuda:N'"),
        (["run", "microcircuit", "--dt", "0"], "--dt must be a positive time"),
        (["run", "microcircuit", "--duration", "0.00005"], "must be multiples of dt = 0.1 ms"),
        (["run", "microcircuit", "--background", "noise"], "invalid choice: 'noise'"),
        (["run", "missing.toml"], "spec file 'missing.toml' does not exist"),
        (["run", "microcircuit", "--seed", "-2"], "--seed must be an integer >= 0"),
        (["run", "microcircuit", "--threads", "0"], "--threads must be an integer >= 1"),
        (["run", "microcircuit", "--backend", "gpu"], "invalid choice: 'gpu'"),
    ],
)
def test_bad_values_give_one_line_and_exit_code_2(tmp_path, capsys, argv, message):
    rc = main([*argv, "--out", str(tmp_path / "never")])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("zentai")
    assert not (tmp_path / "never").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_is_a_device_error(tmp_path, capsys):
    assert main([*MC, "--device", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "device='cuda' requested, but no CUDA device is available" in err
    assert "Use device='cpu'" in err


def test_model_flags_are_refused_for_spec_files(tmp_path, capsys):
    spec_file = _dc_spec_file(tmp_path / "dc.toml")
    assert main(["run", str(spec_file), "--scale", "0.1", "--out", str(tmp_path)]) == 2
    assert "--scale applies to built-in models" in capsys.readouterr().err


def test_bad_spec_file_names_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[populations]]\nname = "E"\nsize = 2\nmodel = { kind = "LIF", tau = 5 }\n')
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "unknown key 'tau'; closest: 'tau_m'" in err


def test_checkpoint_with_other_settings_is_refused(tmp_path, capsys):
    spec_file = _dc_spec_file(tmp_path / "dc.toml")
    ck = str(tmp_path / "ck")
    base = ["run", str(spec_file), "--checkpoint", ck, "--no-progress", "--out", str(tmp_path)]
    assert main(base) == 0
    assert main([*base, "--dtype", "float64", "--duration", "1"]) == 2
    assert "was written with dtype='float32'" in capsys.readouterr().err
    assert main([*base, "--duration", "0.1"]) == 2
    assert "beyond warm-up + duration" in capsys.readouterr().err


def test_info_lists_versions_and_devices(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"zentai  {zt.__version__}" in out
    assert torch.__version__ in out
    assert "cpu" in out and "cuda" in out


def test_help_shows_usage(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: zentai run")
    assert "--checkpoint" in out and "--warmup" in out


def test_python_dash_m_zentai(tmp_path):
    spec_file = _dc_spec_file(tmp_path / "dc.toml")
    ok = subprocess.run(
        [sys.executable, "-m", "zentai", "run", str(spec_file), "--out", str(tmp_path / "o"),
         "--no-progress", "--duration", "0.1"],
        capture_output=True, text=True, env=_env(), timeout=120, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["rates_hz"]["E"] == pytest.approx(6 / 0.1)  # spikes at 13.9 + k 15.9 ms
    bad = subprocess.run(
        [sys.executable, "-m", "zentai", "run", "microcircuits", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, env=_env(), timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr == (
        "zentai run: error: unknown model 'microcircuits'; closest: 'microcircuit'. Give a "
        "built-in model (microcircuit) or the path of a TOML spec file.\n"
    )
    assert "Traceback" not in bad.stdout + bad.stderr


def test_backend_and_threads_flags_give_the_same_spikes(tmp_path, mc_run):
    # the tensor reference path and the compiled loop on two threads write the same spikes
    # as the default run
    _, summary, _ = mc_run
    assert summary["backend"] == "compiled"
    ref_out, fast_out = tmp_path / "torch", tmp_path / "two"
    tail = ["--warmup", "50 ms", "--duration", "0.1"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*MC, *tail, "--backend", "torch", "--out", str(ref_out)]) == 0
        assert main([*MC, *tail, "--threads", "2", "--out", str(fast_out)]) == 0
    ref = json.loads((ref_out / "summary.json").read_text())
    two = json.loads((fast_out / "summary.json").read_text())
    assert ref["backend"] == "torch" and two["threads"] == 2
    a = hdf5.read_result(ref_out / "spikes.h5")
    b = hdf5.read_result(fast_out / "spikes.h5")
    assert a.spike_neuron.size > 0
    assert np.array_equal(a.spike_neuron, b.spike_neuron)
    assert np.array_equal(a.spike_time_ms, b.spike_time_ms)


def test_run_nwb_writes_a_valid_file_with_the_run_spikes(tmp_path):
    from pynwb import validate

    from zentai.io import read_nwb_spikes, read_result

    spec_file = _dc_spec_file(tmp_path / "dc.toml")
    out = tmp_path / "o"
    assert main(["run", str(spec_file), "--out", str(out), "--no-progress", "--nwb"]) == 0
    assert validate(path=str(out / "result.nwb")) == []
    units = read_nwb_spikes(out / "result.nwb")
    res = read_result(out / "spikes.h5")
    assert sum(v.size for v in units.values()) == res.spike_neuron.size > 0
