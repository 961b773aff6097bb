"""Pooling on arrays: max, average and adaptive pools, forward and backward (numpy or cupy).

Windows are visited one kernel offset at a time, each a strided slice of the padded input, so a
3x3 pool is nine vectorised passes. Max pools remember which offset won (the first maximum, or a
NaN, as PyTorch does); PyTorch's ``indices`` are flat positions in each input plane.
Adaptive pools of ``size`` inputs to ``out`` outputs use windows
``[floor(i * size / out), ceil((i + 1) * size / out))``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from paramtool.nn.functional._im2col import Pads, inner, pad_array, pool_out_size, xp_of

Ints = Sequence[int]


class Geometry:
    """Where a pool's windows lie: kernel, stride, dilation, padding and output size per axis.

    ``pads`` are ``(before, after)`` per axis, ``after`` grown so that a ceil-mode window
    hanging over the end stays inside the padded array.
    """

    def __init__(self, size: Ints, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints,
                 ceil_mode: bool) -> None:  # fmt: skip
        self.size, self.kernel, self.stride = tuple(size), tuple(kernel), tuple(stride)
        self.padding, self.dilation = tuple(padding), tuple(dilation)
        self.out = tuple(
            pool_out_size(n, k, s, p, d, ceil_mode)
            for n, k, s, p, d in zip(size, kernel, stride, padding, dilation, strict=True)
        )
        self.pads: Pads = tuple(
            (p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p))
            for n, k, s, p, d, o in zip(size, kernel, stride, padding, dilation, self.out,
                                        strict=True)
        )  # fmt: skip

    def offsets(self) -> list[tuple[int, ...]]:
        """Every kernel offset, in row-major order."""
        return list(itertools.product(*(range(k) for k in self.kernel)))

    def window(self, offset: Ints) -> tuple[slice, ...]:
        """The slice of the padded array that kernel ``offset`` reads, for every output."""
        return (slice(None), slice(None)) + tuple(
            slice(k * d, k * d + (o - 1) * s + 1, s)
            for k, d, s, o in zip(offset, self.dilation, self.stride, self.out, strict=True)
        )

    def padded_size(self) -> tuple[int, ...]:
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.size, self.pads, strict=True))


def max_pool_forward(x: Any, geo: Geometry, with_winners: bool = True) -> tuple[Any, Any]:
    """Window maxima of ``x (N, C, *size)`` and, if asked, the winning kernel offset of each
    (row-major number; None otherwise). A NaN in a window makes its maximum NaN."""
    xp = xp_of(x)
    lowest = xp.iinfo(x.dtype).min if x.dtype.kind in "iu" else -math.inf
    xpad = pad_array(x, geo.pads, lowest)
    offsets = geo.offsets()
    best = xpad[geo.window(offsets[0])].copy()
    if not with_winners:
        for offset in offsets[1:]:
            xp.maximum(best, xpad[geo.window(offset)], out=best)
        return best, None
    arg = xp.zeros(best.shape, dtype=xp.int64)
    nan = x.dtype.kind not in "iu" and bool(xp.isnan(x).any())
    for i, offset in enumerate(offsets[1:], 1):
        values = xpad[geo.window(offset)]
        wins = values > best
        if nan:
            wins |= xp.isnan(values)
        step = i - arg  # arg += wins * (i - arg): arithmetic beats masked writes several times
        step *= wins
        arg += step
        xp.maximum(best, values, out=best)  # NaN wins here too
    return best, arg


def max_pool_backward(grad: Any, arg: Any, geo: Geometry) -> Any:
    """Input gradient of a max pool: each output's gradient goes to its winning input."""
    xp = xp_of(grad)
    result = xp.zeros(grad.shape[:2] + geo.padded_size(), dtype=grad.dtype)
    for i, offset in enumerate(geo.offsets()):
        result[geo.window(offset)] += grad * (arg == i)  # a product, not a masked select
    return result[inner(geo.pads, geo.size)]


def flat_indices(arg: Any, geo: Geometry) -> Any:
    """PyTorch's max-pool ``indices``: each winner's flat position in its input plane."""
    xp = xp_of(arg)
    ks = xp.unravel_index(arg, geo.kernel) if len(geo.kernel) > 1 else (arg,)
    flat = xp.zeros(arg.shape, dtype=xp.int64)
    for axis, k in enumerate(ks):
        shape = [1] * arg.ndim
        shape[2 + axis] = geo.out[axis]
        pos = xp.arange(geo.out[axis]).reshape(shape) * geo.stride[axis] - geo.padding[axis]
        flat = flat * geo.size[axis] + pos + k * geo.dilation[axis]
    return flat


def avg_divisor(geo: Geometry, count_include_pad: bool, xp: Any) -> Any:
    """The divisor of every average-pool window, broadcastable to the output.

    A window counts the padding inside ``padding`` (if ``count_include_pad``) but never the
    overhang a ceil-mode window has past it (PyTorch's rule).
    """
    divisor = xp.ones((1, 1) + (1,) * len(geo.out), dtype=xp.float64)
    for axis, (n, k, s, p, o) in enumerate(
        zip(geo.size, geo.kernel, geo.stride, geo.padding, geo.out, strict=True)
    ):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, n)
        shape = [1] * divisor.ndim
        shape[2 + axis] = o
        divisor = divisor * (end - start).reshape(shape)
    return divisor


def window_sum(x: Any, geo: Geometry) -> Any:
    """Sum of every window of ``x`` (zero padded)."""
    xpad = pad_array(x, geo.pads)
    offsets = geo.offsets()
    total = xpad[geo.window(offsets[0])].copy()
    for offset in offsets[1:]:
        total += xpad[geo.window(offset)]
    return total


def window_sum_backward(grad: Any, geo: Geometry) -> Any:
    """The adjoint of :func:`window_sum`: each window's gradient spread over its inputs."""
    xp = xp_of(grad)
    result = xp.zeros(grad.shape[:2] + geo.padded_size(), dtype=grad.dtype)
    for offset in geo.offsets():
        result[geo.window(offset)] += grad
    return result[inner(geo.pads, geo.size)]


# -- adaptive pools ------------------------------------------------------------------------------


def adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each of the ``out`` windows over ``size`` inputs."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def adaptive_avg_matrix(size: int, out: int, xp: Any, dtype: Any) -> Any:
    """The ``(out, size)`` matrix that averages each adaptive window."""
    matrix = xp.zeros((out, size), dtype=dtype)
    for i, (start, end) in enumerate(adaptive_bounds(size, out)):
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def apply_along_axes(x: Any, matrices: Sequence[Any]) -> Any:
    """``x (N, C, *S)`` with matrix i applied along spatial axis i (``(out, S_i)`` each)."""
    xp = xp_of(x)
    for axis, matrix in enumerate(matrices):
        moved = (xp.moveaxis(x, 2 + axis, -1) @ matrix.T).astype(x.dtype, copy=False)
        x = xp.moveaxis(moved, -1, 2 + axis)
    return x


def adaptive_max_forward(x: Any, out: Ints) -> tuple[Any, Any]:
    """Adaptive max pool of ``x (N, C, *S)``: maxima and flat input indices per plane."""
    xp = xp_of(x)
    size = x.shape[2:]
    n, c = x.shape[:2]
    values = xp.empty((n, c, *out), dtype=x.dtype)
    indices = xp.empty((n, c, *out), dtype=xp.int64)
    bounds = [adaptive_bounds(s, o) for s, o in zip(size, out, strict=True)]
    for position in itertools.product(*(range(o) for o in out)):
        box = [bounds[a][i] for a, i in enumerate(position)]
        region = x[(slice(None), slice(None), *(slice(s, e) for s, e in box))]
        flat = region.reshape(n, c, -1)
        arg = _first_max(flat, xp)
        values[(slice(None), slice(None), *position)] = xp.take_along_axis(
            flat, arg[..., None], axis=-1
        )[..., 0]
        local = xp.unravel_index(arg, region.shape[2:]) if len(out) > 1 else (arg,)
        index = xp.zeros(arg.shape, dtype=xp.int64)
        for axis, k in enumerate(local):
            index = index * size[axis] + box[axis][0] + k
        indices[(slice(None), slice(None), *position)] = index
    return values, indices


def _first_max(flat: Any, xp: Any) -> Any:
    """Position of the maximum along the last axis; a NaN wins, as in PyTorch."""
    nan = xp.isnan(flat)
    return xp.where(nan.any(-1), nan.argmax(-1), flat.argmax(-1))


def scatter_to_planes(values: Any, indices: Any, plane: Ints, accumulate: bool = True) -> Any:
    """Put ``values (N, C, *)`` at flat ``indices`` into zero ``(N, C, *plane)`` planes, adding
    where an index repeats (or, without ``accumulate``, writing: unpooling's rule)."""
    xp = xp_of(values)
    n, c = values.shape[:2]
    size = math.prod(plane)
    offsets = (xp.arange(n * c) * size).reshape(n, c, *(1,) * (indices.ndim - 2))
    result = xp.zeros(n * c * size, dtype=values.dtype)
    if accumulate:
        xp.add.at(result, (indices + offsets).ravel(), values.ravel())
    else:
        result[(indices + offsets).ravel()] = values.ravel()
    return result.reshape(n, c, *plane)


def gather_from_planes(x: Any, indices: Any) -> Any:
    """``x (N, C, *plane)`` read at flat per-plane ``indices (N, C, *)``."""
    xp = xp_of(x)
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    return xp.take_along_axis(flat, indices.reshape(n, c, -1), axis=-1).reshape(indices.shape)


# -- fractional max pools ------------------------------------------------------------------------


def fractional_starts(samples: Any, size: int, out: int, kernel: int) -> Any:
    """Window starts of a fractional max pool along one axis, per plane (Graham, 2014):
    ``int((i + u) * alpha) - int(u * alpha)`` with ``alpha = (size - kernel) / (out - 1)``
    and the last window flush with the end; ``samples`` holds one ``u`` in [0, 1) per plane."""
    xp = xp_of(samples)
    u = samples[..., None].astype(xp.float32)
    i = xp.arange(out, dtype=xp.float32)
    alpha = xp.float32(size - kernel) / xp.float32(out - 1) if out > 1 else xp.float32(0)
    starts = ((i + u) * alpha).astype(xp.int64) - (u * alpha).astype(xp.int64)
    starts[..., out - 1] = size - kernel
    return starts


def fractional_max_forward(x: Any, samples: Any, kernel: Ints, out: Ints) -> tuple[Any, Any]:
    """Fractional max pool of ``x (N, C, *size)``: maxima and flat per-plane indices.

    ``samples (N, C, dims)`` places each plane's windows (sample ``d`` for spatial axis ``d``,
    except that 2-d pools take the width's first, as PyTorch does).
    """
    xp = xp_of(x)
    dims = len(kernel)
    order = [1, 0] if dims == 2 else list(range(dims))  # which sample each axis uses
    starts = [
        fractional_starts(samples[:, :, order[a]], x.shape[2 + a], out[a], kernel[a])
        for a in range(dims)
    ]
    best = index = None
    for offset in itertools.product(*(range(k) for k in kernel)):
        values, flat = x, 0
        for a in range(dims):
            shape = [x.shape[0], x.shape[1]] + [1] * dims
            shape[2 + a] = out[a]
            position = (starts[a] + offset[a]).reshape(shape)
            target = list(values.shape)
            target[2 + a] = out[a]
            values = xp.take_along_axis(values, xp.broadcast_to(position, target), axis=2 + a)
            flat = flat * x.shape[2 + a] + position
        if best is None:
            best, index = values.copy(), xp.broadcast_to(flat, values.shape).copy()
            continue
        wins = (values > best) | xp.isnan(values)
        index = xp.where(wins, flat, index)
        best = xp.where(wins, values, best)
    return best, index
