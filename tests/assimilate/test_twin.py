"""Twin experiments: outputs, reproducibility, resuming, bad configs, and (slow) the built-in
twin-microcircuit recovering its hidden parameters."""

import json

import numpy as np
import pytest

from zentai.assimilate import load_config, run_twin
from zentai.cli.main import main
from zentai.errors import SpecError

SMALL = """
[assimilate]
name = "small"
[model]
kind = "microcircuit"
scale = 0.02
seed = 3
[ensemble]
members = 6
seed = 11
[cycles]
count = 3
warmup_ms = 50.0
settle_ms = 20.0
window_ms = 60.0
[observation]
populations = ["L2/3E", "L4E", "L4I", "L5E"]
[filter]
method = "{method}"
[[parameter]]
name = "bg_rate"
kind = "poisson_rate"
truth = 9.0
low = 5.0
high = 12.0
[[parameter]]
name = "gain_EI"
kind = "input_gain"
populations = ["L4I", "L5I"]
receptor = "ex"
truth = 1.2
low = 0.6
high = 1.6
"""


def _config(tmp_path, method="enkf", text=SMALL):
    path = tmp_path / f"{method}.toml"
    path.write_text(text.replace("{method}", method))
    return path


def test_twin_writes_its_outputs_and_resumes_to_the_same_result(tmp_path):
    cfg = load_config(_config(tmp_path))
    whole = run_twin(cfg, tmp_path / "whole", progress=False)
    assert set(whole["rel_error"]) == {"bg_rate", "gain_EI"}
    assert len(whole["rmse_per_cycle"]) == 3 and whole["members"] == 6
    for f in ("summary.json", "trajectories.npz", "assimilation.png", "checkpoint/filter.pt"):
        assert (tmp_path / "whole" / f).exists()
    tr = np.load(tmp_path / "whole" / "trajectories.npz")
    assert tr["prior"].shape == (3, 2, 6) and tr["prediction"].shape == (3, 4, 6)
    # every value inside the parameter bounds; the analysis moved the members
    assert np.all((tr["posterior"][:, 0] > 5) & (tr["posterior"][:, 0] < 12))
    assert not np.allclose(tr["prior"][0], tr["posterior"][0])

    # interrupted after one cycle, then resumed by a second call: the same numbers
    part = run_twin(cfg, tmp_path / "part", progress=False, stop_after=1)
    assert part == {"cycles_done": 1, "cycles": 3}
    assert not (tmp_path / "part" / "summary.json").exists()
    resumed = run_twin(cfg, tmp_path / "part", progress=False)
    for key in ("estimate", "spread", "rmse_per_cycle", "observation_last", "prediction_last"):
        assert resumed[key] == whole[key], key
    # same seed, same result; another seed, another ensemble
    again = run_twin(cfg, tmp_path / "again", progress=False)
    assert again["estimate"] == whole["estimate"]


def test_resume_refuses_a_changed_config(tmp_path):
    cfg = load_config(_config(tmp_path))
    run_twin(cfg, tmp_path / "o", progress=False, stop_after=1)
    other = load_config(_config(tmp_path), seed=12)
    with pytest.raises(SpecError, match="checkpoint of another configuration"):
        run_twin(other, tmp_path / "o", progress=False)


@pytest.mark.parametrize("method", ["etkf", "dtb"])
def test_other_filters_run_through_the_cli(tmp_path, method, capsys):
    cfg = _config(tmp_path, method)
    assert main(["assimilate", str(cfg), "--out", str(tmp_path / method), "--no-progress",
                 "--cycles", "2"]) == 0  # fmt: skip
    s = json.loads((tmp_path / method / "summary.json").read_text())
    assert s["method"] == method and s["cycles"] == 2
    assert "gain_EI: truth 1.2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("members = 6", "members = 1"), "members must be an integer >= 2"),
        (("low = 5.0\nhigh = 12.0", "low = 12.0\nhigh = 5.0"), "low < high; got low = 12.0"),
        (("truth = 9.0", "truth = 20.0"), r"truth must lie inside \(low, high\)"),
        (('"L5E"]', '"L9E"]'), r"observation.populations \['L9E'\] are not in the model"),
        (("window_ms = 60.0", "window_ms = 60.0\nwindow = 3"), "unknown key 'window'"),
        (('method = "{method}"', 'method = "ukf"'), "filter.method must be one of"),
    ],
)
def test_bad_configs_are_refused_before_anything_is_written(tmp_path, capsys, edit, message):
    path = _config(tmp_path, text=SMALL.replace(*edit))
    out = tmp_path / "out"
    assert main(["assimilate", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "zentai assimilate: error:" in err
    assert __import__("re").search(message, err), err
    assert not (out / "summary.json").exists() and not (out / "checkpoint").exists()


@pytest.mark.slow
def test_twin_microcircuit_recovers_both_hidden_parameters(tmp_path):
    """Issue 6 acceptance: B = 100, <= 20 cycles, both parameters within 10 % of truth, the
    spread shrinks and the observation RMSE falls (built-in config, scale 0.1)."""
    s = run_twin(load_config("twin-microcircuit"), tmp_path, progress=False)
    assert s["members"] == 100 and s["cycles"] <= 20
    for name, err in s["rel_error"].items():
        assert err < 0.10, (name, s["estimate"][name], s["truth"][name])
        assert s["spread"][name] < 0.5 * s["prior_spread"][name]
    r = s["rmse_per_cycle"]
    assert np.mean(r[-5:]) < 0.5 * r[0]


def test_a_spec_file_can_be_the_model(tmp_path):
    """model.kind = "spec": any network written as TOML is assimilated the same way."""
    import zentai as zt

    path = tmp_path / "net.toml"
    zt.io.toml.dump(zt.build.microcircuit(0.03, record=False), path)
    text = SMALL.replace('kind = "microcircuit"\nscale = 0.02', f'kind = "spec"\nspec = "{path}"')
    cfg = load_config(_config(tmp_path, text=text), cycles=2)
    s = run_twin(cfg, tmp_path / "out", progress=False)
    assert s["n_neurons"] == sum(p.size for p in zt.build.microcircuit(0.03).populations)
    assert len(s["rmse_per_cycle"]) == 2
