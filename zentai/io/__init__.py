"""Reading and writing: network specs as TOML, results as HDF5.

``zentai.io.toml`` (:func:`load_spec` / :func:`dump_spec`) and ``zentai.io.hdf5``
(:func:`write_result` / :func:`read_result`).
"""

from zentai.io import hdf5, toml
from zentai.io.hdf5 import read_result, write_result
from zentai.io.toml import dump as dump_spec
from zentai.io.toml import load as load_spec

__all__ = ["dump_spec", "hdf5", "load_spec", "read_result", "toml", "write_result"]
