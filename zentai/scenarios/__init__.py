"""Scenarios: a network, a stimulus, a run and an analysis described in one TOML file.

``zentai run m1-gamma --out DIR`` (or ``zentai run my_scenario.toml``) loads the file with
:func:`load_scenario` and runs it with :func:`zentai.scenarios.runner.run_scenario`. The
built-in scenarios are the ``*.toml`` files of this package (:data:`SCENARIOS`).

Schema (quantities are strings with units, STYLE §8)::

    [scenario]
    name = "m1-gamma"          # used in titles and the summary
    kind = "cortex"            # the builder: "cortex" (zentai.build.cortex.cortex_spec) or
                               # "brain" (zentai.build.brain.brain_spec: cortex, thalamus,
                               # pons, cerebellum and the connectome)

    [build]                    # arguments of the builder
    regions = ["MOp"]          # CCF acronyms: under Isocortex for "cortex"; for "brain" also
                               # thalamic nuclei, RT, PG, cerebellar lobules and nuclei
    hemisphere = "left"        # "left", "right" or "both"
    fraction = 0.01            # of the real neuron density, in (0, 1]; --fraction overrides
    models = "izhikevich"      # "lif" or "izhikevich"
    seed = 0                   # placement, wiring and noise; --seed overrides
    topography = 0.15          # "brain": homotopic inter-area map width (default: none)
    mossy_share = 0.5          # "brain": share of the granule cells' mossy fibres from PG

    [[stim]]                   # one or more
    kind = "DC"                # the only kind so far
    target = { layer = "L2/3", cell_class = "E", voxel = "center", radius_um = 0 }
    amplitude = "300 pA"
    start = "200 ms"           # absolute time (the warm-up counts)
    stop = "1.2 s"             # optional; default: to the end

    [run]
    duration = "1 s"           # analysed time after the warm-up; --duration overrides
    warmup = "200 ms"          # --warmup overrides
    dt = "0.1 ms"

    [analysis]
    band = [30, 50]            # Hz: the band of the acceptance checks and of the phases
    resolution_hz = 2          # Welch resolution (coarsened when the run is too short: the
                               # spectrum to one segment, the coherences to two)
    column_radius_um = 300     # phases use the neurons of this column (see below)
    coherence_with = ["MOs", "P.PG"]   # "brain": band coherence of the stimulated group's
                               # rate with these areas' cortical E cells (or all cells of a
                               # subcortical area) or populations, against shift surrogates
    vector_strength_of = ["CB.GrC"]    # "brain": spike locking of these populations to the
                               # band-passed column E rate
    centroid_areas = ["MOs"]   # "brain": centroid of each area's evoked E response per stimulus
    n_surrogates = 100
    gamma_checks = true        # the peak checks; false where the stimulus is not one long DC

``target``: ``region`` (default: the first cortical region) is where ``voxel = "center"``
looks, and ``ap_offset_um`` moves the point it looks from along the AP axis (µm, positive is
posterior). ``layer`` is one of the sheet's layers (``L2/3``, ``L4``, ``L5A``, ``L5B``, ``L6a``,
``L6b``), ``cell_class`` one of ``E``, ``FS``, ``LTS`` (default ``E``). ``voxel`` is
``"center"`` -- the voxel of that layer, in the chosen hemisphere of the first region, nearest
the centroid of that region's voxels in that hemisphere -- or an explicit ``[ap, dv, ml]``
index of the 100 µm atlas. ``radius_um = 0`` (default) stimulates the target's neurons placed
in that voxel only; ``radius_um > 0`` stimulates every neuron of the target within that
distance (µm, 3-D) of the voxel centre. A 100 µm voxel holds about 100 L2/3 excitatory cells at
full density, so about one at ``fraction = 0.01``: low-fraction runs need a radius to stimulate
a group whose population rate means anything (a target that holds no neuron is an error).

The *column* of the analysis is every neuron whose distance from the axis through the first
stimulus's voxel centre, along the cortical normal there, is at most ``column_radius_um``.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zentai.errors import SpecError, closest

__all__ = [
    "SCENARIOS",
    "Scenario",
    "StimTarget",
    "Stimulus",
    "is_scenario_file",
    "load_scenario",
    "scenario_path",
]

#: built-in scenario name -> file name in this package
SCENARIOS = {
    "m1-gamma": "m1_gamma.toml",
    "motor-loop": "motor_loop.toml",
    "somatotopy": "somatotopy.toml",
}

_LAYERS = ("L2/3", "L4", "L5A", "L5B", "L6a", "L6b")
_CLASSES = ("E", "FS", "LTS")
_TABLES = {
    "scenario": ("name", "kind"),
    "build": ("regions", "hemisphere", "fraction", "models", "seed", "topography", "mossy_share"),
    "stim": ("kind", "target", "amplitude", "start", "stop"),
    "run": ("duration", "warmup", "dt"),
    "analysis": (
        "band",
        "resolution_hz",
        "column_radius_um",
        "coherence_with",
        "vector_strength_of",
        "centroid_areas",
        "n_surrogates",
        "gamma_checks",
    ),
}
_TARGET_KEYS = ("layer", "cell_class", "voxel", "radius_um", "region", "ap_offset_um")
_KINDS = ("cortex", "brain")


def _check_keys(data: dict[str, Any], allowed: tuple[str, ...], owner: str) -> None:
    for key in data:
        if key not in allowed:
            raise SpecError(f"{owner} has no key {key!r}; {closest(key, allowed)}.")


def _number(value: Any, owner: str, *, low: float, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{owner} must be a number; got {value!r}.")
    v = float(value)
    if not math.isfinite(v) or v < low or (low_open and v == low):
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise SpecError(f"{owner} must be a finite number {bound}; got {value!r}.")
    return v


@dataclass(frozen=True)
class StimTarget:
    """Which neurons a stimulus drives (see the module docstring)."""

    layer: str
    cell_class: str = "E"
    voxel: str | tuple[int, int, int] = "center"
    radius_um: float = 0.0
    region: str | None = None
    ap_offset_um: float = 0.0

    def __post_init__(self) -> None:
        owner = "stim.target"
        if self.layer not in _LAYERS:
            raise SpecError(
                f"{owner}.layer must be a layer; got {self.layer!r}. "
                f"{closest(str(self.layer), _LAYERS)}."
            )
        if self.cell_class not in _CLASSES:
            raise SpecError(
                f"{owner}.cell_class must be one of {', '.join(_CLASSES)}; got {self.cell_class!r}."
            )
        voxel = self.voxel
        if voxel != "center":
            ok = (
                isinstance(voxel, (list, tuple))
                and len(voxel) == 3
                and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in voxel)
            )
            if not ok:
                raise SpecError(
                    f'{owner}.voxel must be "center" or [ap, dv, ml] voxel indices; got {voxel!r}.'
                )
            object.__setattr__(self, "voxel", tuple(int(i) for i in voxel))
        object.__setattr__(self, "radius_um", _number(self.radius_um, f"{owner}.radius_um", low=0))
        if self.region is not None and not isinstance(self.region, str):
            raise SpecError(f"{owner}.region must be a region acronym; got {self.region!r}.")
        off = self.ap_offset_um
        if isinstance(off, bool) or not isinstance(off, (int, float)) or not math.isfinite(off):
            raise SpecError(f"{owner}.ap_offset_um must be a finite number (µm); got {off!r}.")
        object.__setattr__(self, "ap_offset_um", float(off))

    @property
    def population(self) -> str:
        """Name of the targeted population of the cortical sheet."""
        return f"Isocortex.{self.layer}.{self.cell_class}"


@dataclass(frozen=True)
class Stimulus:
    """One ``[[stim]]`` entry; times in ms, amplitude in pA."""

    kind: str
    target: StimTarget
    amplitude_pa: float
    start_ms: float = 0.0
    stop_ms: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario file; times in ms."""

    name: str
    kind: str
    regions: tuple[str, ...]
    hemisphere: str | None
    fraction: float
    models: str
    seed: int
    stimuli: tuple[Stimulus, ...]
    duration_ms: float
    warmup_ms: float
    dt_ms: float
    band_hz: tuple[float, float] = (30.0, 50.0)
    resolution_hz: float = 2.0
    column_radius_um: float = 300.0
    topography: float | None = None
    mossy_share: float = 0.5
    coherence_with: tuple[str, ...] = ()
    vector_strength_of: tuple[str, ...] = ()
    centroid_areas: tuple[str, ...] = ()
    n_surrogates: int = 100
    gamma_checks: bool = True
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _quantity(value: Any, unit: str, what: str, example: str, owner: str) -> float:
    """A string quantity such as '200 ms' as a finite float in ``unit``."""
    from zentai import units as u
    from zentai.errors import UnitError

    if not isinstance(value, str):
        raise SpecError(f"{owner} must be a {what} with a unit, e.g. '{example}'; got {value!r}.")
    try:
        v = float(u.to_canonical(value, unit, owner=owner))
    except UnitError:
        raise SpecError(f"{owner} must be a {what}, e.g. '{example}'; got {value!r}.") from None
    if not math.isfinite(v):
        raise SpecError(f"{owner} must be a finite {what}; got {value!r}.")
    return v


def _time_ms(value: Any, owner: str) -> float:
    return _quantity(value, "ms", "time", "200 ms", owner)


def _current_pa(value: Any, owner: str) -> float:
    return _quantity(value, "pA", "current", "300 pA", owner)


def scenario_path(name_or_path: str | Path) -> Path:
    """The file of a built-in scenario name, or ``name_or_path`` itself if it is a file."""
    from zentai.io.packaged import builtin_or_file

    return builtin_or_file(name_or_path, SCENARIOS, __name__, "scenario", "scenario TOML")


def is_scenario_file(path: str | Path) -> bool:
    """Whether the TOML file ``path`` has a ``[scenario]`` table (and is not a network spec)."""
    try:
        with open(path, "rb") as f:
            return isinstance(tomllib.load(f).get("scenario"), dict)
    except (OSError, tomllib.TOMLDecodeError):
        return False


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario (built-in name or TOML path); see the module docstring."""
    path = scenario_path(name_or_path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"scenario file {str(path)!r} is not valid TOML: {exc}.") from None
    _check_keys(data, tuple(_TABLES), f"scenario file {str(path)!r}")
    tables = {}
    for key in ("scenario", "build", "run", "analysis"):
        t = data.get(key, {})
        if not isinstance(t, dict):
            raise SpecError(f"[{key}] must be a table; got {t!r}.")
        _check_keys(t, _TABLES[key], f"[{key}]")
        tables[key] = t
    sc, build, run, analysis = (tables[k] for k in ("scenario", "build", "run", "analysis"))

    name = sc.get("name", path.stem)
    kind = sc.get("kind", "cortex")
    if kind not in _KINDS:
        raise SpecError(
            f"scenario.kind must be one of {', '.join(map(repr, _KINDS))}; got {kind!r}."
        )
    regions = build.get("regions", ["MOp"])
    if isinstance(regions, str):
        regions = [regions]
    if not (isinstance(regions, list) and regions and all(isinstance(r, str) for r in regions)):
        raise SpecError(f"build.regions must be a list of region acronyms; got {regions!r}.")
    hemisphere = build.get("hemisphere", "left")
    if hemisphere not in ("left", "right", "both"):
        raise SpecError(f"build.hemisphere must be 'left', 'right' or 'both'; got {hemisphere!r}.")
    fraction = _number(build.get("fraction", 0.01), "build.fraction", low=0, low_open=True)
    if fraction > 1:
        raise SpecError(f"build.fraction must be in (0, 1]; got {fraction!r}.")
    models = build.get("models", "izhikevich")
    if models not in ("lif", "izhikevich"):
        raise SpecError(f"build.models must be 'lif' or 'izhikevich'; got {models!r}.")
    seed = build.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError(f"build.seed must be an integer >= 0; got {seed!r}.")

    stims = data.get("stim", [])
    if not isinstance(stims, list) or not stims:
        raise SpecError("a scenario needs at least one [[stim]] table; got none.")
    stimuli = []
    for i, st in enumerate(stims):
        owner = f"stim[{i}]"
        if not isinstance(st, dict):
            raise SpecError(f"{owner} must be a table; got {st!r}.")
        _check_keys(st, _TABLES["stim"], owner)
        if st.get("kind", "DC") != "DC":
            raise SpecError(f"{owner}.kind must be 'DC'; got {st.get('kind')!r}.")
        target = st.get("target")
        if not isinstance(target, dict):
            raise SpecError(f"{owner}.target must be a table {{layer = ..., ...}}; got {target!r}.")
        _check_keys(target, _TARGET_KEYS, f"{owner}.target")
        if "layer" not in target:
            raise SpecError(f'{owner}.target must name a layer, e.g. layer = "L2/3".')
        if "amplitude" not in st:
            raise SpecError(f'{owner}.amplitude must be given, e.g. amplitude = "300 pA".')
        stop = st.get("stop")
        stimulus = Stimulus(
            kind="DC",
            target=StimTarget(**target),
            amplitude_pa=_current_pa(st["amplitude"], f"{owner}.amplitude"),
            start_ms=_time_ms(st.get("start", "0 ms"), f"{owner}.start"),
            stop_ms=None if stop is None else _time_ms(stop, f"{owner}.stop"),
        )
        if stimulus.start_ms < 0 or (
            stimulus.stop_ms is not None and stimulus.stop_ms <= stimulus.start_ms
        ):
            raise SpecError(f"{owner} must have 0 <= start < stop; got {st!r}.")
        stimuli.append(stimulus)

    duration = _time_ms(run.get("duration", "1 s"), "run.duration")
    warmup = _time_ms(run.get("warmup", "200 ms"), "run.warmup")
    dt = _time_ms(run.get("dt", "0.1 ms"), "run.dt")
    if duration <= 0 or warmup < 0 or dt <= 0:
        raise SpecError(f"[run] needs duration > 0, warmup >= 0 and dt > 0; got {run!r}.")
    band = analysis.get("band", [30, 50])
    if not (isinstance(band, list) and len(band) == 2):
        raise SpecError(f"analysis.band must be [low, high] in Hz; got {band!r}.")
    lo = _number(band[0], "analysis.band[0]", low=0, low_open=True)
    hi = _number(band[1], "analysis.band[1]", low=0, low_open=True)
    if hi <= lo:
        raise SpecError(f"analysis.band must be [low, high] with low < high; got {band!r}.")
    names = {}
    for key in ("coherence_with", "vector_strength_of", "centroid_areas"):
        v = analysis.get(key, [])
        if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise SpecError(f"analysis.{key} must be a list of names; got {v!r}.")
        names[key] = tuple(v)
    gamma_checks = analysis.get("gamma_checks", True)
    if not isinstance(gamma_checks, bool):
        raise SpecError(f"analysis.gamma_checks must be true or false; got {gamma_checks!r}.")
    n_sur = analysis.get("n_surrogates", 100)
    if isinstance(n_sur, bool) or not isinstance(n_sur, int) or n_sur < 20:
        raise SpecError(f"analysis.n_surrogates must be an integer >= 20; got {n_sur!r}.")
    topography = build.get("topography")
    if topography is not None:
        topography = _number(topography, "build.topography", low=0, low_open=True)
    mossy_share = _number(build.get("mossy_share", 0.5), "build.mossy_share", low=0)
    if mossy_share > 1:
        raise SpecError(f"build.mossy_share must be in [0, 1]; got {mossy_share!r}.")
    return Scenario(
        name=str(name),
        kind=kind,
        regions=tuple(regions),
        hemisphere=None if hemisphere == "both" else hemisphere,
        fraction=fraction,
        models=models,
        seed=seed,
        stimuli=tuple(stimuli),
        duration_ms=duration,
        warmup_ms=warmup,
        dt_ms=dt,
        band_hz=(lo, hi),
        resolution_hz=_number(
            analysis.get("resolution_hz", 2), "analysis.resolution_hz", low=0, low_open=True
        ),
        column_radius_um=_number(
            analysis.get("column_radius_um", 300),
            "analysis.column_radius_um",
            low=0,
            low_open=True,
        ),
        topography=topography,
        mossy_share=mossy_share,
        n_surrogates=n_sur,
        gamma_checks=gamma_checks,
        **names,
        source=str(path),
        raw=data,
    )
