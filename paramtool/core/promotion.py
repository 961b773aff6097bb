"""PyTorch's type promotion and dtype checks for Tensor arithmetic.

Categories rank bool < integer < floating point. Tensors with dimensions decide a result's
dtype; a 0-d tensor or a Python scalar changes it only when its category is higher.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core.dtypes import dtype_name

#: PyTorch's scalar-type names that are not the dtype's name capitalised (``int64`` -> ``Long``).
_STEMS = {
    "float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
    "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
    "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64",
}  # fmt: skip


def dtype_stem(dtype: np.dtype) -> str:
    """PyTorch's scalar-type name of a dtype, as its messages write it: ``Float``, ``Long``."""
    name = dtype_name(dtype)
    return _STEMS.get(name, name[:1].upper() + name[1:])


def category(dtype: np.dtype) -> int:
    """0 for bool, 1 for integers, 2 for floating point: PyTorch's promotion categories."""
    return 0 if dtype.kind == "b" else (1 if dtype.kind in "iu" else 2)


def _promote(a: np.dtype | None, b: np.dtype | None) -> np.dtype | None:
    """PyTorch's ``promote_types`` for the dtypes paramtool holds (None is "no operand")."""
    if a is None or b is None or a == b:
        return b if a is None else a
    if category(a) != category(b):
        return a if category(a) > category(b) else b
    if category(a) == 2:
        if np.dtype(np.float64) in (a, b):
            return np.dtype(np.float64)
        if a.itemsize == b.itemsize:  # bfloat16 with float16
            return np.dtype(np.float32)
        return a if a.itemsize > b.itemsize else b
    return np.promote_types(a, b)


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """A lower-priority group's dtype counts only when its category is higher."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if category(higher) == 2:
        return higher
    if category(higher) == 0 or category(lower) == 2:
        return _promote(higher, lower)
    return higher


def result_type(*operands: Any) -> np.dtype | None:
    """The dtype PyTorch gives an arithmetic result of ``operands``; None if one is unknown.

    Tensors with dimensions decide; a 0-d tensor or a Python scalar changes the result only
    when its category (bool < integer < floating) is higher, and a Python float then gives
    float32 (PyTorch's default dtype): ``float16 tensor * tensor(2.0)`` stays float16.
    """
    dims: np.dtype | None = None
    zeros: np.dtype | None = None
    scalars: np.dtype | None = None
    for x in operands:
        if hasattr(x, "dtype") and hasattr(x, "ndim") and not isinstance(x, np.generic):
            if x.ndim:
                dims = _promote(dims, np.dtype(x.dtype))
            else:
                zeros = _promote(zeros, np.dtype(x.dtype))
        elif isinstance(x, bool | np.bool_):
            scalars = _promote(scalars, np.dtype(np.bool_))
        elif isinstance(x, int | np.integer):
            scalars = _promote(scalars, np.dtype(np.int64))
        elif isinstance(x, float | np.floating):
            scalars = _promote(scalars, np.dtype(np.float32))
        else:
            return None
    return _combine(dims, _combine(zeros, scalars))


def check_random_dtype(dtype: np.dtype, kernel: str) -> None:
    """PyTorch's error for random values of a non-floating-point dtype."""
    if category(dtype) < 2:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dtype_stem(dtype)}'")
