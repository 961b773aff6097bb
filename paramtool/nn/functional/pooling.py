"""Window pooling (``torch.nn.functional``): max, average and power-average pools over 1-3
spatial dimensions, with their backward passes. Adaptive and fractional pools and max
unpooling are in ``adaptive_pooling``.

Inputs may be batched ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``. Window geometry,
``ceil_mode`` and the padding rules are PyTorch's (``_pool_arrays``).
"""

from __future__ import annotations

import math
from typing import Any

from paramtool.core.autograd import record, record_multi
from paramtool.nn.functional import _pool_arrays as arrays
from paramtool.nn.functional._args import expand, needs_grad
from paramtool.nn.functional._im2col import xp_of

__all__ = [
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool2d_with_indices",
    "max_pool3d",
    "max_pool3d_with_indices",
]


class _Batched:
    """An input's array with a batch axis, and the way back for results and gradients."""

    def __init__(self, input: Any, dims: int) -> None:  # noqa: A002 - PyTorch's name
        if input.dim() not in (dims + 1, dims + 2) or input.numel() == 0:
            raise RuntimeError(
                f"non-empty {dims + 1}D or {dims + 2}D (batch mode) tensor expected for input"
            )
        self.unbatched = input.dim() == dims + 1
        array = input._array()
        self.array = array[None] if self.unbatched else array

    def out(self, array: Any) -> Any:
        return array[0] if self.unbatched else array

    def grad(self, grad: Any) -> Any:
        return grad[None] if self.unbatched else grad


def _geometry(size: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: bool, dims: int) -> arrays.Geometry:  # fmt: skip
    kernel = expand(kernel_size, dims, "kernel_size")
    stride = kernel if stride is None or stride == [] else expand(stride, dims, "stride")
    padding, dilation = expand(padding, dims, "padding"), expand(dilation, dims, "dilation")
    for k, p, d in zip(kernel, padding, dilation, strict=True):
        if p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(
                "pad should be at most half of effective kernel size, but got "
                f"pad={p}, kernel_size={k} and dilation={d}"
            )
    geo = arrays.Geometry(size[2:], kernel, stride, padding, dilation, ceil_mode)
    if any(o < 1 for o in geo.out):
        shape = "x".join(map(str, size[1:]))
        out = "x".join(map(str, (size[1], *geo.out)))
        raise RuntimeError(
            f"Given input size: ({shape}). Calculated output size: ({out}). "
            "Output size is too small"
        )
    return geo


# -- max pools -----------------------------------------------------------------------------------


def _max_pool(input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: bool, return_indices: bool, dims: int) -> Any:  # noqa: A002  # fmt: skip
    batch = _Batched(input, dims)
    geo = _geometry(batch.array.shape, kernel_size, stride, padding, dilation, ceil_mode, dims)
    values, arg = arrays.max_pool_forward(batch.array, geo, return_indices or needs_grad(input))
    name = f"MaxPool{dims}DWithIndicesBackward0"

    def backward(grad: Any) -> tuple[Any]:
        grad = grad[0] if return_indices else grad
        return (batch.out(arrays.max_pool_backward(batch.grad(grad), arg, geo)),)

    if not return_indices:
        return record(batch.out(values), [input], backward, name=name)
    indices = batch.out(arrays.flat_indices(arg, geo))
    return record_multi([batch.out(values), indices], [input], backward, name=name)


def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:  # noqa: A002  # fmt: skip
    """1-d max pool over ``(N, C, L)``; with ``return_indices`` also each maximum's position."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:  # noqa: A002  # fmt: skip
    """2-d max pool over ``(N, C, H, W)``; indices are flat positions ``h * W + w``."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def max_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:  # noqa: A002  # fmt: skip
    """3-d max pool over ``(N, C, D, H, W)``."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3)


def max_pool1d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Any, Any]:  # noqa: A002  # fmt: skip
    """:func:`max_pool1d` returning ``(values, indices)``."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 1)


def max_pool2d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Any, Any]:  # noqa: A002  # fmt: skip
    """:func:`max_pool2d` returning ``(values, indices)``."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 2)


def max_pool3d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Any, Any]:  # noqa: A002  # fmt: skip
    """:func:`max_pool3d` returning ``(values, indices)``."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 3)


# -- average and power-average pools -------------------------------------------------------------


def _avg_pool(input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
              count_include_pad: bool, divisor_override: int | None, dims: int) -> Any:  # noqa: A002  # fmt: skip
    batch = _Batched(input, dims)
    x = batch.array
    geo = _geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode, dims)
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError("divisor must be not zero")
        divisor: Any = divisor_override
    else:
        divisor = arrays.avg_divisor(geo, count_include_pad, xp_of(x)).astype(x.dtype)
    y = (arrays.window_sum(x, geo) / divisor).astype(x.dtype, copy=False)

    def backward(grad: Any) -> tuple[Any]:
        scaled = (batch.grad(grad) / divisor).astype(grad.dtype, copy=False)
        return (batch.out(arrays.window_sum_backward(scaled, geo)),)

    return record(batch.out(y), [input], backward, name=f"AvgPool{dims}DBackward0")


def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Any:  # noqa: A002  # fmt: skip
    """1-d average pool over ``(N, C, L)``."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Any:  # noqa: A002  # fmt: skip
    """2-d average pool; ``count_include_pad=False`` divides by the real inputs only, and
    ``divisor_override`` replaces every divisor."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2)  # fmt: skip


def avg_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Any:  # noqa: A002  # fmt: skip
    """3-d average pool."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 3)  # fmt: skip


def _lp_pool(input: Any, norm_type: float, kernel_size: Any, stride: Any, ceil_mode: bool,
             dims: int) -> Any:  # noqa: A002  # fmt: skip
    """``(sum over the window of x ** p) ** (1 / p)``, computed as PyTorch does (an average
    pool scaled by the kernel's size)."""
    batch = _Batched(input, dims)
    x = batch.array
    geo = _geometry(x.shape, kernel_size, stride, 0, 1, ceil_mode, dims)
    p = float(norm_type)
    size = math.prod(geo.kernel)
    divisor = arrays.avg_divisor(geo, True, xp_of(x)).astype(x.dtype)
    total = arrays.window_sum(x**p, geo) / divisor * size
    y = total ** (1.0 / p)

    def backward(grad: Any) -> tuple[Any]:
        g_total = batch.grad(grad) * (1.0 / p) * total ** (1.0 / p - 1) * (total != 0)
        g_power = arrays.window_sum_backward(g_total * size / divisor, geo)
        return (batch.out((g_power * p * x ** (p - 1)).astype(x.dtype, copy=False)),)

    return record(batch.out(y.astype(x.dtype, copy=False)), [input], backward,
                  name="PowBackward0")  # fmt: skip


def lp_pool1d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Any:  # noqa: A002  # fmt: skip
    """1-d power-average pool: ``(sum x ** p) ** (1 / p)`` over each window."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1)


def lp_pool2d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Any:  # noqa: A002  # fmt: skip
    """2-d power-average pool."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2)


def lp_pool3d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Any:  # noqa: A002  # fmt: skip
    """3-d power-average pool."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3)
