"""dtypes: numpy dtypes, with ml_dtypes for bfloat16 and the float8 family.

One table maps paramtool's (PyTorch-style) names to numpy dtypes; everything else is derived
from it. ``paramtool.float32`` *is* ``numpy.dtype("float32")``, so arrays and tensors agree.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from paramtool.errors import DTypeError

DType = np.dtype

#: PyTorch name -> numpy dtype. The first name given for a dtype is its canonical name.
_TABLE: dict[str, np.dtype] = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
    "float8_e4m3fnuz": np.dtype(ml_dtypes.float8_e4m3fnuz),
    "float8_e5m2fnuz": np.dtype(ml_dtypes.float8_e5m2fnuz),
    "float8_e8m0fnu": np.dtype(ml_dtypes.float8_e8m0fnu),
    "int64": np.dtype(np.int64),
    "int32": np.dtype(np.int32),
    "int16": np.dtype(np.int16),
    "int8": np.dtype(np.int8),
    "uint64": np.dtype(np.uint64),
    "uint32": np.dtype(np.uint32),
    "uint16": np.dtype(np.uint16),
    "uint8": np.dtype(np.uint8),
    "bool": np.dtype(np.bool_),
}

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
bfloat16 = _TABLE["bfloat16"]
float8_e4m3fn = _TABLE["float8_e4m3fn"]
float8_e5m2 = _TABLE["float8_e5m2"]
float8_e4m3fnuz = _TABLE["float8_e4m3fnuz"]
float8_e5m2fnuz = _TABLE["float8_e5m2fnuz"]
float8_e8m0fnu = _TABLE["float8_e8m0fnu"]
int64 = long = _TABLE["int64"]
int32 = int = _TABLE["int32"]  # noqa: A001
int16 = short = _TABLE["int16"]
int8 = _TABLE["int8"]
uint64 = _TABLE["uint64"]
uint32 = _TABLE["uint32"]
uint16 = _TABLE["uint16"]
uint8 = _TABLE["uint8"]
bool = _TABLE["bool"]  # noqa: A001

_FLOATING = {dt for name, dt in _TABLE.items() if "float" in name}


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
        if key in _TABLE:
            return _TABLE[key]
        raise DTypeError(f"unknown dtype {value!r}; expected one of {', '.join(_TABLE)}")
    try:
        dt = np.dtype(value)  # type: ignore[call-overload]
    except TypeError as exc:
        raise DTypeError(f"unknown dtype {value!r}") from exc
    if dt not in _NAMES:
        raise DTypeError(f"dtype {dt} is not supported; expected one of {', '.join(_TABLE)}")
    return dt


def dtype_name(dtype: np.dtype) -> str:
    """The PyTorch-style name of a dtype (``"float32"``, ``"bfloat16"``, ``"float8_e4m3fn"``)."""
    return _NAMES.get(np.dtype(dtype), str(dtype))


def is_floating_point(dtype: np.dtype) -> bool:
    """True for float64/32/16, bfloat16 and the float8 family."""
    return np.dtype(dtype) in _FLOATING


def all_dtypes() -> dict[str, np.dtype]:
    """Every dtype paramtool supports, by canonical name."""
    return dict(_TABLE)
