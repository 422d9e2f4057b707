"""Options that change no results (progress bars, logging); see :func:`set_options`."""

from __future__ import annotations

from typing import Any

from zentai.errors import SpecError, closest

__all__ = ["get_option", "set_options"]

# cuda_graphs: replay the Triton backend's steps from captured CUDA graphs (same results;
# off only to compare speeds or to debug)
_OPTIONS: dict[str, Any] = {"progress": True, "progress_min_s": 2.0, "cuda_graphs": True}
_VALIDATORS = {
    "progress": lambda v: isinstance(v, bool),
    "progress_min_s": lambda v: isinstance(v, (int, float)) and v >= 0,
    "cuda_graphs": lambda v: isinstance(v, bool),
}
_EXPECTED = {
    "progress": "True or False",
    "progress_min_s": "a number of seconds >= 0",
    "cuda_graphs": "True or False",
}


def get_option(name: str) -> Any:
    """Return the current value of option ``name``."""
    return _OPTIONS[name]


class set_options:
    """Set display options globally, or temporarily as a context manager.

    Examples
    --------
    >>> import zentai as zt
    >>> with zt.set_options(progress=False):
    ...     zt.options.get_option("progress")
    False
    """

    def __init__(self, **kwargs: Any) -> None:
        self._old = {}
        for key, value in kwargs.items():
            if key not in _OPTIONS:
                raise SpecError(f"Unknown option {key!r}; {closest(key, _OPTIONS)}.")
            if not _VALIDATORS[key](value):
                raise SpecError(f"Option {key!r} must be {_EXPECTED[key]}; got {value!r}.")
            self._old[key] = _OPTIONS[key]
        _OPTIONS.update(kwargs)

    def __enter__(self) -> set_options:
        return self

    def __exit__(self, *exc: object) -> None:
        _OPTIONS.update(self._old)
