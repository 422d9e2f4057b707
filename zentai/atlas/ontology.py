"""The Allen mouse structure ontology: ids, acronyms, names, parents and descendants.

Read from Allen's structure graph (``structure_graph_1.json``, 1327 structures). Acronyms are
Allen CCF acronyms (``"MOp"``, never ``"M1"``); lookups accept an acronym or an integer id.

Examples
--------
>>> from zentai.atlas import load_ontology
>>> onto = load_ontology()  # doctest: +SKIP
>>> onto.id("MOp"), onto.acronym(985)  # doctest: +SKIP
(985, 'MOp')
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from zentai.errors import RegionError, closest

__all__ = ["Ontology", "Structure", "load_ontology"]

#: common names of cortical areas that are not Allen acronyms -> the Allen acronym
ALIASES = {
    "M1": "MOp",
    "M2": "MOs",
    "S1": "SSp",
    "S2": "SSs",
    "V1": "VISp",
    "A1": "AUDp",
}


@dataclass(frozen=True)
class Structure:
    """One ontology entry."""

    id: int
    acronym: str
    name: str
    parent_id: int | None
    depth: int
    graph_order: int
    color_hex: str


class Ontology:
    """Structure tree with fast id/acronym lookups and descendant sets."""

    def __init__(self, structures: list[Structure]) -> None:
        self.structures = sorted(structures, key=lambda s: s.graph_order)
        self._by_id = {s.id: s for s in self.structures}
        self._by_acronym = {s.acronym: s for s in self.structures}
        self._children: dict[int, list[int]] = {s.id: [] for s in self.structures}
        for s in self.structures:
            if s.parent_id is not None and s.parent_id in self._children:
                self._children[s.parent_id].append(s.id)

    @classmethod
    def from_graph_json(cls, path: str | os.PathLike) -> Ontology:
        """Read Allen's nested structure-graph JSON (plain or gzipped)."""
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            doc = json.load(f)
        roots = doc["msg"] if isinstance(doc, dict) and "msg" in doc else doc
        if isinstance(roots, dict):
            roots = [roots]
        out: list[Structure] = []
        stack = [(r, 0) for r in roots]
        while stack:
            node, depth = stack.pop()
            out.append(
                Structure(
                    id=int(node["id"]),
                    acronym=str(node["acronym"]),
                    name=str(node["name"]),
                    parent_id=(
                        None
                        if node.get("parent_structure_id") is None
                        else int(node["parent_structure_id"])
                    ),
                    depth=depth,
                    graph_order=int(node.get("graph_order", len(out))),
                    color_hex=str(node.get("color_hex_triplet", "FFFFFF")),
                )
            )
            stack.extend((c, depth + 1) for c in node.get("children", []))
        return cls(out)

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self.structures)

    def __contains__(self, key: int | str) -> bool:
        return key in self._by_acronym or (
            isinstance(key, (int, np.integer)) and key in self._by_id
        )

    def get(self, key: int | str) -> Structure:
        """The structure with acronym or id ``key``; unknown ones list the closest acronyms."""
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if int(key) in self._by_id:
                return self._by_id[int(key)]
            raise RegionError(f"Unknown structure id {int(key)}; not in the Allen ontology.")
        if isinstance(key, str):
            if key in self._by_acronym:
                return self._by_acronym[key]
            lower = {a.lower(): a for a in self._by_acronym}
            hint = closest(key, self._by_acronym)
            if key.lower() in lower:
                hint = f"closest: {lower[key.lower()]!r}"
            alias = ALIASES.get(key.upper())
            if alias is not None and alias in self._by_acronym:
                hint = f"closest: {alias!r} (= {key}), " + hint.removeprefix("closest: ")
            raise RegionError(f"Unknown region {key!r}. Regions are Allen CCF acronyms; {hint}.")
        raise RegionError(f"A region must be an Allen acronym or id; got {key!r}.")

    def id(self, key: int | str) -> int:
        """Structure id of an acronym (or id)."""
        return self.get(key).id

    def acronym(self, key: int | str) -> str:
        """Acronym of an id (or acronym)."""
        return self.get(key).acronym

    def parent(self, key: int | str) -> Structure | None:
        """Parent structure, or None for the root."""
        s = self.get(key)
        return None if s.parent_id is None else self._by_id.get(s.parent_id)

    def ancestors(self, key: int | str) -> list[Structure]:
        """Ancestors from the parent up to the root."""
        out = []
        p = self.parent(key)
        while p is not None:
            out.append(p)
            p = self.parent(p.id)
        return out

    def children(self, key: int | str) -> list[Structure]:
        """Direct children."""
        return [self._by_id[c] for c in self._children[self.id(key)]]

    def descendants(self, key: int | str, include_self: bool = True) -> list[Structure]:
        """All structures below ``key`` (and ``key`` itself by default), in graph order."""
        root = self.id(key)
        ids = [root] if include_self else []
        stack = list(self._children[root])
        while stack:
            i = stack.pop()
            ids.append(i)
            stack.extend(self._children[i])
        return sorted((self._by_id[i] for i in ids), key=lambda s: s.graph_order)

    def descendant_ids(self, key: int | str, include_self: bool = True) -> np.ndarray:
        """Ids of :meth:`descendants` as an int64 array."""
        return np.array([s.id for s in self.descendants(key, include_self)], dtype=np.int64)

    def is_descendant(self, key: int | str, of: int | str) -> bool:
        """True if ``key`` is ``of`` or lies below it."""
        target = self.id(of)
        s: Structure | None = self.get(key)
        while s is not None:
            if s.id == target:
                return True
            s = self.parent(s.id)
        return False

    @cached_property
    def acronyms(self) -> list[str]:
        """All acronyms, in graph order."""
        return [s.acronym for s in self.structures]

    @cached_property
    def max_id(self) -> int:
        """Largest structure id (for lookup tables indexed by id)."""
        return max(self._by_id)


def load_ontology(data_dir: str | os.PathLike | None = None) -> Ontology:
    """Load the Allen ontology from ``structure_graph_1.json.gz`` (verified by SHA-256)."""
    from zentai.atlas.data import find_file, verify

    path = find_file("structure_graph_1.json.gz", data_dir)
    verify(path)
    return Ontology.from_graph_json(path)
