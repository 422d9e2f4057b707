"""Units at the edges, plain floats inside.

Canonical units of the engine: ms, mV, pA, nS, pF, Hz, µm. Descriptions accept
quantities (``20 * u.ms``), strings (``"20 ms"``) or bare numbers (read in the
field's canonical unit) and store plain floats. The quantity library is pint;
users import only this module.

Examples
--------
>>> from zentai import units as u
>>> u.to_canonical(1.5 * u.s, "ms")
1500.0
>>> u.to_canonical("300 pA", "nA")
0.3
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pint

from zentai.errors import UnitError

__all__ = [
    "Hz",
    "mV",
    "ms",
    "nS",
    "pA",
    "pF",
    "param",
    "parse",
    "s",
    "to_canonical",
    "um",
]

ureg = pint.UnitRegistry()
Quantity = ureg.Quantity

ms = ureg.ms
s = ureg.s
mV = ureg.mV
pA = ureg.pA
nA = ureg.nA
nS = ureg.nS
pF = ureg.pF
Hz = ureg.Hz
um = ureg.um
mm = ureg.mm

_DIM_NAMES = {
    "ms": "a time (e.g. 1.5 * u.ms)",
    "s": "a time (e.g. 1 * u.s)",
    "mV": "a voltage (e.g. -65 * u.mV)",
    "pA": "a current (e.g. 300 * u.pA)",
    "nA": "a current (e.g. 0.3 * u.nA)",
    "nS": "a conductance (e.g. 10 * u.nS)",
    "pF": "a capacitance (e.g. 250 * u.pF)",
    "Hz": "a rate (e.g. 8 * u.Hz)",
    "um": "a length (e.g. 100 * u.um)",
    "mm": "a length (e.g. 1 * u.mm)",
    "1": "a dimensionless number",
}


def parse(text: str) -> Any:
    """Parse a quantity string such as ``"300 pA"``."""
    try:
        return ureg(text)
    except Exception as exc:  # pint raises several types
        raise UnitError(f"cannot parse quantity {text!r}; expected e.g. '300 pA'.") from exc


def _clean(x: float) -> float:
    # unit conversion can leave 1500.0000000000002; 12 significant digits is far below any
    # physical precision and keeps round trips exact.
    return float(f"{x:.12g}") if math.isfinite(x) else x


def to_canonical(value: Any, unit: str, owner: str = "value") -> Any:
    """Convert ``value`` to a float (or float array) in ``unit``.

    Bare numbers are taken to be in ``unit`` already. Raises :class:`UnitError` naming
    ``owner`` when the dimension does not match.
    """
    if isinstance(value, str):
        value = parse(value)
    if isinstance(value, Quantity):
        target = ureg(unit) if unit != "1" else ureg.dimensionless
        if value.dimensionality != getattr(target, "dimensionality", None):
            raise UnitError(f"{owner} must be {_DIM_NAMES.get(unit, unit)}; got {value:~P}.")
        mag = value.to(target.units if hasattr(target, "units") else target).magnitude
        if np.ndim(mag) == 0:
            return _clean(float(mag))
        return np.asarray(mag, dtype=np.float64)
    if isinstance(value, bool):
        raise UnitError(f"{owner} must be {_DIM_NAMES.get(unit, unit)}; got {value!r}.")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.dtype.kind not in "if":
            raise UnitError(f"{owner} must be {_DIM_NAMES.get(unit, unit)}; got {value!r}.")
        return arr.astype(np.float64)
    raise UnitError(f"{owner} must be {_DIM_NAMES.get(unit, unit)}; got {value!r}.")


def param(unit: str, default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A dataclass field holding a quantity stored as a float in ``unit``."""
    meta = dict(kwargs.pop("metadata", {}) or {})
    meta["unit"] = unit
    return dataclasses.field(default=default, metadata=meta, **kwargs)


def normalize(obj: Any) -> None:
    """Convert every unit-tagged field of a frozen dataclass to its canonical float."""
    for f in dataclasses.fields(obj):
        unit = f.metadata.get("unit")
        if unit is None:
            continue
        value = getattr(obj, f.name)
        if value is None:
            continue
        converted = to_canonical(value, unit, owner=f"{type(obj).__name__}.{f.name}")
        object.__setattr__(obj, f.name, converted)


def field_unit(cls_or_obj: Any, name: str) -> str | None:
    """The canonical unit of a dataclass field, or ``None``."""
    for f in dataclasses.fields(cls_or_obj):
        if f.name == name:
            return f.metadata.get("unit")
    return None
