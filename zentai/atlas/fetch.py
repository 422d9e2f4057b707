"""Download the data files of :data:`zentai.atlas.data.FILES` into the cache (or a folder).

Downloads stream into ``<name>.part`` and resume from it (HTTP Range) after an interruption.
Each file is checked against its SHA-256 before it is moved, atomically, under its final name;
a file that fails the check is deleted, never left under that name. Files that arrive
uncompressed but are stored gzipped (the Allen ontology, the Knox 2019 CSV) are checked on
their uncompressed SHA-256 and gzipped reproducibly (level 9, mtime 0), which gives back the
staged bytes. Files inside an archive (the Kim 2017 tables in the atlas-densities sdist) are
extracted from it.

Examples
--------
>>> from zentai.atlas.fetch import fetch
>>> paths = fetch("ccf-v3")  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from zentai.atlas.data import FILES, DataFile, cache_dir, data_dir, is_valid, sha256
from zentai.errors import DataError, closest

__all__ = ["fetch", "resolve"]

log = logging.getLogger(__name__)
_CHUNK = 1 << 16
_USER_AGENT = "zentai-data-fetch (+https://pypi.org/project/zentai)"


def resolve(
    names: str | Iterable[str] | None, files: Mapping[str, DataFile] | None = None
) -> list[str]:
    """File names for group names, file names or ``"all"`` (None means all), in table order.

    Raises
    ------
    DataError
        For a name that is neither a group nor a file, with the closest matches.
    """
    files = FILES if files is None else files
    if names is None:
        names = ["all"]
    elif isinstance(names, str):
        names = [names]
    groups: dict[str, list[str]] = {}
    for f in files.values():
        groups.setdefault(f.group, []).append(f.name)
    out: list[str] = []
    for n in names:
        if n == "all":
            picked = list(files)
        elif n in groups:
            picked = groups[n]
        elif n in files:
            picked = [n]
        else:
            choices = ["all", *groups, *files]
            raise DataError(
                f"Unknown data group or file {n!r}; groups are {', '.join(groups)} (or 'all'); "
                f"{closest(n, choices)}."
            )
        out.extend(p for p in picked if p not in out)
    return out


def fetch(
    group_or_name: str | Iterable[str] | None = None,
    dest: str | os.PathLike | None = None,
    *,
    progress: bool = True,
    force: bool = False,
    files: Mapping[str, DataFile] | None = None,
    base_url: str | None = None,
    timeout_s: float = 60.0,
) -> list[Path]:
    """Download data files (a group such as ``"ccf-v3"``, file names, or all) and verify them.

    Parameters
    ----------
    group_or_name : str or iterable of str or None
        Group names (``ccf-v3``, ``ccf-v3-25um``, ``connectome``, ``densities``), file names,
        or ``"all"``; None means all.
    dest : path, optional
        Folder to write into (created if missing). Default: the user cache
        (:func:`zentai.atlas.data.cache_dir`). Without ``dest``, files already valid in any
        searched data folder (``$ZENTAI_DATA``, the cache) are not downloaded again.
    progress : bool
        Show a tqdm bar per download (also off with ``zt.set_options(progress=False)``).
    force : bool
        Download again even when a valid copy exists.
    files : mapping of name to DataFile, optional
        The file table (default :data:`zentai.atlas.data.FILES`).
    base_url : str, optional
        Fetch every file from ``base_url/<last part of its url>`` instead (mirrors, tests).
    timeout_s : float
        Socket timeout of each request (s).

    Returns
    -------
    list of Path
        Where each requested file now is.

    Raises
    ------
    DataError
        Unknown names; a download that fails (with the URL and how to place the file by hand);
        a wrong SHA-256 (with the expected hash; the bad file is deleted); files that have no
        download URL (after the others were fetched).
    """
    from zentai.options import get_option

    table = FILES if files is None else files
    names = resolve(group_or_name, table)
    folder = Path(dest) if dest is not None else cache_dir()
    progress = progress and bool(get_option("progress"))
    out: list[Path] = []
    missing: list[str] = []
    archives: dict[str, Path] = {}
    try:
        for name in names:
            entry = table[name]
            existing = _existing(entry, folder, searched=dest is None)
            if existing is not None and not force:
                log.info("%s is present and valid at %s", name, existing)
                out.append(existing)
                continue
            if entry.url is None:
                missing.append(f"{name!r}: {entry.note}")
                continue
            folder.mkdir(parents=True, exist_ok=True)
            url = _url(entry.url, base_url)
            out.append(_get(entry, url, folder, progress, timeout_s, archives))
    finally:
        for archive in archives.values():
            archive.unlink(missing_ok=True)
    if missing:
        raise DataError(
            f"{len(missing)} file(s) have no download URL and are not in the data folder; "
            f"place them in ZENTAI_DATA ({os.environ.get('ZENTAI_DATA') or 'not set'}) or "
            f"{folder}. " + "; ".join(missing) + "."
        )
    return out


# ============================================================================ helpers
def _existing(entry: DataFile, folder: Path, *, searched: bool) -> Path | None:
    """A valid copy of ``entry``: in ``folder``, or (``searched``) in any data folder."""
    candidates = [folder / entry.name]
    if searched:
        candidates += [d / entry.name for d in data_dir()]
    for p in candidates:
        if p.is_file() and is_valid(p, entry):
            return p
    return None


def _url(url: str, base_url: str | None) -> str:
    if base_url is None:
        return url
    return base_url.rstrip("/") + "/" + url.rstrip("/").rsplit("/", 1)[-1]


def _get(
    entry: DataFile,
    url: str,
    folder: Path,
    progress: bool,
    timeout_s: float,
    archives: dict[str, Path],
) -> Path:
    """Download (or extract) one file, verify it and move it under its final name."""
    final = folder / entry.name
    if entry.member is not None:
        archive = archives.get(url)
        if archive is None:
            name = url.rstrip("/").rsplit("/", 1)[-1]
            archive = _download(url, folder / f"{name}.part", entry.name, progress, timeout_s)
            archives[url] = archive
        tmp = folder / f"{entry.name}.tmp"
        _extract(archive, entry.member, tmp, entry.name, url)
        _check(tmp, entry.sha256, entry.name, url)
        os.replace(tmp, final)
        return final
    raw_name = entry.name[: -len(".gz")] if entry.raw_sha256 is not None else entry.name
    part = _download(url, folder / f"{raw_name}.part", entry.name, progress, timeout_s)
    if entry.raw_sha256 is None:
        _check(part, entry.sha256, entry.name, url)
        os.replace(part, final)
        return final
    _check(part, entry.raw_sha256, entry.name, url, what="uncompressed SHA-256")
    tmp = folder / f"{entry.name}.tmp"
    try:
        # level 9, mtime 0 and the inner file name reproduce the staged .gz byte for byte
        with (
            open(part, "rb") as src,
            open(tmp, "wb") as raw_out,
            gzip.GzipFile(raw_name, "wb", 9, raw_out, mtime=0) as gz,
        ):
            shutil.copyfileobj(src, gz, _CHUNK)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    part.unlink()
    if sha256(final) != entry.sha256:  # another zlib may compress differently; still valid
        log.info("%s: gzip bytes differ from the staged file; content hash verified", final)
    return final


def _download(url: str, part: Path, name: str, progress: bool, timeout_s: float) -> Path:
    """Stream ``url`` into ``part``, resuming from its current size; return ``part`` when complete.

    The caller verifies it and moves it under its final name.
    """
    from tqdm.auto import tqdm

    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        try:
            response = urllib.request.urlopen(request, timeout=timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # nothing left to fetch: the .part is complete
                return part
            raise
        with response:
            if offset and response.status != 206:  # server ignored Range: start over
                offset = 0
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            mode = "ab" if offset else "wb"
            with (
                open(part, mode) as f,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=name,
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    f.write(chunk)
                    bar.update(len(chunk))
            if total is not None and part.stat().st_size < total:
                raise ConnectionError(
                    f"connection closed after {part.stat().st_size} of {total} bytes"
                )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        kept = (
            f" The partial download {str(part)!r} is kept and resumes next time."
            if (part.is_file() and part.stat().st_size)
            else ""
        )
        raise DataError(
            f"Could not download {name!r} from {url}: {reason}.{kept} Check the connection and "
            f"try again, or download it by hand and place it in ZENTAI_DATA under the name "
            f"{name!r}."
        ) from exc
    return part


def _extract(archive: Path, member: str, tmp: Path, name: str, url: str) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            src = tar.extractfile(member)
            if src is None:
                raise KeyError(member)
            with src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
    except (KeyError, tarfile.TarError, OSError, EOFError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"Could not extract {member!r} (for {name!r}) from the archive downloaded from "
            f"{url}: {exc}. Place {name!r} in ZENTAI_DATA by hand."
        ) from exc


def _check(path: Path, expected: str, name: str, url: str, what: str = "SHA-256") -> None:
    """Delete ``path`` and raise :class:`DataError` unless it has SHA-256 ``expected``."""
    got = sha256(path)
    if got != expected:
        path.unlink()
        raise DataError(
            f"The download of {name!r} from {url} has the wrong {what}: got {got}, expected "
            f"{expected}. The file was deleted; the source may have changed. Place a verified "
            f"copy in ZENTAI_DATA."
        )
