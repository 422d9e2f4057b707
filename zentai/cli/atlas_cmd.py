"""`zentai atlas ...` subcommands (being written for issue 3)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `atlas` subcommand to the `zentai` parser."""
