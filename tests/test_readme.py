"""The README's Python example runs as written (it is what new users copy first)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    rates = namespace["result"].rates_hz(t_start=200.0)
    # both populations are active and in a physiological range (not silent, not saturated)
    assert 1.0 < rates["E"] < 100.0
    assert 1.0 < rates["I"] < 300.0
    assert (tmp_path / "state.pt").exists()
