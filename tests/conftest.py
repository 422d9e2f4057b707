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
