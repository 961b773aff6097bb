"""What the differentiable operations share: reading operands, result dtypes, and the
"does this input need a gradient" test that lets a backward skip work nobody asked for."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import autograd
from paramtool.core.autograd import record, record_multi, unbroadcast
from paramtool.core.promotion import category, result_type

__all__ = ["arr", "category", "needs", "operands", "record", "record_multi", "unbroadcast", "xp_of"]


def constant(array: Any) -> Any:
    """An array as a tensor outside any graph (a mask, indices, a fixed value)."""
    return autograd._wrap(array)


def blas_ready(a: Any) -> Any:
    """``a`` laid out so that a stacked matrix product runs on BLAS: numpy multiplies stacks of
    strided matrices (e.g. heads split out of a wider row) element by element, many times
    slower than copying them first. 2-d and (transposed) contiguous stacks pass unchanged."""
    if a.ndim <= 2 or a.flags.c_contiguous or a.swapaxes(-1, -2).flags.c_contiguous:
        return a
    from paramtool.core.device import device_of  # noqa: PLC0415

    return device_of(a).xp.ascontiguousarray(a)


def matmul_array(a: Any, b: Any) -> Any:
    """``a @ b`` for arrays (numpy's rules), always on BLAS: a stack against a matrix folds into
    one 2-d product; other stacks are flattened to one batch dimension and, on numpy, multiplied
    matrix by matrix (numpy's own stacked product is several times slower than a loop of BLAS
    calls, and hundreds of times slower on 4-d stacks of transposed views)."""
    if a.ndim <= 2 and b.ndim <= 2:
        return a @ b
    if b.ndim == 2:
        return (a.reshape(-1, a.shape[-1]) @ b).reshape(*a.shape[:-1], b.shape[-1])
    if a.ndim == 1 or b.ndim == 1:
        return a @ b
    from paramtool.core.device import device_of  # noqa: PLC0415

    xp = device_of(a).xp
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    a3 = xp.broadcast_to(a, batch + a.shape[-2:]).reshape(-1, *a.shape[-2:])
    b3 = xp.broadcast_to(b, batch + b.shape[-2:]).reshape(-1, *b.shape[-2:])
    if xp is not np:
        return (blas_ready(a3) @ blas_ready(b3)).reshape(*batch, a.shape[-2], b.shape[-1])
    out = np.empty((a3.shape[0], a.shape[-2], b.shape[-1]), dtype=np.result_type(a, b))
    for i in range(a3.shape[0]):
        np.matmul(a3[i], b3[i], out=out[i])
    return out.reshape(*batch, a.shape[-2], b.shape[-1])


def along(index: Any, axis: int) -> tuple[Any, ...]:
    """The advanced index that reads ``index`` along ``axis`` and every other axis in place
    (``take_along_axis``/``put_along_axis`` as plain indexing, which numpy and cupy share)."""
    from paramtool.core.device import device_of  # noqa: PLC0415

    xp = device_of(index).xp
    axis %= index.ndim
    grids = []
    for d, n in enumerate(index.shape):
        shape = [1] * index.ndim
        shape[d] = n
        grids.append(index if d == axis else xp.arange(n).reshape(shape))
    return tuple(grids)


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


__all__ += [
    "blas_ready",
    "matmul_array",
    "cast",
    "constant",
    "dim_tuple",
    "float_dtype",
    "is_tensor",
    "shape_of",
    "tensor_of",
]
