"""Data assimilation: ensembles of brains and ensemble Kalman filters (issue 6).

* :mod:`~zentai.assimilate.observe` — observation operators (window rate, calcium ΔF/F, BOLD);
* :mod:`~zentai.assimilate.filters` — EnKF, ETKF, the Digital Twin Brain blend, inflation,
  bounded (logit) parameters, the exact Kalman update;
* :mod:`~zentai.assimilate.twin` — twin experiments (``zentai assimilate CONFIG --out DIR``).
"""

from zentai.assimilate import filters, observe
from zentai.assimilate.filters import Bounded, dtb, enkf, etkf, inflate, kalman
from zentai.assimilate.observe import (
    BalloonWindkessel,
    Calcium,
    grouped_rates,
    population_rates,
    window_rate,
)
from zentai.assimilate.twin import CONFIGS, Parameter, TwinConfig, load_config, run_twin

__all__ = [
    "CONFIGS",
    "BalloonWindkessel",
    "Bounded",
    "Calcium",
    "Parameter",
    "TwinConfig",
    "dtb",
    "enkf",
    "etkf",
    "filters",
    "grouped_rates",
    "inflate",
    "kalman",
    "load_config",
    "observe",
    "population_rates",
    "run_twin",
    "window_rate",
]
