"""The ``zentai`` command line (``zentai run``, ``zentai info``); see :mod:`zentai.cli.main`."""

from zentai.cli.main import main

__all__ = ["main"]
