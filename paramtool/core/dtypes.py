"""dtypes: numpy dtypes, with ml_dtypes for bfloat16 and the float8 family.

One table maps paramtool's (PyTorch-style) names to numpy dtypes; everything else is derived
from it. ``paramtool.float32`` *is* ``numpy.dtype("float32")``, so arrays and tensors agree.

The dtypes numpy has are in the table from the start. Those ml_dtypes provides (bfloat16 and
the float8 family) are resolved the first time one is asked for, by name or as an attribute
(``paramtool.bfloat16``): importing ml_dtypes takes longer than the rest of paramtool together,
and a float32 model never needs it. An array of an ml_dtypes dtype cannot exist before ml_dtypes
is imported, so lookups by dtype resolve the table only once it is.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from paramtool.errors import DTypeError

DType = np.dtype

#: Canonical names in the table's order; the ml_dtypes ones are resolved on first use.
NAMES: tuple[str, ...] = (
    "float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2",
    "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "int64", "int32", "int16", "int8",
    "uint64", "uint32", "uint16", "uint8", "bool",
)  # fmt: skip

#: The names whose dtype ml_dtypes provides (all floating point).
EXTENDED: frozenset[str] = frozenset(
    name for name in NAMES if name.startswith(("bfloat", "float8"))
)

#: PyTorch name -> numpy dtype; ml_dtypes entries are added by :func:`_resolve_extended`.
_TABLE: dict[str, np.dtype] = {name: np.dtype(name) for name in NAMES if name not in EXTENDED}

#: PyTorch's aliases.
_ALIASES: dict[str, str] = {
    "double": "float64",
    "float": "float32",
    "half": "float16",
    "bf16": "bfloat16",
    "fp64": "float64",
    "fp32": "float32",
    "fp16": "float16",
    "long": "int64",
    "int": "int32",
    "short": "int16",
}

_NAMES: dict[np.dtype, str] = {dt: name for name, dt in _TABLE.items()}

float64 = double = _TABLE["float64"]
float32 = float = _TABLE["float32"]  # noqa: A001 - PyTorch's alias, shadowing is intended
float16 = half = _TABLE["float16"]
int64 = long = _TABLE["int64"]
int32 = int = _TABLE["int32"]  # noqa: A001
int16 = short = _TABLE["int16"]
int8 = _TABLE["int8"]
uint64 = _TABLE["uint64"]
uint32 = _TABLE["uint32"]
uint16 = _TABLE["uint16"]
uint8 = _TABLE["uint8"]
bool = _TABLE["bool"]  # noqa: A001


def _resolve_extended() -> None:
    """Import ml_dtypes and add bfloat16 and the float8 family to the table (once)."""
    if "bfloat16" in _TABLE:
        return
    import ml_dtypes  # noqa: PLC0415 - only a bfloat16/float8 dtype pays for the import

    for name in NAMES:
        if name in EXTENDED:
            dt = np.dtype(getattr(ml_dtypes, name))
            _TABLE[name] = dt
            _NAMES[dt] = name
    _TABLE.update({name: _TABLE.pop(name) for name in NAMES})  # keep the table's order


def __getattr__(name: str) -> Any:
    """``dtypes.bfloat16`` and the float8 names: resolved (importing ml_dtypes) on first use."""
    if name in EXTENDED:
        _resolve_extended()
        return _TABLE[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _known(dt: np.dtype) -> str | None:
    """The canonical name of a dtype object, or None."""
    name = _NAMES.get(dt)
    if name is None and "ml_dtypes" in sys.modules:
        _resolve_extended()
        name = _NAMES.get(dt)
    return name


def as_dtype(value: object) -> np.dtype:
    """Return the numpy dtype for a paramtool dtype, a numpy dtype or type, or a name.

    Args:
        value: ``paramtool.float32``, ``numpy.float32``, ``"float32"``, ``"bf16"``, ...

    Raises:
        DTypeError: the value names no dtype paramtool knows.
    """
    if isinstance(value, str):
        key = value.strip().lower().removeprefix("torch.").removeprefix("paramtool.")
        key = _ALIASES.get(key, key)
        if key in EXTENDED:
            _resolve_extended()
        if key in _TABLE:
            return _TABLE[key]
        raise DTypeError(f"unknown dtype {value!r}; expected one of {', '.join(NAMES)}")
    try:
        dt = np.dtype(value)  # type: ignore[call-overload]
    except TypeError as exc:
        raise DTypeError(f"unknown dtype {value!r}") from exc
    if _known(dt) is None:
        raise DTypeError(f"dtype {dt} is not supported; expected one of {', '.join(NAMES)}")
    return dt


def dtype_name(dtype: np.dtype) -> str:
    """The PyTorch-style name of a dtype (``"float32"``, ``"bfloat16"``, ``"float8_e4m3fn"``)."""
    dt = np.dtype(dtype)
    return _known(dt) or str(dt)


def is_floating_point(dtype: np.dtype) -> bool:
    """True for float64/32/16, bfloat16 and the float8 family."""
    dt = np.dtype(dtype)
    return dt in (float64, float32, float16) or _known(dt) in EXTENDED


def all_dtypes() -> dict[str, np.dtype]:
    """Every dtype paramtool supports, by canonical name (this resolves the ml_dtypes ones)."""
    _resolve_extended()
    return dict(_TABLE)


def finfo(dtype: Any) -> Any:
    """Machine limits of a floating-point dtype (``numpy.finfo``, or ml_dtypes' for its own).

    Args:
        dtype: A floating-point dtype, or its name.
    """
    dt = as_dtype(dtype)
    if dtype_name(dt) in EXTENDED:
        import ml_dtypes  # noqa: PLC0415 - already imported: such a dtype exists

        return ml_dtypes.finfo(dt)
    return np.finfo(dt)


class DTypeTable(Mapping[str, np.dtype]):
    """A format's dtype codes mapped to numpy dtypes, resolving ml_dtypes ones on first use.

    A safetensors header of float32 tensors is read without importing ml_dtypes; the first
    ``BF16`` looked up imports it.

    Args:
        names: Code -> dtype name (a paramtool name, or another numpy name such as
            ``complex64``), in the format's order.
    """

    def __init__(self, names: Mapping[str, str]) -> None:
        self._names = dict(names)

    def __getitem__(self, code: str) -> np.dtype:
        name = self._names[code]
        return as_dtype(name) if name in EXTENDED else np.dtype(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def code_of(self, dtype: Any) -> str | None:
        """The code of a numpy dtype (native byte order), or None when the format has none."""
        dt = np.dtype(dtype)
        name = _known(dt) or dt.name
        return next((code for code, n in self._names.items() if n == name), None)
