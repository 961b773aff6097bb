"""Pooling to a requested output size (``torch.nn.functional``): adaptive average and max
pools over 1-3 spatial dimensions, fractional max pools, and max unpooling, with their
backward passes.

Inputs may be batched ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``; the window pools
(max, average, power-average) are in ``pooling``.
"""

from __future__ import annotations

import math
from typing import Any

from paramtool.core import factories
from paramtool.core.autograd import record, record_multi
from paramtool.core.device import device_of
from paramtool.nn.functional import _pool_arrays as arrays
from paramtool.nn.functional._args import expand
from paramtool.nn.functional._im2col import xp_of
from paramtool.nn.functional.pooling import _Batched

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
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
]


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
