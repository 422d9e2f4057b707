"""Where atlas data files live: ``data_dir=`` argument, then ``$ZENTAI_DATA``, then the cache.

Every file zentai reads is listed in :data:`FILES` with its SHA-256 (Allen's published files
where a published hash exists; see ``shared/data/allen/PROVENANCE.md`` of the project).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from zentai.errors import DataError

__all__ = [
    "FILES",
    "GROUPS",
    "DataFile",
    "cache_dir",
    "data_dir",
    "find_file",
    "is_valid",
    "locate",
    "sha256",
    "verify",
]


@dataclass(frozen=True)
class DataFile:
    """A data file zentai can use: its name, checksum, source and what it is.

    Attributes
    ----------
    name : str
        File name in the data folder.
    sha256 : str
        SHA-256 of the file as stored (for ``.gz`` files: of the gzipped bytes).
    url : str or None
        Public source. None when there is no public direct URL (see ``note``).
    description : str
        What the file is, with its citation.
    group : str
        Group name for ``zentai data fetch GROUP``.
    member : str or None
        When ``url`` is a ``.tar.gz`` archive: the path of the file inside it.
    raw_sha256 : str or None
        For files that arrive uncompressed and are stored gzipped under ``name``: SHA-256 of
        the uncompressed content (checked on download, and accepted by :func:`verify`).
    note : str
        How to get the file when ``url`` is None (derived tables, files without a public URL).
    """

    name: str
    sha256: str
    url: str | None
    description: str
    group: str = "ccf-v3"
    member: str | None = None
    raw_sha256: str | None = None
    note: str = ""


_ALLEN = "https://download.alleninstitute.org/informatics-archive/current-release/mouse_ccf"
_ALLEN_API = "http://api.brain-map.org/api/v2/structure_graph_download/1.json"
_GH = "https://raw.githubusercontent.com"
# Knox et al. 2019 code and outputs, snapshot HEAD 2022-08-29 (PROVENANCE.md)
_KNOX = f"{_GH}/AllenInstitute/mouse_connectivity_models/7637e405d7d97bea4b82758c18e825651f4a7815"
# Oh et al. 2014 supplementary tables as committed in benfulcher/mouseStructuralConnectivity
_FULCHER = f"{_GH}/benfulcher/mouseStructuralConnectivity/a2429d1082a81fbdcbea2261fb03e6ac8fc20048"
_ALLENCCF = f"{_GH}/cortex-lab/allenCCF/0b4a1c8cdaa1ac65416b02f2091dde6c5cc3171f"
# atlas-densities 0.2.6 sdist on PyPI (Blue Brain Project, Apache-2.0); sdist SHA-256
# 309eee339594d213aa9af75c4fbff390d68bb2a9b9b0082f3901a5708d026aac
_ATLAS_DENSITIES = (
    "https://files.pythonhosted.org/packages/source/a/atlas-densities/atlas-densities-0.2.6.tar.gz"
)
_AD_DATA = "atlas-densities-0.2.6/atlas_densities/app/data"
_DERIVED = (
    "it is a table the zentai project derives from {src}; there is no public download. Copy it "
    "from the project's staged data folder (shared/data/allen) into ZENTAI_DATA"
)

FILES: dict[str, DataFile] = {
    f.name: f
    for f in (
        # ---------------------------------------------------------------- ccf-v3
        DataFile(
            "annotation_100.nrrd",
            "451e6a82f531d3db4b58056d024d3e2311703c2adc15cefa75e0268e7f0e69a4",
            f"{_ALLEN}/annotation/ccf_2017/annotation_100.nrrd",
            "Allen CCFv3 2017 annotation, 100 µm (Wang et al. 2020, Cell 181:936)",
        ),
        DataFile(
            "structure_graph_1.json.gz",
            "9f664801e9fcf88004a816f265c0ea6a5ee564dac2804ef250ae18417eb7b71e",
            _ALLEN_API,
            "Allen mouse structure ontology (structure graph 1, 1327 structures)",
            raw_sha256="b5f0d024d1df09ee18aef15093f55240f4a70b3924ee9689add612dadff80386",
        ),
        DataFile(
            "structures.csv",
            "781ff9e0980b4a89535c7bbc2bfab42ca9f1caa7be4316465073bb667bc6aa83",
            None,
            "Flat table of the ontology with 100 µm voxel counts (derived by zentai)",
            note=_DERIVED.format(src="structure_graph_1.json.gz and annotation_100.nrrd"),
        ),
        DataFile(
            "structure_tree_safe_2017.csv.gz",
            "bfb2749b2bcbbf46cb214328b7ec38ea20b5e99eec11e811c825ba8be39109d9",
            f"{_ALLENCCF}/structure_tree_safe_2017.csv",
            "Allen 2017 structure_tree_safe CSV (older acronyms, e.g. Kim 2017's 'Mmme')",
            raw_sha256="d4c7e752df7917b3588d1d6d7876990e042f0b10c26d79b541b18b0a903403a7",
        ),
        # ---------------------------------------------------------------- ccf-v3-25um
        DataFile(
            "annotation_25.nrrd",
            "c620cbcc562183e4dcd40250d440130501781f74b41de35b1c1bdabace290c42",
            f"{_ALLEN}/annotation/ccf_2017/annotation_25.nrrd",
            "Allen CCFv3 2017 annotation, 25 µm",
            group="ccf-v3-25um",
        ),
        # ---------------------------------------------------------------- connectome
        DataFile(
            "oh2014_nature13186-s4_SupplTable3_W_P.xlsx",
            "c5c2a640873c07f4f52ed4fdceae8cee68d4acae8e1a1015a2c77b18b4b3c756",
            f"{_FULCHER}/Data/Suppl_Table_3_nature13186-s4.xlsx",
            "Oh et al. 2014 (Nature 508:207) Suppl. Table 3: linear-model W and p, 213 regions",
            group="connectome",
        ),
        DataFile(
            "oh2014_nature13186-s2_SupplTable1_structures.xlsx",
            "2bdc599b969db4fcbcfbe27138732050e009f5de7e3e486a1c172cb5d5bc08d5",
            f"{_FULCHER}/Data/nature13186-s2.xlsx",
            "Oh et al. 2014 Suppl. Table 1: structures and CCFv2 voxel counts",
            group="connectome",
        ),
        DataFile(
            "oh2014_connectivity_tidy.csv.gz",
            "c0ce95d690e055b39846d41ac3369565f3f3ca3e3fb54559bbc9dd18ae9af339",
            None,
            "Oh et al. 2014 W and p as a tidy table (derived by zentai)",
            group="connectome",
            note=_DERIVED.format(src="oh2014_nature13186-s4_SupplTable3_W_P.xlsx"),
        ),
        DataFile(
            "knox2019_homogeneous-standard-model.csv.gz",
            "d3331ce4cc3d8f341a9f03dc0e6f9617d603d807dbdb3425dd864f6deda082fd",
            f"{_KNOX}/paper/figures/model_comparison/output/homogeneous-standard-model.csv",
            "Knox et al. 2019 (Netw Neurosci 3:217) regional homogeneous model, CCFv3",
            group="connectome",
            raw_sha256="cd423c91dcd443a041fc4f7c9d9b7518fec896045e74a66182559554b76403bb",
        ),
        DataFile(
            "knox2019_homogeneous_model_tidy.csv.gz",
            "7e1c3e9233b3916ebb403f30728c2de743f33306e620d91b6e40f5a81270734c",
            None,
            "Knox et al. 2019 homogeneous model as a tidy table (derived by zentai)",
            group="connectome",
            note=_DERIVED.format(src="knox2019_homogeneous-standard-model.csv.gz"),
        ),
        # ---------------------------------------------------------------- densities
        DataFile(
            "kim2017_cell_mmc3_densities.xlsx",
            "7a155d284a9747c56891e4ddb63cf653120c86dae554d7446278a070c0ead4b0",
            _ATLAS_DENSITIES,
            "Kim et al. 2017 (Cell 171:456) mmc3: PV/SST/VIP densities per region",
            group="densities",
            member=f"{_AD_DATA}/measurements/mmc3.xlsx",
        ),
        DataFile(
            "kim2017_cell_mmc1_counts.xlsx",
            "1cba2a026b9a63b1539189a600d56fff0e90d2e70992bc3263327204e34c0644",
            _ATLAS_DENSITIES,
            "Kim et al. 2017 mmc1: interneuron counts per region",
            group="densities",
            member=f"{_AD_DATA}/measurements/mmc1.xlsx",
        ),
        DataFile(
            "kim2017_interneurons_tidy.csv.gz",
            "baf3d76ae1c77630acdb693386e59374d7aafb89605f29a6d55e1e921da61bf8",
            None,
            "Kim et al. 2017 densities and counts as a tidy table (derived by zentai)",
            group="densities",
            note=_DERIVED.format(src="kim2017_cell_mmc1_counts.xlsx and _mmc3_densities.xlsx"),
        ),
        DataFile(
            "rodarie2022_literature_measurements.csv.gz",
            "264013e55cf56be419681eba5d05cf1c284a9ffeca0fc0028aeee3221a778c3a",
            None,
            "Rodarie et al. 2022 (PLoS Comput Biol 18:e1010739) literature cell densities, "
            "with Allen ids added (derived by zentai)",
            group="densities",
            note=_DERIVED.format(
                src=f"{_AD_DATA}/measurements/measurements.csv of the atlas-densities 0.2.6 "
                f"sdist ({_ATLAS_DENSITIES}; SHA-256 2b03181aff7c39b3952c074bee3716ab2487f603e0"
                "71f1277301ba132a21e169) by adding allen_id and allen_acronym columns"
            ),
        ),
        DataFile(
            "herculano_houzel_cell_counts.csv",
            "8f77d5a567ca3bf9793d2c7221385553c6388f630e5fb20cf76a3b1be91201c8",
            None,
            "Herculano-Houzel et al. 2011/2013 whole-brain cell and neuron totals (transcribed)",
            group="densities",
            note=_DERIVED.format(
                src="Herculano-Houzel et al. 2011 (Table 1) and 2013 (Table 1), transcribed"
            ),
        ),
    )
}

#: group name -> file names, in FILES order
GROUPS: dict[str, list[str]] = {}
for _f in FILES.values():
    GROUPS.setdefault(_f.group, []).append(_f.name)
del _f


def cache_dir() -> Path:
    """The per-user cache folder (``$XDG_CACHE_HOME/zentai`` or ``~/.cache/zentai``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zentai"


def data_dir(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for data files, in order: argument, ``$ZENTAI_DATA``, cache."""
    out = []
    if data_dir is not None:
        out.append(Path(data_dir))
    env = os.environ.get("ZENTAI_DATA")
    if env:
        out.append(Path(env))
    out.append(cache_dir())
    return out


def _fetch_hint(name: str) -> str:
    """How to get ``name``: the fetch command, or the file's note when it has no URL."""
    f = FILES.get(name)
    if f is not None and f.url is None:
        return f"{name!r} cannot be downloaded: {f.note}."
    group = f.group if f is not None else "ccf-v3"
    return f"Run `zentai data fetch {group}` or set ZENTAI_DATA to a folder that holds it."


def locate(name: str, data_dir_: str | os.PathLike | None = None) -> Path | None:
    """Path of data file ``name`` in the first folder of :func:`data_dir` that has it, or None."""
    for folder in data_dir(data_dir_):
        p = folder / name
        if p.is_file():
            return p
    return None


def find_file(name: str, data_dir_: str | os.PathLike | None = None) -> Path:
    """Path of data file ``name``; :class:`DataError` says where it looked and how to fetch it."""
    p = locate(name, data_dir_)
    if p is not None:
        return p
    where = ", ".join(str(f) for f in data_dir(data_dir_))
    raise DataError(
        f"{name!r} is not in the data folder or cache (looked in: {where}). {_fetch_hint(name)}"
    )


def sha256(path: str | os.PathLike, *, gunzip: bool = False) -> str:
    """SHA-256 hex digest of a file (of its uncompressed content with ``gunzip=True``)."""
    h = hashlib.sha256()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_valid(path: str | os.PathLike, entry: DataFile) -> bool:
    """True if ``path`` has ``entry``'s SHA-256 (or, for re-gzipped files, its raw SHA-256)."""
    if sha256(path) == entry.sha256:
        return True
    if entry.raw_sha256 is None:
        return False
    try:
        return sha256(path, gunzip=True) == entry.raw_sha256
    except (OSError, EOFError, zlib.error):  # not gzip, or truncated
        return False


def verify(path: str | os.PathLike, expected: str | None = None) -> None:
    """Raise :class:`DataError` when ``path`` does not have the expected SHA-256.

    Without ``expected``, the file is checked against its :data:`FILES` entry (unknown names
    pass). Files stored gzipped after download also pass when their uncompressed content has
    the entry's ``raw_sha256``.
    """
    path = Path(path)
    if expected is None:
        entry = FILES.get(path.name)
        if entry is None or is_valid(path, entry):
            return
        expected = entry.sha256
    got = sha256(path)
    if got != expected:
        raise DataError(
            f"{str(path)!r} is corrupt or the wrong file: its SHA-256 is {got}, expected "
            f"{expected}. Delete it and run `zentai data fetch {path.name}`."
        )
