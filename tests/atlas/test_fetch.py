"""`zentai.atlas.fetch` against a loopback HTTP server serving small fake files."""

import gzip
import hashlib
import io
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from zentai.atlas.data import FILES, DataFile, sha256
from zentai.atlas.fetch import fetch, resolve
from zentai.errors import DataError


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Server:
    """Serves ``files`` (name -> bytes) on 127.0.0.1 with optional Range support."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.honour_range = True
        self.cut_after: int | None = None  # close the body after this many bytes
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                start = 0
                if rng and server.honour_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if server.cut_after is not None:
                    payload = payload[: server.cut_after]
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 5
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


@pytest.fixture
def payloads() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    plain = rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    raw_json = b'{"msg": [' + b",".join(b'{"id": %d}' % i for i in range(2000)) + b"]}"
    member = rng.integers(0, 256, 5_000, dtype=np.uint8).tobytes()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/data/c.bin")
        info.size = len(member)
        tar.addfile(info, io.BytesIO(member))
    return {"a.bin": plain, "b.json": raw_json, "pkg-1.0.tar.gz": buf.getvalue(), "member": member}


@pytest.fixture
def table(payloads) -> dict[str, DataFile]:
    gz = io.BytesIO()
    with gzip.GzipFile("b.json", "wb", 9, gz, mtime=0) as f:
        f.write(payloads["b.json"])
    entries = (
        DataFile("a.bin", _h(payloads["a.bin"]), "https://example.org/x/a.bin", "plain", "g1"),
        DataFile(
            "b.json.gz",
            _h(gz.getvalue()),
            "https://example.org/api/b.json",
            "stored gzipped",
            "g1",
            raw_sha256=_h(payloads["b.json"]),
        ),
        DataFile(
            "c.bin",
            _h(payloads["member"]),
            "https://example.org/pkg-1.0.tar.gz",
            "in an archive",
            "g2",
            member="pkg-1.0/data/c.bin",
        ),
    )
    return {e.name: e for e in entries}


@pytest.fixture
def server(payloads):
    s = _Server({k: v for k, v in payloads.items() if k != "member"})
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    s.thread.join(timeout=5)


def test_fetch_downloads_verifies_and_leaves_no_partial_files(tmp_path, server, table, payloads):
    paths = fetch("all", tmp_path, files=table, base_url=server.url, progress=False)
    assert [p.name for p in paths] == ["a.bin", "b.json.gz", "c.bin"]
    assert (tmp_path / "a.bin").read_bytes() == payloads["a.bin"]
    assert gzip.decompress((tmp_path / "b.json.gz").read_bytes()) == payloads["b.json"]
    assert sha256(tmp_path / "b.json.gz") == table["b.json.gz"].sha256  # reproducible gzip
    assert (tmp_path / "c.bin").read_bytes() == payloads["member"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.json.gz", "c.bin"]


def test_fetch_skips_valid_files_and_force_downloads_again(tmp_path, server, table):
    fetch("g1", tmp_path, files=table, base_url=server.url, progress=False)
    assert server.paths() == ["a.bin", "b.json"]
    fetch("g1", tmp_path, files=table, base_url=server.url, progress=False)
    assert server.paths() == ["a.bin", "b.json"]  # nothing requested the second time
    fetch("a.bin", tmp_path, files=table, base_url=server.url, progress=False, force=True)
    assert server.paths() == ["a.bin", "b.json", "a.bin"]


def test_fetch_replaces_a_corrupt_copy(tmp_path, server, table, payloads):
    (tmp_path / "a.bin").write_bytes(b"not it")
    fetch("a.bin", tmp_path, files=table, base_url=server.url, progress=False)
    assert (tmp_path / "a.bin").read_bytes() == payloads["a.bin"]


def test_fetch_resumes_a_partial_download_with_range(tmp_path, server, table, payloads):
    half = len(payloads["a.bin"]) // 2
    (tmp_path / "a.bin.part").write_bytes(payloads["a.bin"][:half])
    fetch("a.bin", tmp_path, files=table, base_url=server.url, progress=False)
    assert server.requests == [("a.bin", f"bytes={half}-")]
    assert (tmp_path / "a.bin").read_bytes() == payloads["a.bin"]
    assert not (tmp_path / "a.bin.part").exists()


def test_fetch_starts_over_when_the_server_ignores_range(tmp_path, server, table, payloads):
    server.honour_range = False
    (tmp_path / "a.bin.part").write_bytes(payloads["a.bin"][:1000])
    fetch("a.bin", tmp_path, files=table, base_url=server.url, progress=False)
    assert (tmp_path / "a.bin").read_bytes() == payloads["a.bin"]


def test_interrupted_download_keeps_part_and_resumes(tmp_path, server, table, payloads):
    server.cut_after = 100_000
    with pytest.raises(DataError, match=r"'a\.bin'.*kept and resumes next time"):
        fetch("a.bin", tmp_path, files=table, base_url=server.url, progress=False)
    assert (tmp_path / "a.bin.part").stat().st_size == 100_000
    assert not (tmp_path / "a.bin").exists()
    server.cut_after = None
    fetch("a.bin", tmp_path, files=table, base_url=server.url, progress=False)
    assert server.requests[-1] == ("a.bin", "bytes=100000-")
    assert (tmp_path / "a.bin").read_bytes() == payloads["a.bin"]


def test_checksum_mismatch_names_file_and_expected_hash(tmp_path, server, table):
    bad = {"a.bin": DataFile("a.bin", "0" * 64, "https://example.org/a.bin", "wrong hash")}
    with pytest.raises(DataError, match=r"'a\.bin'.*wrong SHA-256.*expected 0{64}"):
        fetch("a.bin", tmp_path, files=bad, base_url=server.url, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing under the final name


def test_raw_checksum_mismatch_of_a_gzipped_file(tmp_path, server, table):
    entry = table["b.json.gz"]
    bad = {entry.name: DataFile(entry.name, entry.sha256, entry.url, "", raw_sha256="1" * 64)}
    with pytest.raises(DataError, match=r"wrong uncompressed SHA-256.*expected 1{64}"):
        fetch(entry.name, tmp_path, files=bad, base_url=server.url, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_url_names_url_and_zentai_data(tmp_path, table):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(DataError, match=rf"'a\.bin' from {url}/a\.bin.*ZENTAI_DATA"):
        fetch("a.bin", tmp_path, files=table, base_url=url, progress=False, timeout_s=5)


def test_http_404_is_a_data_error(tmp_path, server):
    table = {"z.bin": DataFile("z.bin", "0" * 64, "https://example.org/z.bin", "absent")}
    with pytest.raises(DataError, match=r"Could not download 'z\.bin'.*Not Found"):
        fetch("z.bin", tmp_path, files=table, base_url=server.url, progress=False)


def test_files_without_url_are_reported_after_the_others(tmp_path, server, table):
    table = dict(table)
    table["d.csv"] = DataFile("d.csv", "0" * 64, None, "derived", "g1", note="made from a.bin")
    with pytest.raises(DataError, match=r"'d\.csv': made from a\.bin.*"):
        fetch("g1", tmp_path, files=table, base_url=server.url, progress=False)
    assert (tmp_path / "a.bin").is_file()


def test_resolve_groups_files_and_unknown_names():
    assert resolve("ccf-v3") == [
        "annotation_100.nrrd",
        "structure_graph_1.json.gz",
        "structures.csv",
        "structure_tree_safe_2017.csv.gz",
    ]
    assert resolve(["annotation_25.nrrd", "ccf-v3-25um"]) == ["annotation_25.nrrd"]
    assert resolve(None) == list(FILES)
    with pytest.raises(DataError, match=r"Unknown data group or file 'ccf3'.*closest: 'ccf-v3'"):
        resolve("ccf3")


def test_fetching_the_ontology_reproduces_the_staged_gzip(tmp_path, real_data):
    # Allen's API serves plain JSON; fetch gzips it. Serve the staged file's content locally.
    raw = gzip.decompress((real_data / "structure_graph_1.json.gz").read_bytes())
    s = _Server({"1.json": raw})
    s.thread.start()
    try:
        (path,) = fetch("structure_graph_1.json.gz", tmp_path, base_url=s.url, progress=False)
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
    assert sha256(path) == FILES["structure_graph_1.json.gz"].sha256
    assert Path(path).read_bytes() == (real_data / "structure_graph_1.json.gz").read_bytes()
