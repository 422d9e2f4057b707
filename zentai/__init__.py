"""zentai (全体): data-driven whole-mouse-brain spiking simulation on PyTorch."""

from zentai import (
    analysis,
    atlas,
    build,
    celltypes,
    connectome,
    errors,
    io,
    record,
    rng,
    sim,
    stim,
    units,
)
from zentai.options import set_options

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "analysis",
    "atlas",
    "build",
    "celltypes",
    "connectome",
    "errors",
    "io",
    "record",
    "rng",
    "set_options",
    "sim",
    "stim",
    "units",
]
