"""Pooling (``torch.nn.functional``): max, average and power-average pools over 1-3 spatial
dimensions, adaptive pools, and max unpooling, with their backward passes.

Inputs may be batched ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``. Window geometry,
``ceil_mode`` and the padding rules are PyTorch's (``_pool_arrays``).
"""

from __future__ import annotations

import math
from typing import Any

from paramtool.core import factories
from paramtool.core.autograd import record, record_multi
from paramtool.core.device import device_of
from paramtool.nn.functional import _pool_arrays as arrays
from paramtool.nn.functional._args import expand, needs_grad
from paramtool.nn.functional._im2col import xp_of

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool2d_with_indices",
    "max_pool3d",
    "max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
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


# -- adaptive pools ------------------------------------------------------------------------------


def _adaptive_batch(input: Any, output_size: Any, dims: int, op: str) -> tuple[_Batched, tuple]:  # noqa: A002
    if input.dim() not in (dims + 1, dims + 2):
        raise RuntimeError(
            f"{op}(): Expected {dims + 1}D or {dims + 2}D tensor, but got {list(input.shape)}"
        )
    batch = _Batched(input, dims)
    sizes = output_size if isinstance(output_size, tuple | list) else (output_size,) * dims
    if len(sizes) == 1:
        sizes = tuple(sizes) * dims
    size = batch.array.shape[2:]
    return batch, tuple(n if o is None else int(o) for n, o in zip(size, sizes, strict=True))


def _adaptive_avg(input: Any, output_size: Any, dims: int) -> Any:  # noqa: A002
    batch, out = _adaptive_batch(input, output_size, dims, f"adaptive_avg_pool{dims}d")
    x = batch.array
    xp = xp_of(x)
    matrices = [
        arrays.adaptive_avg_matrix(n, o, xp, x.dtype) for n, o in zip(x.shape[2:], out, strict=True)
    ]
    y = arrays.apply_along_axes(x, matrices)

    def backward(grad: Any) -> tuple[Any]:
        return (batch.out(arrays.apply_along_axes(batch.grad(grad), [m.T for m in matrices])),)

    return record(batch.out(y), [input], backward, name=f"AdaptiveAvgPool{dims}DBackward0")


def adaptive_avg_pool1d(input: Any, output_size: Any) -> Any:  # noqa: A002
    """Average ``(N, C, L)`` down to ``output_size`` windows."""
    return _adaptive_avg(input, output_size, 1)


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Any:  # noqa: A002
    """Average ``(N, C, H, W)`` down to ``output_size`` (None keeps a dimension)."""
    return _adaptive_avg(input, output_size, 2)


def adaptive_avg_pool3d(input: Any, output_size: Any) -> Any:  # noqa: A002
    """Average ``(N, C, D, H, W)`` down to ``output_size``."""
    return _adaptive_avg(input, output_size, 3)


def _adaptive_max(input: Any, output_size: Any, return_indices: bool, dims: int) -> Any:  # noqa: A002
    batch, out = _adaptive_batch(input, output_size, dims, f"adaptive_max_pool{dims}d")
    size = batch.array.shape[2:]
    values, indices = arrays.adaptive_max_forward(batch.array, out)

    def backward(grad: Any) -> tuple[Any]:
        grad = grad[0] if return_indices else grad
        return (batch.out(arrays.scatter_to_planes(batch.grad(grad), indices, size)),)

    name = f"AdaptiveMaxPool{dims}DBackward0"
    if not return_indices:
        return record(batch.out(values), [input], backward, name=name)
    outputs = [batch.out(values), batch.out(indices)]
    return record_multi(outputs, [input], backward, name=name)


def adaptive_max_pool1d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """Maximum of ``(N, C, L)`` over ``output_size`` adaptive windows."""
    return _adaptive_max(input, output_size, return_indices, 1)


def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """Maximum of ``(N, C, H, W)`` over adaptive windows."""
    return _adaptive_max(input, output_size, return_indices, 2)


def adaptive_max_pool3d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """Maximum of ``(N, C, D, H, W)`` over adaptive windows."""
    return _adaptive_max(input, output_size, return_indices, 3)


def adaptive_max_pool1d_with_indices(input: Any, output_size: Any,
                                     return_indices: bool = False) -> tuple[Any, Any]:  # noqa: A002  # fmt: skip
    """:func:`adaptive_max_pool1d` returning ``(values, indices)``."""
    return _adaptive_max(input, output_size, True, 1)


def adaptive_max_pool2d_with_indices(input: Any, output_size: Any,
                                     return_indices: bool = False) -> tuple[Any, Any]:  # noqa: A002  # fmt: skip
    """:func:`adaptive_max_pool2d` returning ``(values, indices)``."""
    return _adaptive_max(input, output_size, True, 2)


def adaptive_max_pool3d_with_indices(input: Any, output_size: Any,
                                     return_indices: bool = False) -> tuple[Any, Any]:  # noqa: A002  # fmt: skip
    """:func:`adaptive_max_pool3d` returning ``(values, indices)``."""
    return _adaptive_max(input, output_size, True, 3)


# -- fractional max pools -----------------------------------------------------------------------


def _fractional_max(input: Any, kernel_size: Any, output_size: Any, output_ratio: Any,
                    return_indices: bool, samples: Any, dims: int) -> Any:  # noqa: A002  # fmt: skip
    op = f"fractional_max_pool{dims}d"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    batch = _Batched(input, dims)
    x = batch.array
    kernel = expand(kernel_size, dims, "kernel_size")
    size = x.shape[2:]
    if output_size is None:
        ratio = output_ratio if isinstance(output_ratio, tuple | list) else (output_ratio,) * dims
        out = tuple(int(n * r) for n, r in zip(size, ratio, strict=True))
    else:
        out = expand(output_size, dims, "output_size")
    names = ("time", "height", "width")[-dims:]
    for n, o, k, name in zip(size, out, kernel, names, strict=True):
        if o + k - 1 > n:
            raise RuntimeError(f"{op}(): pool {name} {k} too large relative to input {name} {n}")
    if samples is None:
        samples = factories.rand(x.shape[0], x.shape[1], dims, dtype=x.dtype,
                                 device=device_of(x))  # fmt: skip
    u = samples._array()
    values, indices = arrays.fractional_max_forward(x, u, kernel, out)

    def backward(grad: Any) -> tuple[Any]:
        grad = grad[0] if return_indices else grad
        return (batch.out(arrays.scatter_to_planes(batch.grad(grad), indices, size)),)

    name = f"FractionalMaxPool{dims}DBackward0"
    if not return_indices:
        return record(batch.out(values), [input], backward, name=name)
    return record_multi([batch.out(values), batch.out(indices)], [input], backward, name=name)


def fractional_max_pool2d(input: Any, kernel_size: Any, output_size: Any = None,
                          output_ratio: Any = None, return_indices: bool = False,
                          _random_samples: Any = None) -> Any:  # noqa: A002  # fmt: skip
    """Max over ``kernel_size`` windows placed at pseudo-random fractional strides (Graham,
    "Fractional Max-Pooling", 2014) so that the output is ``output_size`` (or ``output_ratio``
    of the input). ``_random_samples (N, C, 2)`` in [0, 1) fix the placement (drawn from
    paramtool's stream when None)."""
    return _fractional_max(input, kernel_size, output_size, output_ratio, return_indices,
                           _random_samples, 2)  # fmt: skip


def fractional_max_pool3d(input: Any, kernel_size: Any, output_size: Any = None,
                          output_ratio: Any = None, return_indices: bool = False,
                          _random_samples: Any = None) -> Any:  # noqa: A002  # fmt: skip
    """The 3-d :func:`fractional_max_pool2d`; ``_random_samples`` is ``(N, C, 3)``."""
    return _fractional_max(input, kernel_size, output_size, output_ratio, return_indices,
                           _random_samples, 3)  # fmt: skip


def fractional_max_pool2d_with_indices(input: Any, kernel_size: Any, output_size: Any = None,
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Any = None) -> tuple[Any, Any]:  # noqa: A002  # fmt: skip
    """:func:`fractional_max_pool2d` returning ``(values, indices)``."""
    return _fractional_max(input, kernel_size, output_size, output_ratio, True,
                           _random_samples, 2)  # fmt: skip


def fractional_max_pool3d_with_indices(input: Any, kernel_size: Any, output_size: Any = None,
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Any = None) -> tuple[Any, Any]:  # noqa: A002  # fmt: skip
    """:func:`fractional_max_pool3d` returning ``(values, indices)``."""
    return _fractional_max(input, kernel_size, output_size, output_ratio, True,
                           _random_samples, 3)  # fmt: skip


# -- max unpooling -------------------------------------------------------------------------------


def _max_unpool(input: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any,
                output_size: Any, dims: int) -> Any:  # noqa: A002  # fmt: skip
    batch = _Batched(input, dims)
    kernel = expand(kernel_size, dims, "kernel_size")
    stride = kernel if stride is None else expand(stride, dims, "stride")
    padding = expand(padding, dims, "padding")
    size = batch.array.shape[2:]
    if output_size is None:
        out = tuple(
            (n - 1) * s - 2 * p + k
            for n, k, s, p in zip(size, kernel, stride, padding, strict=True)
        )
    else:
        out = tuple(int(n) for n in tuple(output_size)[-dims:])
    index = indices._array()
    index = index[None] if batch.unbatched else index
    if index.size and (int(index.max()) >= math.prod(out) or int(index.min()) < 0):
        bad = int(index.max()) if int(index.max()) >= math.prod(out) else int(index.min())
        raise RuntimeError(
            f"Found an invalid max index: {bad} (output volumes are of size "
            f"{'x'.join(map(str, out))})"
        )
    y = arrays.scatter_to_planes(batch.array, index, out, accumulate=False)

    def backward(grad: Any) -> tuple[Any, None]:
        return batch.out(arrays.gather_from_planes(batch.grad(grad), index)), None

    return record(batch.out(y), [input, indices], backward, name=f"MaxUnpool{dims}DBackward0")


def max_unpool1d(input: Any, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Any:  # noqa: A002  # fmt: skip
    """Place each value at its max-pool index in zeros: the partial inverse of max_pool1d."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1)


def max_unpool2d(input: Any, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Any:  # noqa: A002  # fmt: skip
    """The partial inverse of :func:`max_pool2d` (non-maxima become zero)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2)


def max_unpool3d(input: Any, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Any:  # noqa: A002  # fmt: skip
    """The partial inverse of :func:`max_pool3d`."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3)
