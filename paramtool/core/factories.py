"""Tensor factories, PyTorch's names and signatures. All but ``tensor``/``from_numpy`` defer.

``paramtool.randn(1, 1, 768)`` allocates nothing: it records ``normal(0, 1)``; the values appear
when something needs them, keyed by the parameter's name when it is materialised through a
model (see ``paramtool.core.random``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import recipes
from paramtool.core.dtypes import as_dtype
from paramtool.core.promotion import check_random_dtype
from paramtool.core.random import Generator
from paramtool.core.tensor import Tensor, from_array


def _shape(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and not isinstance(size[0], int | np.integer):
        return tuple(int(n) for n in size[0])
    return tuple(int(n) for n in size)


def _make(
    size: tuple[Any, ...],
    recipe: recipes.Recipe,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    generator: Generator | None = None,
) -> Tensor:
    return Tensor._deferred(_shape(size), recipe, dtype, device, requires_grad, generator)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A deferred tensor of zeros."""
    if any(n < 0 for n in _shape(size)):
        raise RuntimeError("zeros: Dimension size must be non-negative.")
    return _make(size, recipes.Constant(0), dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A deferred tensor of ones."""
    return _make(size, recipes.Constant(1), dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A deferred tensor with unspecified values (paramtool gives zeros when it is made real)."""
    return _make(size, recipes.Constant(0), dtype, device, requires_grad)


def full(
    size: Any, fill_value: float, *, dtype: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """A deferred tensor every element of which is ``fill_value``."""
    if dtype is None:
        dtype = np.bool_ if isinstance(fill_value, bool) else (
            np.int64 if isinstance(fill_value, int) else np.float32)  # fmt: skip
    return _make((size,), recipes.Constant(fill_value), dtype, device, requires_grad)


def rand(
    *size: Any, generator: Generator | None = None, dtype: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """A deferred tensor uniform on [0, 1).

    Raises:
        NotImplementedError: ``dtype`` is not floating-point (PyTorch's error).
    """
    check_random_dtype(as_dtype(dtype or np.float32), "check_uniform_bounds")
    return _make(size, recipes.Uniform(0.0, 1.0), dtype, device, requires_grad, generator)


def randn(
    *size: Any, generator: Generator | None = None, dtype: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """A deferred tensor of standard normal values.

    Raises:
        NotImplementedError: ``dtype`` is not floating-point (PyTorch's error).
    """
    check_random_dtype(as_dtype(dtype or np.float32), "normal_kernel_cpu")
    return _make(size, recipes.Normal(0.0, 1.0), dtype, device, requires_grad, generator)


def arange(
    start: float, end: float | None = None, step: float = 1, *, dtype: Any = None,
    device: Any = None, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """A deferred 1-d tensor ``start, start + step, ...`` below ``end`` (like ``torch.arange``)."""
    if end is None:
        start, end = 0, start
    count = max(0, int(np.ceil((end - start) / step)))
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, end, step))
        dtype = np.int64 if is_int else np.float32
    return _make((count,), recipes.Arange(start, step), dtype, device, requires_grad)


def _like(fn: Any) -> Any:
    def like(
        other: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return fn(*other.shape, dtype=dtype or other.dtype, device=device or other.device,
                  requires_grad=requires_grad)  # fmt: skip

    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"Like ``{fn.__name__}``, with ``other``'s shape, dtype and device."
    return like


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)
rand_like, randn_like = _like(rand), _like(randn)


def full_like(other: Tensor, fill_value: float, *, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``full``, with ``other``'s shape, dtype and device."""
    return full(other.shape, fill_value, dtype=dtype or other.dtype, device=device or other.device)


def tensor(
    data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """A real tensor holding a copy of ``data`` (nested lists, scalars, arrays or a Tensor).

    Python floats become float32 and ints int64, as in PyTorch.
    """
    if isinstance(data, Tensor):
        data = data.cpu().numpy()
    array = np.array(data)
    if dtype is not None:
        array = array.astype(as_dtype(dtype))
    elif array.dtype == np.float64 and not (
        isinstance(data, np.ndarray) and data.dtype == np.float64
    ):
        array = array.astype(np.float32)
    result = from_array(array, requires_grad)
    return result if device is None else result.to(device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a numpy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return from_array(array)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor: a Tensor itself when dtype and device already match."""
    if isinstance(data, Tensor):
        return data.to(device=device or data.device, dtype=dtype or data.dtype)
    return tensor(data, dtype=dtype, device=device)


def linspace(
    start: float, end: float, steps: int, *, dtype: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float32 by default).

    Like PyTorch, the first half is computed up from ``start`` and the second half down from
    ``end``, so both ends are exact.
    """
    dtype = as_dtype(dtype or np.float32)
    values = _symmetric_linspace(float(start), float(end), int(steps))
    result = from_array(values.astype(dtype), requires_grad)
    return result if device is None else result.to(device)


def _symmetric_linspace(start: float, end: float, steps: int) -> np.ndarray:
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    if steps <= 1:
        return np.full(steps, start, dtype=np.float64)
    step = (end - start) / (steps - 1)
    index = np.arange(steps, dtype=np.float64)
    half = steps // 2
    return np.where(index < half, start + step * index, end - step * (steps - 1 - index))


def logspace(
    start: float, end: float, steps: int, base: float = 10.0, *, dtype: Any = None,
    device: Any = None, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """``base ** linspace(start, end, steps)``."""
    dtype = as_dtype(dtype or np.float32)
    values = np.power(base, _symmetric_linspace(float(start), float(end), int(steps)))
    result = from_array(values.astype(dtype), requires_grad)
    return result if device is None else result.to(device)


def eye(
    n: int, m: int | None = None, *, dtype: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """The ``n x m`` identity matrix."""
    result = from_array(np.eye(n, m, dtype=as_dtype(dtype or np.float32)), requires_grad)
    return result if device is None else result.to(device)


def randint(
    low: int, high: int | None = None, size: Any = None, *, generator: Generator | None = None,
    dtype: Any = None, device: Any = None, requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """Integers uniform on ``[low, high)`` (``randint(high, size)`` as in PyTorch)."""
    if size is None:
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    shape = _shape((size,))
    uniform = rand(*shape, generator=generator, dtype=np.float64)._array()
    values = np.floor(low + uniform * (high - low)).astype(as_dtype(dtype or np.int64))
    result = from_array(values, requires_grad)
    return result if device is None else result.to(device)


def randperm(
    n: int, *, generator: Generator | None = None, dtype: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:  # fmt: skip
    """A random permutation of ``0 .. n-1``."""
    keys = rand(n, generator=generator, dtype=np.float64)._array()
    result = from_array(np.argsort(keys, kind="stable").astype(as_dtype(dtype or np.int64)))
    return result if device is None else result.to(device)
