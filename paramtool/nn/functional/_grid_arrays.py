"""Sampling an image at given points (``grid_sample``) and the affine grids that feed it
(``affine_grid``), forward and backward on arrays (numpy or cupy).

Coordinates are normalised to [-1, 1] across the image (x along the width, y along the
height). PyTorch's rules for un-normalising, for ``border`` and ``reflection`` padding, and
for the bilinear corner weights are followed step by step, including which way each step passes
gradients to the grid.
"""

from __future__ import annotations

from typing import Any

from paramtool.nn.functional._im2col import xp_of
from paramtool.nn.functional._pool_arrays import gather_from_planes, scatter_to_planes

# -- affine grids --------------------------------------------------------------------------------


def base_grid(sizes: tuple[int, ...], align_corners: bool, xp: Any, dtype: Any) -> Any:
    """``(*sizes, dims + 1)`` points ``(x, y[, z], 1)`` of an image of spatial ``sizes``
    (``(H, W)`` or ``(D, H, W)``), x varying along the last axis."""
    axes = []
    for n in reversed(sizes):  # x (width) first
        line = xp.linspace(-1.0, 1.0, n, dtype=xp.float64) if n > 1 else xp.zeros(1)
        if not align_corners and n > 0:
            line = line * (n - 1) / n
        axes.append(line)
    mesh = xp.meshgrid(*reversed(axes), indexing="ij")[::-1]  # x, y[, z] over (..., H, W)
    ones = xp.ones(tuple(sizes))
    return xp.stack([*mesh, ones], axis=-1).astype(dtype)


def affine_grid(theta: Any, sizes: tuple[int, ...], align_corners: bool) -> tuple[Any, Any]:
    """``theta (N, dims, dims + 1)`` applied to every base point: ``(N, *sizes, dims)``, and
    the base points (for the backward pass)."""
    base = base_grid(sizes, align_corners, xp_of(theta), theta.dtype)
    points = base.reshape(-1, base.shape[-1])
    grid = points @ theta.swapaxes(1, 2)
    return grid.reshape(theta.shape[0], *sizes, theta.shape[1]), points


def affine_grid_backward(grad: Any, points: Any) -> Any:
    """Gradient of ``theta``: ``sum over points of grad (outer) point``."""
    flat = grad.reshape(grad.shape[0], -1, grad.shape[-1])
    return flat.swapaxes(1, 2) @ points


# -- sampling ------------------------------------------------------------------------------------


def _clip(coord: Any, size: int, xp: Any) -> tuple[Any, Any]:
    """Coordinates clipped to ``[0, size - 1]``, and their gradient factor (0 where clipped)."""
    inside = (coord > 0) & (coord < size - 1)
    return xp.clip(coord, 0, size - 1), inside.astype(coord.dtype)


def _reflect(coord: Any, twice_low: int, twice_high: int, xp: Any) -> tuple[Any, Any]:
    """Coordinates reflected into ``[twice_low / 2, twice_high / 2]``, and the gradient sign."""
    if twice_low == twice_high:
        return xp.zeros_like(coord), xp.zeros_like(coord)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    shifted = coord - low
    sign = xp.where(shifted < 0, -1.0, 1.0).astype(coord.dtype)
    shifted = xp.abs(shifted)
    extra = xp.fmod(shifted, span)
    flips = xp.floor(shifted / span)
    even = (flips % 2) == 0
    reflected = xp.where(even, extra + low, span - extra + low)
    return reflected.astype(coord.dtype), xp.where(even, sign, -sign)


def source_index(coord: Any, size: int, padding_mode: str, align_corners: bool) -> tuple[Any, Any]:
    """Pixel coordinates of normalised ``coord`` along an axis of ``size``, and d(pixel)/d(coord)."""
    xp = xp_of(coord)
    if align_corners:
        pixel, scale = (coord + 1) / 2 * (size - 1), (size - 1) / 2
    else:
        pixel, scale = ((coord + 1) * size - 1) / 2, size / 2
    factor = xp.full(coord.shape, scale, dtype=coord.dtype)
    if padding_mode == "border":
        pixel, inside = _clip(pixel, size, xp)
        factor = factor * inside
    elif padding_mode == "reflection":
        low, high = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        pixel, sign = _reflect(pixel, low, high, xp)
        pixel, inside = _clip(pixel, size, xp)
        factor = factor * sign * inside
    return pixel, factor


class Sampling:
    """Where each output point reads the input: corner pixels, their weights and the weights'
    derivatives along x and y (bilinear), or the one nearest pixel (nearest)."""

    def __init__(self, grid: Any, height: int, width: int, mode: str, padding_mode: str,
                 align_corners: bool) -> None:  # fmt: skip
        xp = xp_of(grid)
        self.shape = grid.shape[:3]
        ix, self.fx = source_index(grid[..., 0], width, padding_mode, align_corners)
        iy, self.fy = source_index(grid[..., 1], height, padding_mode, align_corners)
        self.width, self.height = width, height
        self.corners: list[tuple[Any, Any, Any, Any]] = []  # (flat index, weight, d/dx, d/dy)
        if mode == "nearest":
            cx, cy = xp.rint(ix), xp.rint(iy)
            one, zero = xp.ones_like(ix), xp.zeros_like(ix)
            self._add(cx, cy, one, zero, zero, xp)
            return
        x0, y0 = xp.floor(ix), xp.floor(iy)
        x1, y1 = x0 + 1, y0 + 1
        self._add(x0, y0, (x1 - ix) * (y1 - iy), -(y1 - iy), -(x1 - ix), xp)
        self._add(x1, y0, (ix - x0) * (y1 - iy), y1 - iy, -(ix - x0), xp)
        self._add(x0, y1, (x1 - ix) * (iy - y0), -(iy - y0), x1 - ix, xp)
        self._add(x1, y1, (ix - x0) * (iy - y0), iy - y0, ix - x0, xp)

    def _add(self, cx: Any, cy: Any, weight: Any, dx: Any, dy: Any, xp: Any) -> None:
        inside = (cx >= 0) & (cx < self.width) & (cy >= 0) & (cy < self.height)
        index = xp.where(inside, cy * self.width + cx, 0).astype(xp.int64)
        mask = inside.astype(weight.dtype)
        n = self.shape[0]
        self.corners.append(
            (index.reshape(n, 1, -1), (weight * mask).reshape(n, 1, -1),
             (dx * mask).reshape(n, 1, -1), (dy * mask).reshape(n, 1, -1))
        )  # fmt: skip


def _planes_index(index: Any, channels: int) -> Any:
    return xp_of(index).broadcast_to(index, (index.shape[0], channels, index.shape[2]))


def grid_sample(x: Any, sampling: Sampling) -> Any:
    """``x (N, C, H, W)`` read at the sampling points: ``(N, C, H_out, W_out)``."""
    n, c = x.shape[:2]
    out = 0
    for index, weight, _, _ in sampling.corners:
        out = out + gather_from_planes(x, _planes_index(index, c)) * weight
    return out.reshape(n, c, *sampling.shape[1:]).astype(x.dtype, copy=False)


def grid_sample_backward(grad: Any, x: Any, sampling: Sampling, need_x: bool,
                         need_grid: bool) -> tuple[Any, Any]:  # fmt: skip
    """Gradients of :func:`grid_sample` with respect to ``x`` and the grid."""
    xp = xp_of(grad)
    n, c = x.shape[:2]
    g = grad.reshape(n, c, -1)
    gx = xp.zeros(x.shape, dtype=x.dtype) if need_x else None
    g_ix = g_iy = 0
    for index, weight, dx, dy in sampling.corners:
        planes = _planes_index(index, c)
        if need_x:
            gx += scatter_to_planes(g * weight, planes, x.shape[2:])
        if need_grid:
            values = gather_from_planes(x, planes) * g
            g_ix = g_ix + (values * dx).sum(1)
            g_iy = g_iy + (values * dy).sum(1)
    g_grid = None
    if need_grid:
        shape = sampling.shape
        g_grid = xp.stack(
            [xp.reshape(g_ix, shape) * sampling.fx, xp.reshape(g_iy, shape) * sampling.fy], -1
        ).astype(x.dtype, copy=False)
    return gx, g_grid
