"""``zentai view DIR [DIR2]``: the web viewer of one result, or of two side by side."""

from __future__ import annotations

import argparse
import sys

from zentai.errors import SpecError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``view`` subcommand to the ``zentai`` parser."""
    view = subparsers.add_parser(
        "view",
        help="web viewer of one result, or two side by side (top-view activity, raster, rates, "
        "spectra, correlations)",
        description=(
            "Serve a local web page (http://127.0.0.1:PORT/) that shows a result of 'zentai run' "
            "(a folder with spikes.h5, or a result.nwb file) as a top-view activity map with "
            "play / pause / scrub, a raster, rates, power spectra and the correlation matrix of "
            "the population rates. A second folder or file is shown beside the first. Works "
            "offline; Ctrl-C stops the server."
        ),
    )
    view.add_argument("path", metavar="DIR", help="result folder, or a result .h5 / .nwb file")
    view.add_argument(
        "path2", nargs="?", metavar="DIR2", help="a second result, shown beside the first"
    )
    view.add_argument(
        "--port", type=int, default=8765, metavar="P", help="port (default 8765; 0: any free)"
    )
    view.add_argument(
        "--host", default="127.0.0.1", metavar="H", help="address to listen on (127.0.0.1)"
    )
    view.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    view.add_argument("--verbose", action="store_true", help="log every request on stderr")
    view.set_defaults(func=cmd_view)


def cmd_view(args: argparse.Namespace) -> int:
    """``zentai view``: load the results, serve until Ctrl-C."""
    from zentai.viewer.server import ViewerServer, _load_all

    if not 0 <= args.port <= 65535:
        raise SpecError(f"--port must be in 0..65535; got {args.port}.")
    datasets = _load_all([p for p in (args.path, args.path2) if p is not None])
    try:
        server = ViewerServer(datasets, args.host, args.port, verbose=args.verbose)
    except OSError as exc:
        raise SpecError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); give another "
            "--port, or --port 0 for any free one."
        ) from None
    names = " | ".join(f"{ds.name} ({ds.kind})" for ds in datasets)
    sys.stdout.write(f"zentai view: {names}\nserving at {server.url} (Ctrl-C stops)\n")
    sys.stdout.flush()
    if not args.no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.stdout.write("zentai view: stopped\n")
    finally:
        server.server_close()
    return 0
