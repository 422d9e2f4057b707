"""`zentai data ...` subcommands (being written for issue 3)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `data` subcommand to the `zentai` parser."""
