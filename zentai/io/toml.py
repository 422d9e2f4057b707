"""Network specs as TOML files: :func:`dump` and :func:`load` round-trip a :class:`NetworkSpec`.

The file holds the same dataclasses as the Python API, one table per object:

.. code-block:: toml

    zentai_spec = 1
    name = "two populations"

    [[populations]]
    name = "E"
    size = 80

    [populations.model]
    kind = "LIF"            # a neuron model class name (zt.celltypes.model_names())
    tau_m = 10.0            # bare numbers are in the field's canonical unit (ms, mV, pA, nS, pF)
    v_th = "-50 mV"         # quantity strings are accepted when reading

    [populations.initial]
    v = { kind = "normal", mu = -58.0, sigma = 10.0 }

    [[projections]]
    pre = "E"
    post = "E"
    weight = 87.8
    delay = 1.5
    rule = { kind = "fixed_indegree", k = 10 }

    [[stimuli]]
    kind = "PoissonInput"   # a stimulus class name
    target = "E"
    rate = 8.0

    [[recorders]]
    kind = "Spikes"

    [run]                   # optional: defaults for ``zentai run`` (duration, warmup, dt, ...)
    duration = "1 s"

The writer emits every number in its canonical unit, so that dump -> load -> dump gives the
same text and a network built from the reloaded spec is identical to the original (bit for
bit); quantity strings such as ``"300 pA"`` are read as well. Keys whose value is ``None``
are left out (TOML has no null; a missing key means the field's default). Unknown keys and
kinds raise :class:`~zentai.errors.SpecError` naming the closest valid names.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tomllib
from collections.abc import Mapping
from typing import Any

import numpy as np
import tomli_w

from zentai import units as u
from zentai.build.spec import NetworkSpec, Population, Projection
from zentai.celltypes import NeuronModel, Receptor, model_class, model_names
from zentai.connectome.rules import Constant, Distribution, Rule, rule_from_dict
from zentai.errors import DataError, SpecError, ZentaiError, closest
from zentai.record.recorders import Recorder
from zentai.stim import Stimulus

__all__ = [
    "FORMAT_VERSION",
    "RUN_KEYS",
    "dump",
    "dumps",
    "load",
    "load_run",
    "loads",
    "spec_from_dict",
    "spec_to_dict",
]

#: value of the top-level ``zentai_spec`` key written by :func:`dump`
FORMAT_VERSION = 1
#: keys allowed in the optional ``[run]`` table (read by ``zentai run``)
RUN_KEYS = ("duration", "warmup", "dt", "device", "dtype", "seed")
_TOP_KEYS = (
    "zentai_spec",
    "name",
    "meta",
    "populations",
    "projections",
    "stimuli",
    "recorders",
    "run",
)


# ============================================================================ kinds
def _subclasses(base: type) -> list[type]:
    out = []
    for c in base.__subclasses__():
        out.append(c)
        out.extend(_subclasses(c))
    return out


def _rule_kinds() -> dict[str, type]:
    return {c.kind: c for c in _subclasses(Rule) if getattr(c, "kind", "")}


def _distribution_kinds() -> dict[str, type]:
    return {c.kind: c for c in _subclasses(Distribution) if getattr(c, "kind", "")}


def _stimulus_kinds() -> dict[str, type]:
    return {c.__name__: c for c in _subclasses(Stimulus) if dataclasses.is_dataclass(c)}


def _recorder_kinds() -> dict[str, type]:
    return {c.__name__: c for c in _subclasses(Recorder) if dataclasses.is_dataclass(c)}


# ============================================================================ writing
def _plain(value: Any, owner: str) -> Any:
    """A TOML-writable copy of ``value`` (NumPy scalars and arrays, tuples, enums, quantities)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value, owner)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, u.Quantity):
        mag = value.magnitude
        if np.ndim(mag) != 0:
            raise SpecError(
                f"{owner} must be a scalar quantity or numbers in canonical units to be written "
                f"to TOML; got an array quantity {value!r}."
            )
        return f"{_plain(mag, owner)!r} {value.units:~}"
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), owner)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{owner}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{owner}.{k}") for k, v in value.items() if v is not None}
    raise SpecError(
        f"{owner} cannot be written to TOML; got {value!r} of type {type(value).__name__}. "
        f"Use numbers, strings, booleans, lists or tables."
    )


def _fields_dict(obj: Any, owner: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every init field of dataclass ``obj`` except those in ``skip``; ``None`` values left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if not f.init or f.name in skip:
            continue
        v = getattr(obj, f.name)
        if v is None:
            has_default = f.default is not dataclasses.MISSING
            if not has_default or f.default is not None:
                raise SpecError(
                    f"{owner}.{f.name} is None, which TOML cannot hold and whose default is not "
                    f"None; it cannot be written."
                )
            continue
        out[f.name] = _plain(v, f"{owner}.{f.name}")
    return out


def _distribution_to_toml(d: Distribution, owner: str) -> Any:
    if isinstance(d, Constant):
        return _plain(d.value, f"{owner}.value")
    return {"kind": d.kind, **_fields_dict(d, owner)}


def _model_to_dict(model: NeuronModel, owner: str) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": type(model).__name__}
    out.update(_fields_dict(model, owner, skip=("receptors",)))
    out["receptors"] = [
        _fields_dict(r, f"{owner}.receptors[{i}]") for i, r in enumerate(model.receptors)
    ]
    return out


def _population_to_dict(p: Population, owner: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "size": int(p.size)}
    out["model"] = _model_to_dict(p.model, f"{owner}.model")
    if p.params:
        out["params"] = {k: _plain(v, f"{owner}.params.{k}") for k, v in p.params.items()}
    if p.initial:
        out["initial"] = {
            k: _distribution_to_toml(v, f"{owner}.initial.{k}") for k, v in p.initial.items()
        }
    if p.positions is not None:
        out["positions"] = _plain(p.positions, f"{owner}.positions")
    if p.normals is not None:
        out["normals"] = _plain(p.normals, f"{owner}.normals")
    if p.labels:
        out["labels"] = _plain(p.labels, f"{owner}.labels")
    return out


def _projection_to_dict(pr: Projection, owner: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": pr.name, "pre": pr.pre, "post": pr.post}
    if pr.receptor is not None:
        out["receptor"] = pr.receptor
    out["weight"] = _distribution_to_toml(pr.weight, f"{owner}.weight")
    out["delay"] = _distribution_to_toml(pr.delay, f"{owner}.delay")
    out["rule"] = _plain(pr.rule.to_dict(), f"{owner}.rule")
    if pr.stp is not None:
        out["stp"] = pr.stp.to_dict()
    if pr.procedural:
        out["procedural"] = True
    return out


def spec_to_dict(spec: NetworkSpec, *, run: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A plain dict of ``spec`` (TOML types only), as :func:`dump` writes it.

    Parameters
    ----------
    spec : NetworkSpec
    run : mapping, optional
        Run settings stored in the ``[run]`` table (keys in :data:`RUN_KEYS`).

    Examples
    --------
    >>> import zentai as zt
    >>> spec = zt.build.NetworkSpec(
    ...     populations=(zt.build.Population(name="E", size=2, model=zt.celltypes.LIF()),)
    ... )
    >>> d = spec_to_dict(spec)
    >>> d["populations"][0]["model"]["kind"], d["populations"][0]["model"]["tau_m"]
    ('LIF', 10.0)
    """
    if not isinstance(spec, NetworkSpec):
        raise SpecError(f"spec_to_dict expects a NetworkSpec; got {type(spec).__name__}.")
    out: dict[str, Any] = {"zentai_spec": FORMAT_VERSION, "name": spec.name}
    if spec.meta:
        out["meta"] = _plain(spec.meta, "NetworkSpec.meta")
    out["populations"] = [
        _population_to_dict(p, f"populations[{i}] ({p.name!r})")
        for i, p in enumerate(spec.populations)
    ]
    if spec.projections:
        out["projections"] = [
            _projection_to_dict(pr, f"projections[{i}] ({pr.name!r})")
            for i, pr in enumerate(spec.projections)
        ]
    if spec.stimuli:
        out["stimuli"] = [
            {"kind": type(st).__name__, **_fields_dict(st, f"stimuli[{i}]")}
            for i, st in enumerate(spec.stimuli)
        ]
    if spec.recorders:
        out["recorders"] = [
            {"kind": type(rec).__name__, **_fields_dict(rec, f"recorders[{i}]")}
            for i, rec in enumerate(spec.recorders)
        ]
    if run:
        out["run"] = _run_from_dict(_plain(dict(run), "run"))
    return out


def dumps(spec: NetworkSpec, *, run: Mapping[str, Any] | None = None) -> str:
    """``spec`` as TOML text (see :func:`spec_to_dict`)."""
    return tomli_w.dumps(spec_to_dict(spec, run=run))


def dump(
    spec: NetworkSpec, path: str | os.PathLike, *, run: Mapping[str, Any] | None = None
) -> None:
    """Write ``spec`` to the TOML file ``path`` (atomically: a temporary file, then rename).

    Examples
    --------
    >>> import os, tempfile
    >>> import zentai as zt
    >>> spec = zt.build.NetworkSpec(
    ...     populations=(zt.build.Population(name="E", size=2, model=zt.celltypes.LIF()),)
    ... )
    >>> path = os.path.join(tempfile.mkdtemp(), "spec.toml")
    >>> dump(spec, path)
    >>> load(path).population("E").size
    2
    """
    text = dumps(spec, run=run)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ============================================================================ reading
def _table(value: Any, owner: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{owner} must be a table; got {value!r}.")
    return value


def _array_of_tables(value: Any, owner: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SpecError(f"{owner} must be an array of tables ([[{owner}]]); got {value!r}.")
    return value


def _check_keys(data: Mapping[str, Any], allowed: Any, owner: str) -> None:
    allowed = list(allowed)
    for k in data:
        if k not in allowed:
            raise SpecError(f"{owner}: unknown key {k!r}; {closest(k, allowed)}.")


def _kind(data: Mapping[str, Any], kinds: Mapping[str, type], owner: str, what: str) -> type:
    if "kind" not in data:
        raise SpecError(f"{owner} needs a 'kind' naming the {what}; choose from {list(kinds)}.")
    kind = data["kind"]
    if kind not in kinds:
        raise SpecError(f"{owner}: unknown {what} kind {kind!r}; {closest(str(kind), kinds)}.")
    return kinds[kind]


def _make(cls: type, data: Mapping[str, Any], owner: str, **extra: Any) -> Any:
    """``cls(**data)`` after checking the keys against the dataclass fields of ``cls``."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {k: v for k, v in data.items() if k != "kind"}
    _check_keys(kwargs, fields, f"{owner} ({cls.__name__})")
    kwargs.update(extra)
    missing = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and name not in kwargs
    ]
    if missing:
        raise SpecError(f"{owner} ({cls.__name__}) is missing the key {missing[0]!r}.")
    return _construct(cls, kwargs, owner)


def _construct(cls: Any, kwargs: Mapping[str, Any], owner: str) -> Any:
    try:
        return cls(**kwargs)
    except ZentaiError as exc:
        raise type(exc)(f"{owner}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{owner} ({getattr(cls, '__name__', cls)}): {exc}.") from None


def _distribution_from_toml(value: Any, owner: str) -> Any:
    """A number or quantity string (constant), or a ``{kind = ...}`` table."""
    if isinstance(value, bool):
        raise SpecError(f"{owner} must be a number, quantity string or distribution table.")
    if isinstance(value, (int, float, str)):
        return Constant(value)
    table = _table(value, owner)
    cls = _kind(table, _distribution_kinds(), owner, "distribution")
    return _make(cls, table, owner)


def _model_from_dict(data: Any, owner: str) -> NeuronModel:
    data = _table(data, owner)
    if "kind" not in data:
        raise SpecError(f"{owner} needs a 'kind' naming the neuron model; {list(model_names())}.")
    try:
        cls = model_class(str(data["kind"]))
    except SpecError as exc:
        raise SpecError(f"{owner}: {exc}") from None
    extra = {}
    if "receptors" in data:
        recs = _array_of_tables(data["receptors"], f"{owner}.receptors")
        extra["receptors"] = tuple(
            _make(Receptor, r, f"{owner}.receptors[{i}]") for i, r in enumerate(recs)
        )
    return _make(cls, {k: v for k, v in data.items() if k != "receptors"}, owner, **extra)


_POPULATION_KEYS = (
    "name",
    "size",
    "model",
    "params",
    "initial",
    "positions",
    "normals",
    "labels",
)
_PROJECTION_KEYS = (
    "name",
    "pre",
    "post",
    "rule",
    "weight",
    "delay",
    "receptor",
    "stp",
    "procedural",
)


def _population_from_dict(data: dict[str, Any], owner: str) -> Population:
    _check_keys(data, _POPULATION_KEYS, f"{owner} (Population)")
    for key in ("name", "size", "model"):
        if key not in data:
            raise SpecError(f"{owner} (Population) is missing the key {key!r}.")
    kwargs = dict(data)
    kwargs["model"] = _model_from_dict(data["model"], f"{owner}.model")
    if "params" in data:
        kwargs["params"] = _table(data["params"], f"{owner}.params")
    if "initial" in data:
        kwargs["initial"] = {
            k: _distribution_from_toml(v, f"{owner}.initial.{k}")
            for k, v in _table(data["initial"], f"{owner}.initial").items()
        }
    if "labels" in data:
        kwargs["labels"] = _table(data["labels"], f"{owner}.labels")
    return _construct(Population, kwargs, owner)


def _projection_from_dict(data: dict[str, Any], owner: str) -> Projection:
    _check_keys(data, _PROJECTION_KEYS, f"{owner} (Projection)")
    for key in ("pre", "post", "rule"):
        if key not in data:
            raise SpecError(f"{owner} (Projection) is missing the key {key!r}.")
    kwargs = dict(data)
    rule = _table(data["rule"], f"{owner}.rule")
    rcls = _kind(rule, _rule_kinds(), f"{owner}.rule", "connection rule")
    fields = [f.name for f in dataclasses.fields(rcls) if f.init]
    _check_keys({k: v for k, v in rule.items() if k != "kind"}, fields, f"{owner}.rule")
    try:
        kwargs["rule"] = rule_from_dict(rule)
    except ZentaiError as exc:
        raise type(exc)(f"{owner}.rule: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{owner}.rule ({rcls.__name__}): {exc}.") from None
    for key in ("weight", "delay"):
        if key in data:
            kwargs[key] = _distribution_from_toml(data[key], f"{owner}.{key}")
    if "stp" in data:
        kwargs["stp"] = _table(data["stp"], f"{owner}.stp")
    return _construct(Projection, kwargs, owner)


def _run_from_dict(data: Any) -> dict[str, Any]:
    data = _table(data, "run")
    _check_keys(data, RUN_KEYS, "run")
    return dict(data)


def spec_from_dict(d: Mapping[str, Any]) -> NetworkSpec:
    """Build a :class:`NetworkSpec` from a dict as read from TOML (see :func:`spec_to_dict`).

    Raises :class:`~zentai.errors.SpecError` for unknown keys or kinds, naming the closest
    valid ones, and for values the descriptions reject (prefixed with where they were found).

    Examples
    --------
    >>> spec = spec_from_dict({"populations": [{"name": "E", "size": 3, "model": {"kind": "LIF"}}]})
    >>> spec.population("E").model.tau_m
    10.0
    >>> bad = {"populations": [{"name": "E", "size": 3, "model": {"kind": "AdExp"}}]}
    >>> try:
    ...     spec_from_dict(bad)
    ... except SpecError as exc:
    ...     print(exc)
    populations[0] ('E').model: Unknown neuron model 'AdExp'; closest: 'AdEx'.
    """
    d = _table(d, "spec")
    _check_keys(d, _TOP_KEYS, "spec (top level)")
    version = d.get("zentai_spec", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise SpecError(
            f"zentai_spec must be {FORMAT_VERSION} (the format this zentai reads); got "
            f"{version!r}. Upgrade zentai to read newer files."
        )
    if "run" in d:
        _run_from_dict(d["run"])
    pops = []
    for i, p in enumerate(_array_of_tables(d.get("populations", []), "populations")):
        name = p.get("name")
        owner = f"populations[{i}]" + (f" ({name!r})" if isinstance(name, str) else "")
        pops.append(_population_from_dict(p, owner))
    projs = []
    for i, pr in enumerate(_array_of_tables(d.get("projections", []), "projections")):
        projs.append(_projection_from_dict(pr, f"projections[{i}]"))
    stims = []
    for i, st in enumerate(_array_of_tables(d.get("stimuli", []), "stimuli")):
        owner = f"stimuli[{i}]"
        stims.append(_make(_kind(st, _stimulus_kinds(), owner, "stimulus"), st, owner))
    recs = []
    for i, rec in enumerate(_array_of_tables(d.get("recorders", []), "recorders")):
        owner = f"recorders[{i}]"
        recs.append(_make(_kind(rec, _recorder_kinds(), owner, "recorder"), rec, owner))
    kwargs: dict[str, Any] = {
        "populations": tuple(pops),
        "projections": tuple(projs),
        "stimuli": tuple(stims),
        "recorders": tuple(recs),
    }
    if "name" in d:
        if not isinstance(d["name"], str):
            raise SpecError(f"name must be a string; got {d['name']!r}.")
        kwargs["name"] = d["name"]
    if "meta" in d:
        kwargs["meta"] = _table(d["meta"], "meta")
    return _construct(NetworkSpec, kwargs, "spec")


def loads(text: str, *, source: str = "<string>") -> NetworkSpec:
    """Parse TOML ``text`` into a :class:`NetworkSpec`."""
    return spec_from_dict(_parse(text, source))


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source} is not valid TOML: {exc}.") from None


def _read(path: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"spec file {path!r} does not exist.")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path!r} is not a UTF-8 text file (TOML).") from None
    return path, _parse(text, repr(path))


def load(path: str | os.PathLike) -> NetworkSpec:
    """Read a :class:`NetworkSpec` from the TOML file ``path`` (written by :func:`dump`).

    Errors name the file: ``SpecError: 'net.toml': populations[0] ('E').model (LIF): unknown
    key 'tau'; closest: 'tau_m'.``
    """
    path, data = _read(path)
    try:
        return spec_from_dict(data)
    except ZentaiError as exc:
        raise type(exc)(f"{path!r}: {exc}") from None


def load_run(path: str | os.PathLike) -> dict[str, Any]:
    """The ``[run]`` table of the TOML file ``path`` (empty if it has none)."""
    path, data = _read(path)
    if "run" not in data:
        return {}
    try:
        return _run_from_dict(data["run"])
    except ZentaiError as exc:
        raise type(exc)(f"{path!r}: {exc}") from None
