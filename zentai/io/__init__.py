"""Reading and writing: network specs as TOML, built networks as SONATA, results as HDF5 or
NWB.

``zentai.io.toml`` (:func:`load_spec` / :func:`dump_spec`), ``zentai.io.sonata``
(:func:`write_sonata` / :func:`read_sonata`), ``zentai.io.hdf5`` (:func:`write_result` /
:func:`read_result`) and ``zentai.io.nwb`` (:func:`write_nwb` / :func:`read_nwb_spikes`).
"""

from zentai.io import hdf5, toml
from zentai.io.hdf5 import read_result, write_result
from zentai.io.nwb import read_nwb_spikes, write_nwb
from zentai.io.sonata import read_sonata, write_sonata
from zentai.io.toml import dump as dump_spec
from zentai.io.toml import load as load_spec

__all__ = [
    "dump_spec",
    "hdf5",
    "load_spec",
    "read_nwb_spikes",
    "read_result",
    "read_sonata",
    "toml",
    "write_nwb",
    "write_result",
    "write_sonata",
]
