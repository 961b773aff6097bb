"""A numpy-backed stand-in for the part of cupy that paramtool uses; for tests only.

Arrays are :class:`cupy.ndarray` objects holding numpy memory tagged with a device id (see
``_core``). Nothing here runs on a GPU: it checks that the caller keeps to cupy's API and rules
(host/device boundary, supported dtypes, current device), not that cupy or CUDA compute right.
Every function below exists in real cupy with this signature; see the test module's docstring.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cupy import cuda, linalg, random
from cupy._core import (
    PerformanceWarning,
    _on_device,
    check_dtype,
    current_device_id,
    ndarray,
    unwrap_operand,
    wrap,
)

__version__ = "13.6.0+fake"
__all__ = ["PerformanceWarning", "cuda", "linalg", "ndarray", "random"]

float16, float32, float64 = np.float16, np.float32, np.float64
int32, int64, bool_ = np.int32, np.int64, np.bool_


# -- creation (cupy.empty / zeros / arange / asarray) ----------------------------------------


def empty(shape: Any, dtype: Any = float, order: str = "C") -> ndarray:
    return wrap(np.empty(shape, check_dtype(dtype), order))


def zeros(shape: Any, dtype: Any = float, order: str = "C") -> ndarray:
    return wrap(np.zeros(shape, check_dtype(dtype), order))


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> ndarray:
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    return wrap(values.astype(check_dtype(dtype)) if dtype is not None else values)


def asarray(a: Any, dtype: Any = None, order: Any = None) -> ndarray:
    """On the current device: no copy when already there, else a copy (host or another GPU)."""
    here = current_device_id()
    if isinstance(a, ndarray):
        if a._device_id == here:
            return a.astype(dtype, copy=False) if dtype is not None else a
        moved = ndarray._of(a._a.copy(), here)
        return moved.astype(dtype, copy=False) if dtype is not None else moved
    host = np.array(a, dtype=dtype, copy=True)
    check_dtype(host.dtype)  # cupy: ValueError('Unsupported dtype ...') for e.g. bfloat16
    return ndarray._of(host, here)


array = asarray


def asnumpy(a: Any) -> np.ndarray:
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def shares_memory(a: ndarray, b: ndarray, max_work: Any = None) -> bool:
    return bool(np.shares_memory(a._a, b._a))


def ascontiguousarray(a: ndarray, dtype: Any = None) -> ndarray:
    return wrap(np.ascontiguousarray(unwrap_operand(a), dtype), a._device_id)


def _view_routine(func: Any) -> Any:
    """Routines returning views keep the input's device (cupy: same memory)."""

    def routine(a: ndarray, *args: Any, **kwargs: Any) -> ndarray:
        return wrap(func(unwrap_operand(a), *args, **kwargs), a._device_id)

    routine.__name__ = func.__name__
    return routine


broadcast_to = _view_routine(np.broadcast_to)
swapaxes = _view_routine(np.swapaxes)
expand_dims = _view_routine(np.expand_dims)
diagonal = _view_routine(np.diagonal)
reshape = _view_routine(np.reshape)
transpose = _view_routine(np.transpose)

# elementwise functions and routines paramtool calls through ``xp``
sqrt = _on_device(np.sqrt)
exp = _on_device(np.exp)
log = _on_device(np.log)
log1p = _on_device(np.log1p)
subtract = _on_device(np.subtract)
copysign = _on_device(np.copysign)
sign = _on_device(np.sign)
clip = _on_device(np.clip)
isfinite = _on_device(np.isfinite)
flatnonzero = _on_device(np.flatnonzero)
tril = _on_device(np.tril)
triu = _on_device(np.triu)
einsum = _on_device(np.einsum)
matmul = _on_device(np.matmul)
concatenate = _on_device(np.concatenate)
