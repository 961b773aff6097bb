"""What the differentiable operations share: reading operands, result dtypes, and the
"does this input need a gradient" test that lets a backward skip work nobody asked for."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import autograd
from paramtool.core.autograd import record, record_multi, unbroadcast
from paramtool.core.promotion import category, result_type

__all__ = ["arr", "category", "needs", "operands", "record", "record_multi", "unbroadcast", "xp_of"]


def is_tensor(value: Any) -> bool:
    """True for paramtool tensors (anything with a storage cell)."""
    return hasattr(value, "_cell")


def arr(value: Any) -> Any:
    """A tensor's array (materialised); other values unchanged (numpy scalars become Python)."""
    if hasattr(value, "_cell"):
        return value._array()
    if isinstance(value, np.generic):
        return value.item()
    return value


def needs(value: Any) -> bool:
    """True when ``value`` is a tensor whose gradient the current graph must compute."""
    return autograd._enabled and getattr(value, "_requires_grad", False)


def xp_of(*values: Any) -> Any:
    """The array module (numpy or cupy) of the first tensor among ``values``."""
    for value in values:
        if hasattr(value, "_cell"):
            return value.device.xp
    return np


def tensor_of(value: Any, like: Any) -> Any:
    """``value`` as a tensor on ``like``'s device (scalars and arrays are wrapped)."""
    if hasattr(value, "_cell"):
        return value
    from paramtool.core.tensor import from_array  # noqa: PLC0415 - tensor imports ops

    xp = like.device.xp
    return from_array(xp.asarray(value, dtype=result_type(like, value)))


def operands(input: Any, other: Any) -> tuple[Any, Any, np.dtype | None]:  # noqa: A002
    """Both operands' arrays (or Python scalars) and PyTorch's result dtype."""
    return arr(input), arr(other), result_type(input, other)


def cast(array: Any, dtype: np.dtype | None) -> Any:
    """``array`` in ``dtype`` (a Python scalar result becomes a 0-d array)."""
    if dtype is None:
        return array
    if not hasattr(array, "dtype"):
        return np.asarray(array, dtype=dtype)
    return array if array.dtype == dtype else array.astype(dtype)


def float_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype`` if floating point, else float32 (what PyTorch's float functions return)."""
    return dtype if category(dtype) == 2 else np.dtype(np.float32)


def shape_of(value: Any) -> tuple[int, ...]:
    """The shape of a tensor or array (``()`` for a scalar)."""
    return tuple(getattr(value, "shape", ()))


def dim_tuple(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """A reduction's ``dim`` argument as a tuple of non-negative axes (None: all)."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    if not dims:
        return None
    return tuple(int(d) % max(ndim, 1) for d in dims)


__all__ += ["cast", "dim_tuple", "float_dtype", "is_tensor", "shape_of", "tensor_of"]
