"""``zentai data fetch|list|verify``: download, list and check the atlas data files."""

from __future__ import annotations

import argparse
import sys

from zentai.errors import DataError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` subcommand to the ``zentai`` parser."""
    from zentai.atlas.data import GROUPS

    data = subparsers.add_parser(
        "data",
        help="download, list and verify the atlas data files",
        description=(
            "Data files are looked up in $ZENTAI_DATA, then the user cache. "
            f"Groups: {', '.join(GROUPS)}."
        ),
    )
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    fetch = sub.add_parser(
        "fetch",
        help="download data files into the cache (or --dest) and check their SHA-256",
        description="Download groups or files (default: all), resuming partial downloads.",
    )
    fetch.add_argument(
        "names", nargs="*", metavar="GROUP|FILE", help=f"{', '.join(GROUPS)}, a file or 'all'"
    )
    fetch.add_argument("--dest", metavar="DIR", help="folder to write into (default: the cache)")
    fetch.add_argument("--force", action="store_true", help="download even if a valid copy exists")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(func=cmd_fetch)

    listing = sub.add_parser("list", help="each data file: present or not, where, verified")
    listing.add_argument("--no-verify", action="store_true", help="do not compute checksums")
    listing.set_defaults(func=cmd_list)

    verify = sub.add_parser("verify", help="check the SHA-256 of every present data file")
    verify.set_defaults(func=cmd_verify)


def cmd_fetch(args: argparse.Namespace) -> int:
    """``zentai data fetch``."""
    from zentai.atlas.fetch import fetch

    paths = fetch(args.names or None, args.dest, progress=not args.no_progress, force=args.force)
    for p in paths:
        sys.stdout.write(f"ok  {p}\n")
    return 0


def _rows(check: bool) -> list[tuple[str, str, str, str]]:
    from zentai.atlas.data import FILES, is_valid, locate

    rows = []
    for name, entry in FILES.items():
        path = locate(name)
        if path is None:
            rows.append((name, entry.group, "missing", "-"))
            continue
        state = ("ok" if is_valid(path, entry) else "BAD") if check else "not checked"
        rows.append((name, entry.group, str(path), state))
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    """``zentai data list``."""
    from zentai.atlas.data import data_dir

    rows = _rows(check=not args.no_verify)
    w = max(len(r[0]) for r in rows)
    g = max(len(r[1]) for r in rows)
    out = sys.stdout
    out.write("searched: " + ", ".join(str(d) for d in data_dir()) + "\n")
    out.write(f"{'file':<{w}}  {'group':<{g}}  {'sha256':<11}  where\n")
    for name, group, where, state in rows:
        out.write(f"{name:<{w}}  {group:<{g}}  {state:<11}  {where}\n")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """``zentai data verify``: exit 2 with the bad files named when any checksum is wrong."""
    from zentai.atlas.data import FILES

    rows = [r for r in _rows(check=True) if r[2] != "missing"]
    if not rows:
        raise DataError(
            "No data files found (looked in $ZENTAI_DATA and the cache); run `zentai data fetch`."
        )
    bad = []
    for name, _group, where, state in rows:
        sys.stdout.write(f"{state:<3}  {where}\n")
        if state == "BAD":
            bad.append(f"{where} (expected SHA-256 {FILES[name].sha256})")
    missing = len(FILES) - len(rows)
    sys.stdout.write(f"{len(rows) - len(bad)} verified, {len(bad)} bad, {missing} missing\n")
    if bad:
        raise DataError(
            f"{len(bad)} data file(s) are corrupt or the wrong file: {'; '.join(bad)}. Delete "
            "them and run `zentai data fetch`."
        )
    return 0
