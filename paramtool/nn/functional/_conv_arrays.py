"""Convolution and transposed convolution on arrays: forward and backward (numpy or cupy).

A convolution is im2col (a copy of the input's windows) and one batched matrix product per
group; its input gradient is the transposed product followed by col2im. A transposed
convolution is the same pair of steps run the other way round. A 1x1 convolution skips the
window copy: the input already is its column matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from paramtool.nn.functional._im2col import Pads, col2im, im2col, inner, pad_array

Ints = Sequence[int]


def _columns(x: Any, kernel: Ints, stride: Ints, dilation: Ints, out: Ints) -> Any:
    """``(N, C * prod(kernel), prod(out))`` columns of a padded input."""
    n, c = x.shape[:2]
    if all(k == 1 for k in kernel):
        if any(s != 1 for s in stride):
            x = x[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
            x = x[(slice(None), slice(None), *(slice(0, o) for o in out))]
        return x.reshape(n, c, math.prod(out))
    return im2col(x, kernel, stride, dilation, out)


def conv_forward(
    x: Any, w: Any, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> tuple[Any, Any]:
    """``conv(x, w)`` without bias, and the columns the backward pass needs.

    Args:
        x: Input ``(N, C, *spatial)``.
        w: Weight ``(O, C / groups, *kernel)``.
        stride: Stride per spatial axis.
        pads: ``(before, after)`` zero padding per spatial axis.
        dilation: Dilation per spatial axis.
        groups: Number of groups.

    Returns:
        ``(y, cols)``: the output ``(N, O, *out)`` and the input's columns.
    """
    xpad = pad_array(x, pads)
    kernel = w.shape[2:]
    out = tuple(
        (n - d * (k - 1) - 1) // s + 1
        for n, k, s, d in zip(xpad.shape[2:], kernel, stride, dilation, strict=True)
    )
    cols = _columns(xpad, kernel, stride, dilation, out)
    n, o = x.shape[0], w.shape[0]
    y = w.reshape(groups, o // groups, -1) @ cols.reshape(n, groups, -1, cols.shape[-1])
    return y.reshape(n, o, *out), cols


def conv_backward(
    grad: Any, x_shape: Ints, w: Any, cols: Any, stride: Ints, pads: Pads, dilation: Ints,
    groups: int, need_x: bool = True, need_w: bool = True,
) -> tuple[Any, Any]:  # fmt: skip
    """Gradients of :func:`conv_forward` with respect to ``x`` and ``w`` (None if not needed)."""
    n, o = grad.shape[:2]
    out = grad.shape[2:]
    gy = grad.reshape(n, groups, o // groups, math.prod(out))
    wg = w.reshape(groups, o // groups, -1)
    gw = gx = None
    if need_w:
        gw = (gy @ cols.reshape(n, groups, -1, gy.shape[-1]).swapaxes(-1, -2)).sum(0)
        gw = gw.reshape(w.shape)
    if need_x:
        gcols = (wg.swapaxes(-1, -2) @ gy).reshape(n, -1, gy.shape[-1])
        size = tuple(s + lo + hi for s, (lo, hi) in zip(x_shape[2:], pads, strict=True))
        gx = col2im(gcols, size, w.shape[2:], stride, dilation, out)[inner(pads, x_shape[2:])]
    return gx, gw


def transpose_full_size(
    size: Ints, kernel: Ints, stride: Ints, dilation: Ints, extra: Ints
) -> tuple:
    """Length of a transposed convolution's output before its padding is cut off."""
    return tuple(
        (n - 1) * s + d * (k - 1) + 1 + e
        for n, k, s, d, e in zip(size, kernel, stride, dilation, extra, strict=True)
    )


def conv_transpose_forward(
    x: Any, w: Any, stride: Ints, padding: Ints, output_padding: Ints, dilation: Ints,
    groups: int,
) -> Any:  # fmt: skip
    """``conv_transpose(x, w)`` without bias: ``x (N, Cin, *S)``, ``w (Cin, Cout/g, *kernel)``."""
    n, cin = x.shape[:2]
    size, kernel = x.shape[2:], w.shape[2:]
    wg = w.reshape(groups, cin // groups, -1)
    cols = wg.swapaxes(-1, -2) @ x.reshape(n, groups, cin // groups, math.prod(size))
    full = transpose_full_size(size, kernel, stride, dilation, output_padding)
    y = col2im(cols.reshape(n, -1, cols.shape[-1]), full, kernel, stride, dilation, size)
    crop = tuple(slice(p, f - p) for p, f in zip(padding, full, strict=True))
    return y[(slice(None), slice(None), *crop)]


def conv_transpose_backward(
    grad: Any, x: Any, w: Any, stride: Ints, padding: Ints, dilation: Ints, groups: int,
    need_x: bool = True, need_w: bool = True,
) -> tuple[Any, Any]:  # fmt: skip
    """Gradients of :func:`conv_transpose_forward` with respect to ``x`` and ``w``."""
    n, cin = x.shape[:2]
    size, kernel = x.shape[2:], w.shape[2:]
    gpad = pad_array(grad, tuple((p, p) for p in padding))
    cols = _columns(gpad, kernel, stride, dilation, size)
    cols = cols.reshape(n, groups, -1, cols.shape[-1])
    gx = gw = None
    if need_x:
        gx = (w.reshape(groups, cin // groups, -1) @ cols).reshape(x.shape)
    if need_w:
        xg = x.reshape(n, groups, cin // groups, cols.shape[-1])
        gw = (xg @ cols.swapaxes(-1, -2)).sum(0).reshape(w.shape)
    return gx, gw
