"""Sliding windows as arrays: the geometry, im2col and its adjoint col2im (numpy or cupy).

A convolution, a pool and ``unfold`` all read an input through windows. ``windows`` views a
padded ``(N, C, *spatial)`` array as ``(N, C, *kernel, *out)`` without copying (stride tricks);
``col2im`` is its adjoint, adding window values back onto the positions they came from, which
gives input gradients and transposed convolutions. Loops run over kernel offsets (9 for a 3x3
kernel), never over pixels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

Pads = tuple[tuple[int, int], ...]


def xp_of(array: Any) -> Any:
    """The array module (numpy or cupy) an array belongs to."""
    import numpy as np  # noqa: PLC0415 - numpy is always there; cupy only with a GPU

    if isinstance(array, np.ndarray):
        return np
    import cupy  # noqa: PLC0415

    return cupy


def conv_out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Output length of a window sweep: ``floor((size + pad - d*(k-1) - 1) / s) + 1``.

    ``pad`` is the total padding on both sides.
    """
    return (size + pad - dilation * (kernel - 1) - 1) // stride + 1


def pool_out_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool) -> int:
    """Output length of a pool (PyTorch's ``pooling_output_shape``), ``pad`` on each side.

    With ``ceil_mode`` the last window may hang over the end, but must start inside the input
    or its left padding.
    """
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pad_array(x: Any, pads: Pads, value: float = 0.0) -> Any:
    """``x`` with ``pads[i] = (before, after)`` added around spatial axis i (axes 2...)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    xp = xp_of(x)
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads, strict=True))
    out = xp.full(shape, value, dtype=x.dtype)
    out[inner(pads, x.shape[2:])] = x
    return out


def inner(pads: Pads, sizes: Sequence[int]) -> tuple[slice, ...]:
    """The index of the unpadded region inside a padded ``(N, C, *spatial)`` array."""
    return (slice(None), slice(None)) + tuple(
        slice(lo, lo + n) for (lo, _), n in zip(pads, sizes, strict=True)
    )


def windows(
    x: Any, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
    out: Sequence[int],
) -> Any:  # fmt: skip
    """A view of ``x (N, C, *S)`` as ``(N, C, *kernel, *out)`` windows (no copy; windows
    overlap, so it must only be read).

    Element ``[n, c, *k, *o]`` is ``x[n, c, *(o*stride + k*dilation)]``.
    """
    xp = xp_of(x)
    spatial = x.strides[2:]
    shape = x.shape[:2] + tuple(kernel) + tuple(out)
    strides = (
        x.strides[:2]
        + tuple(st * d for st, d in zip(spatial, dilation, strict=True))
        + tuple(st * s for st, s in zip(spatial, stride, strict=True))
    )
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)  # cupy's signature


def im2col(
    x: Any, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
    out: Sequence[int],
) -> Any:  # fmt: skip
    """The windows of ``x`` copied into a contiguous ``(N, C * prod(kernel), prod(out))``."""
    n, c = x.shape[:2]
    cols = xp_of(x).ascontiguousarray(windows(x, kernel, stride, dilation, out))
    return cols.reshape(n, c * math.prod(kernel), math.prod(out))


def col2im(
    cols: Any, size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
    dilation: Sequence[int], out: Sequence[int],
) -> Any:  # fmt: skip
    """The adjoint of :func:`im2col`: sum ``cols (N, C * prod(kernel), prod(out))`` back onto a
    zero ``(N, C, *size)`` array, each window value onto the position it was read from."""
    xp = xp_of(cols)
    n = cols.shape[0]
    c = cols.shape[1] // math.prod(kernel)
    cols = cols.reshape((n, c, *kernel, *out))
    result = xp.zeros((n, c, *size), dtype=cols.dtype)
    for offset in itertools.product(*(range(k) for k in kernel)):
        target = tuple(
            slice(k * d, k * d + (o - 1) * s + 1, s)
            for k, d, s, o in zip(offset, dilation, stride, out, strict=True)
        )
        result[(slice(None), slice(None), *target)] += cols[(slice(None), slice(None), *offset)]
    return result
