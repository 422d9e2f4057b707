import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering in the body/cosim tests

import pytest
import torch

import zentai as zt


@pytest.fixture(autouse=True)
def _no_progress():
    with zt.set_options(progress=False):
        yield


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none available)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


# CI clones next to shared/: <clone>/../shared/data/allen
_BESIDE_CLONE = Path(__file__).resolve().parents[2] / "shared" / "data" / "allen"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The staged Allen data folder ($ZENTAI_DATA, else ../shared/data/allen); else skip."""
    env = os.environ.get("ZENTAI_DATA")
    folder = Path(env) if env else _BESIDE_CLONE
    needed = ("annotation_100.nrrd", "structure_graph_1.json.gz")
    absent = [n for n in needed if not (folder / n).is_file()]
    if absent:
        pytest.skip(
            f"needs the staged Allen data ({', '.join(absent)} not in {folder}); "
            "set ZENTAI_DATA to shared/data/allen"
        )
    return folder
