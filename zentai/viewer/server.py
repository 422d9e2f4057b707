"""The web viewer's server: standard-library HTTP, static assets and JSON endpoints.

``zentai view DIR [DIR2]`` (:mod:`zentai.cli.view_cmd`) starts it; tests start it with
:func:`start` on port 0 in a thread. Every number is computed here
(:mod:`zentai.viewer.data`); the page (``static/``: plain JavaScript drawing on canvases, no
external libraries) only draws. Endpoints (``<i>`` = 0 or 1, the dataset's position)::

    GET /                               the page
    GET /static/<file>                  app.js, style.css
    GET /api/datasets                   overview of each dataset (names, sizes, populations)
    GET /api/<i>/rates?group=G&bin_ms=B binned rates per group, mean rates in the window
    GET /api/<i>/raster?max_points=N    spike times and rows (thinned by neurons to N)
    GET /api/<i>/spectra?group=G        Welch PSD per group
    GET /api/<i>/correlation?group=G&bin_ms=B
    GET /api/<i>/map?bin_ms=B           top-view activity frames

``G`` is ``population`` (default), ``region``, ``layer`` or ``cell_class``. Bad requests get
status 400 or 404 and ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zentai.errors import SpecError, ZentaiError
from zentai.viewer.data import MAX_RASTER_POINTS, Dataset, load_dataset

__all__ = ["ViewerServer", "start"]

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def _static(name: str) -> bytes | None:
    """The bytes of a bundled asset, or None if there is no such file."""
    if "/" in name or "\\" in name or name.startswith(".") or not name:
        return None
    ref = resources.files("zentai.viewer").joinpath("static", name)
    try:
        return ref.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _clean(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats -> None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


class _Handler(BaseHTTPRequestHandler):
    server: ViewerServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(_clean(obj), allow_nan=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if not parts or parts == ["index.html"]:
                self._asset("index.html")
            elif parts[0] == "static" and len(parts) == 2:
                self._asset(parts[1])
            elif parts == ["favicon.ico"]:
                self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
            elif parts[0] == "api":
                self._json(HTTPStatus.OK, self.server.api(parts[1:], query))
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no page {url.path!r}")
        except LookupError as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc.args[0] if exc.args else exc))
        except ZentaiError as exc:
            self._error(HTTPStatus.BAD_REQUEST, " ".join(str(exc).split()))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _asset(self, name: str) -> None:
        body = _static(name)
        if body is None:
            self._error(HTTPStatus.NOT_FOUND, f"no asset {name!r}")
            return
        suffix = name[name.rfind(".") :]
        self._send(HTTPStatus.OK, body, _TYPES.get(suffix, "application/octet-stream"))


def _int(query: dict[str, str], key: str, default: int) -> int:
    text = query.get(key)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise SpecError(f"{key} must be an integer; got {text!r}.") from None


def _float(query: dict[str, str], key: str, default: float) -> float:
    text = query.get(key)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise SpecError(f"{key} must be a number; got {text!r}.") from None


class ViewerServer(ThreadingHTTPServer):
    """HTTP server of the viewer for one or two :class:`~zentai.viewer.data.Dataset`."""

    daemon_threads = True

    def __init__(
        self,
        datasets: Sequence[Dataset],
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        if not 1 <= len(datasets) <= 2:
            raise SpecError(f"the viewer shows one or two result sets; got {len(datasets)}.")
        self.datasets = list(datasets)
        self.verbose = verbose
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def api(self, parts: list[str], query: dict[str, str]) -> Any:
        """The JSON answer to ``/api/<parts>?<query>``."""
        if parts == ["datasets"]:
            return [dict(ds.overview(), id=i) for i, ds in enumerate(self.datasets)]
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) >= len(self.datasets):
            raise LookupError(
                f"no endpoint /api/{'/'.join(parts)}; try /api/datasets or /api/<i>/<what> with "
                f"i < {len(self.datasets)} and what in rates, raster, spectra, correlation, map"
            )
        ds = self.datasets[int(parts[0])]
        what = parts[1]
        group = query.get("group", "population")
        if what == "rates":
            return ds.rates(group, _float(query, "bin_ms", 5.0))
        if what == "raster":
            return ds.raster(_int(query, "max_points", MAX_RASTER_POINTS))
        if what == "spectra":
            return ds.spectra(group)
        if what == "correlation":
            return ds.correlation(group, _float(query, "bin_ms", 5.0))
        if what == "map":
            return ds.activity_map(_float(query, "bin_ms", 10.0))
        raise LookupError(
            f"no endpoint /api/{parts[0]}/{what}; what is one of rates, raster, spectra, "
            "correlation, map"
        )


def start(
    paths: Sequence[Any], host: str = "127.0.0.1", port: int = 0
) -> tuple[ViewerServer, threading.Thread]:
    """Load ``paths`` and serve them from a daemon thread; returns (server, thread).

    Stop with ``server.shutdown(); server.server_close()``.
    """
    datasets = _load_all(paths)
    server = ViewerServer(datasets, host, port)
    thread = threading.Thread(target=server.serve_forever, name="zentai-viewer", daemon=True)
    thread.start()
    return server, thread


def _load_all(paths: Sequence[Any]) -> list[Dataset]:
    if not 1 <= len(paths) <= 2:
        raise SpecError(f"give one or two result folders or files; got {len(paths)}.")
    datasets = [load_dataset(p) for p in paths]
    if len(datasets) == 2 and datasets[0].name == datasets[1].name:
        for ds in datasets:
            ds.name = ds.path
    return datasets
