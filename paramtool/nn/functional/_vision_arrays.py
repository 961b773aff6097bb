"""Padding and resampling on arrays, forward and backward (numpy or cupy).

Non-constant padding reads the input at computed positions along each padded axis (reflect,
replicate, circular); its backward adds gradients back at those positions. Interpolation is
separable: each spatial axis is resampled by an ``(out, in)`` weight matrix built from
PyTorch's source-index rules (float32 arithmetic, as its kernels use), so the backward pass is
the transposed matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from paramtool.nn.functional._im2col import xp_of

# -- padding -------------------------------------------------------------------------------------


def pad_positions(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """The input position each output position of a padded axis reads."""
    positions = np.arange(-before, size + after)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    if mode == "circular":
        return positions % size
    period = 2 * (size - 1)  # reflect: ... 2 1 [0 1 2 3] 2 1 0 ...
    folded = np.abs(positions) % period if period else np.zeros_like(positions)
    return np.where(folded >= size, period - folded, folded)


def take_along(x: Any, positions: np.ndarray, axis: int) -> Any:
    """``x`` read at ``positions`` along ``axis``."""
    xp = xp_of(x)
    return xp.take(x, xp.asarray(positions), axis=axis)


def take_along_backward(grad: Any, positions: np.ndarray, axis: int, size: int) -> Any:
    """The adjoint of :func:`take_along`: gradients summed back onto ``size`` positions.

    Where ``positions`` holds ``0 .. size-1`` in one run (the inside of a padded axis), that
    run is copied and only the rest is scattered.
    """
    xp = xp_of(grad)
    moved = xp.moveaxis(grad, axis, 0)
    start = _identity_run(positions, size)
    if start is None:
        result = xp.zeros((size, *moved.shape[1:]), dtype=grad.dtype)
        rest = np.arange(len(positions))
    else:
        result = moved[start : start + size].copy()
        rest = np.r_[0:start, start + size : len(positions)]
    if rest.size:
        xp.add.at(result, xp.asarray(positions[rest]), moved[xp.asarray(rest)])
    return xp.moveaxis(result, 0, axis)


def _identity_run(positions: np.ndarray, size: int) -> int | None:
    """Where ``positions`` reads ``0, 1, ..., size - 1`` in a row (None if nowhere)."""
    starts = np.flatnonzero(positions == 0)
    for start in starts:
        run = positions[start : start + size]
        if run.size == size and np.array_equal(run, np.arange(size)):
            return int(start)
    return None


def constant_pad(x: Any, pads: Sequence[tuple[int, int]], value: float) -> Any:
    """``x`` padded with ``value`` on its last ``len(pads)`` axes; negative pads crop."""
    xp = xp_of(x)
    lead = x.ndim - len(pads)
    shape = x.shape[:lead] + tuple(
        n + lo + hi for n, (lo, hi) in zip(x.shape[lead:], pads, strict=True)
    )
    result = xp.full(shape, value, dtype=x.dtype)
    target, source = _overlap(x.shape[lead:], pads)
    result[(Ellipsis, *target)] = x[(Ellipsis, *source)]
    return result


def constant_pad_backward(grad: Any, size: Sequence[int], pads: Sequence[tuple[int, int]]) -> Any:
    """The input gradient of :func:`constant_pad` (the padding's gradients dropped)."""
    xp = xp_of(grad)
    lead = grad.ndim - len(pads)
    result = xp.zeros(grad.shape[:lead] + tuple(size), dtype=grad.dtype)
    target, source = _overlap(size, pads)
    result[(Ellipsis, *source)] = grad[(Ellipsis, *target)]
    return result


def _overlap(size: Sequence[int], pads: Sequence[tuple[int, int]]) -> tuple[tuple, tuple]:
    """Slices of the padded output and of the input that hold the same values."""
    target, source = [], []
    for n, (lo, hi) in zip(size, pads, strict=True):
        start = max(-lo, 0)
        stop = n - max(-hi, 0)
        source.append(slice(start, max(stop, start)))
        target.append(slice(start + lo, max(stop, start) + lo))
    return tuple(target), tuple(source)


# -- interpolation -------------------------------------------------------------------------------

F32 = np.float32


def source_scale(size: int, out: int, align_corners: bool, scale: float | None) -> np.float32:
    """PyTorch's ``area_pixel_compute_scale``: input distance per output step."""
    if align_corners:
        return F32(size - 1) / F32(out - 1) if out > 1 else F32(0)
    return F32(1.0 / scale) if scale is not None and scale > 0 else F32(size) / F32(out)


def nearest_matrix(size: int, out: int, scale: float | None, exact: bool) -> np.ndarray:
    """``(out, size)`` one-hot matrix of nearest (or nearest-exact) resampling."""
    ratio = F32(1.0 / scale) if scale is not None and scale > 0 else F32(size) / F32(out)
    dst = np.arange(out, dtype=F32)
    if exact:
        dst = dst + F32(0.5)
    src = np.minimum(np.floor(dst * ratio).astype(np.int64), size - 1)
    if not exact and out == size:  # PyTorch's shortcuts, whatever the scale factor says
        src = np.arange(out)
    elif not exact and out == 2 * size:
        src = np.arange(out) // 2
    matrix = np.zeros((out, size), dtype=F32)
    matrix[np.arange(out), src] = 1
    return matrix


def linear_matrix(size: int, out: int, align_corners: bool, scale: float | None) -> np.ndarray:
    """``(out, size)`` matrix of linear resampling (one axis of bi/trilinear)."""
    ratio = source_scale(size, out, align_corners, scale)
    src = _source_index(ratio, out, align_corners)
    src = np.maximum(src, F32(0))
    i0 = src.astype(np.int64)
    i1 = np.where(i0 < size - 1, i0 + 1, i0)
    lambda1 = src - i0.astype(F32)
    matrix = np.zeros((out, size), dtype=F32)
    rows = np.arange(out)
    np.add.at(matrix, (rows, i0), F32(1) - lambda1)
    np.add.at(matrix, (rows, i1), lambda1)
    return matrix


def cubic_matrix(size: int, out: int, align_corners: bool, scale: float | None) -> np.ndarray:
    """``(out, size)`` matrix of bicubic resampling (Keys' kernel, A = -0.75, edges clamped)."""
    ratio = source_scale(size, out, align_corners, scale)
    src = _source_index(ratio, out, align_corners)
    floor = np.floor(src)
    t = src - floor
    a = F32(-0.75)
    weights = (
        ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
        ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
    )
    matrix = np.zeros((out, size), dtype=F32)
    rows = np.arange(out)
    for k, weight in enumerate(weights):
        columns = np.clip(floor.astype(np.int64) - 1 + k, 0, size - 1)
        np.add.at(matrix, (rows, columns), weight.astype(F32))
    return matrix


def antialias_matrix(size: int, out: int, align_corners: bool, scale: float | None,
                     cubic: bool) -> np.ndarray:  # fmt: skip
    """``(out, size)`` matrix of antialiased resampling (PyTorch's ``antialias=True``).

    When shrinking, the triangle (bilinear) or Keys cubic (a = -0.5) filter is stretched by the
    shrink factor, so every input pixel under an output pixel contributes; each row's weights
    are normalised to sum to one. When enlarging it is the plain filter.
    """
    ratio = float(source_scale(size, out, align_corners, scale))
    support = (2.0 if cubic else 1.0) * max(ratio, 1.0)
    inverse = 1.0 / ratio if ratio >= 1.0 else 1.0
    matrix = np.zeros((out, size), dtype=np.float64)
    for i in range(out):
        center = ratio * (i + 0.5)
        start = max(int(center - support + 0.5), 0)
        stop = min(int(center + support + 0.5), size)
        taps = (np.arange(start, stop) - center + 0.5) * inverse
        weights = _cubic_filter(taps) if cubic else np.maximum(0.0, 1.0 - np.abs(taps))
        total = weights.sum()
        matrix[i, start:stop] = weights / total if total != 0 else weights
    return matrix.astype(F32)


def _cubic_filter(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _source_index(ratio: np.float32, out: int, align_corners: bool) -> np.ndarray:
    dst = np.arange(out, dtype=F32)
    if align_corners:
        return ratio * dst
    return ratio * (dst + F32(0.5)) - F32(0.5)


def resample(x: Any, matrices: Sequence[np.ndarray], transpose: bool = False) -> Any:
    """``x (N, C, *S)`` resampled along each spatial axis by its matrix (transposed: backward).

    A matrix whose rows have only a few non-zero weights (nearest: 1, linear: 2, cubic: 4) is
    applied as that many gathers, in time proportional to the output; a dense one (a large
    shrink, area, antialias) as a matrix product.
    """
    xp = xp_of(x)
    for axis, matrix in enumerate(matrices):
        matrix = matrix.T if transpose else matrix
        taps = int((matrix != 0).sum(axis=1).max(initial=0))
        if 4 * taps < matrix.shape[1]:
            x = _gather_taps(x, matrix, taps, 2 + axis, xp)
            continue
        m = xp.asarray(matrix.T, dtype=x.dtype)
        x = xp.moveaxis(
            (xp.moveaxis(x, 2 + axis, -1) @ m).astype(x.dtype, copy=False), -1, 2 + axis
        )
    return x


def _gather_taps(x: Any, matrix: np.ndarray, taps: int, axis: int, xp: Any) -> Any:
    """``matrix`` applied along ``axis`` as ``taps`` weighted gathers of ``x``."""
    order = np.argsort(matrix == 0, axis=1, kind="stable")[:, :taps]  # non-zeros first
    weights = np.take_along_axis(matrix, order, axis=1)
    shape = [1] * x.ndim
    shape[axis] = matrix.shape[0]
    out = 0
    for j in range(taps):
        column = xp.asarray(weights[:, j].reshape(shape), dtype=x.dtype)
        out = out + xp.take(x, xp.asarray(order[:, j]), axis=axis) * column
    return out.astype(x.dtype, copy=False)


# -- channel rearrangements and local response normalisation -------------------------------------


def pixel_shuffle(x: Any, r: int) -> Any:
    """``(*, C*r*r, H, W)`` -> ``(*, C, H*r, W*r)``."""
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    n = len(lead)
    y = y.transpose(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(x: Any, r: int) -> Any:
    """``(*, C, H*r, W*r)`` -> ``(*, C*r*r, H, W)``."""
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    n = len(lead)
    y = y.transpose(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(x: Any, groups: int) -> Any:
    """``(N, C, *)``: channels regrouped from ``(groups, C/groups)`` to ``(C/groups, groups)``."""
    n, c = x.shape[:2]
    y = x.reshape(n, groups, c // groups, *x.shape[2:]).swapaxes(1, 2)
    return y.reshape(x.shape)


def channel_window_sum(x: Any, before: int, after: int) -> Any:
    """Sum over channels ``[c - before, c + after]`` (zero beyond the ends), axis 1."""
    xp = xp_of(x)
    c = x.shape[1]
    pad = [(0, 0)] * x.ndim
    pad[1] = (before, after)
    padded = xp.pad(x, pad)
    total = padded[:, 0:c].copy()
    for k in range(1, before + after + 1):
        total += padded[:, k : k + c]
    return total


def lrn_forward(x: Any, size: int, alpha: float, beta: float, k: float) -> tuple[Any, Any]:
    """Local response norm ``x / (k + alpha * mean_window(x^2)) ** beta`` and its denominator
    base (``k + ...``)."""
    base = channel_window_sum(x * x, size // 2, (size - 1) // 2) * (alpha / size) + k
    return x * base ** (-beta), base


def lrn_backward(grad: Any, x: Any, base: Any, size: int, alpha: float, beta: float) -> Any:
    """Input gradient of :func:`lrn_forward`."""
    scaled = base ** (-beta)
    inner_grad = grad * x * (-beta) * scaled / base
    spread = channel_window_sum(inner_grad, (size - 1) // 2, size // 2)
    return grad * scaled + spread * (2 * alpha / size) * x


def cross_map_lrn_forward(
    x: Any, size: int, alpha: float, beta: float, k: float
) -> tuple[Any, Any]:
    """Lua Torch's ``SpatialCrossMapLRN`` on ``(N, C, H, W)``, as ``nn.CrossMapLRN2d`` computes
    it: a running sum of squares over channels, started on the first ``pre_pad`` channels and
    moved one channel at a time (channel 0 is never taken out of it, as in the original).

    Returns:
        The output and the denominator base ``k + alpha / size * window sum``.
    """
    c = x.shape[1]
    square = x * x
    pre_pad = int((size - 1) / 2 + 1)
    scale = x.copy()
    scale[:, 0] = square[:, : min(pre_pad, c)].sum(axis=1)
    for ch in range(1, c):
        scale[:, ch] = scale[:, ch - 1]
        if ch < c - pre_pad + 1:
            scale[:, ch] += square[:, ch + pre_pad - 1]
        if ch > pre_pad:
            scale[:, ch] -= square[:, ch - pre_pad]
    scale = scale * (alpha / size) + k
    return x * scale ** (-beta), scale


def cross_map_lrn_backward(
    grad: Any, x: Any, y: Any, scale: Any, size: int, alpha: float, beta: float
) -> Any:
    """Input gradient of :func:`cross_map_lrn_forward` as ``nn.CrossMapLRN2d`` computes it: the
    ratio ``grad * y / scale`` summed over channels ``[c - p, c - p + size - 1]`` with
    ``p = int(size - (size - 1) / 2)``."""
    before = int(size - (size - 1) / 2)
    ratio = grad * y / scale
    accum = channel_window_sum(ratio, before, size - 1 - before)
    return scale ** (-beta) * grad - (2 * alpha * beta / size) * x * accum
