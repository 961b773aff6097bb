"""Spatial transformers (``torch.nn.functional``): affine_grid builds the sampling points of
affine maps and grid_sample reads an image at such points, with their backward passes
(``_grid_arrays``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paramtool.core.autograd import record
from paramtool.nn.functional import _grid_arrays as grids
from paramtool.nn.functional._args import needs_grad

__all__ = [
    "affine_grid",
    "grid_sample",
]


# -- spatial transformers ------------------------------------------------------------------------


def affine_grid(theta: Any, size: Sequence[int], align_corners: bool | None = None) -> Any:
    """Sampling points of affine maps: ``theta (N, 2, 3)`` and ``size (N, C, H, W)`` give
    ``(N, H, W, 2)`` (``(N, 3, 4)`` and ``(N, C, D, H, W)`` give ``(N, D, H, W, 3)``), in the
    normalised coordinates :func:`grid_sample` reads.

    Raises:
        ValueError: ``theta`` does not match ``size`` (PyTorch's messages).
    """
    size = tuple(int(n) for n in size)
    dims = len(size) - 2
    if dims not in (2, 3):
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {_torch_size(size)}."
        )
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    want = (size[0], dims, dims + 1)
    if tuple(theta.shape) != want:
        raise ValueError(
            f"Expected a batch of {dims}D affine matrices of shape Nx{dims}x{dims + 1} for size "
            f"{_torch_size(size)}. Got {_torch_size(theta.shape)}."
        )
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {list(size)}")
    grid, points = grids.affine_grid(theta._array(), size[2:], bool(align_corners))

    def backward(grad: Any) -> tuple[Any]:
        return (grids.affine_grid_backward(grad, points),)

    return record(grid, [theta], backward, name="AffineGridGeneratorBackward0")


def grid_sample(input: Any, grid: Any, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Any:  # noqa: A002  # fmt: skip
    """Read ``input (N, C, H, W)`` at ``grid (N, H_out, W_out, 2)`` points (x, y in [-1, 1]).

    Args:
        input: The image batch.
        grid: Sampling points, normalised: -1 and 1 are the edges (``align_corners=False``) or
            the centres of the corner pixels (``align_corners=True``).
        mode: ``"bilinear"`` or ``"nearest"``.
        padding_mode: What points outside the image read: ``"zeros"``, ``"border"`` (the
            nearest edge pixel) or ``"reflection"``.
        align_corners: See ``grid``; default False.

    Raises:
        ValueError / RuntimeError / NotImplementedError: PyTorch's errors for bad modes and
            shapes; 5-D input and bicubic mode are not available.
    """
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    if input.dim() != 4 or mode == "bicubic":
        raise NotImplementedError(
            "grid_sample is implemented in paramtool for 4-D input in bilinear and nearest mode"
        )
    if grid.dim() != 4 or grid.shape[0] != input.shape[0] or grid.shape[-1] != 2:
        raise RuntimeError(
            "grid_sampler(): expected grid to have size 2 in last dimension and the same batch "
            f"size as input, but got input with sizes {list(input.shape)} and grid with sizes "
            f"{list(grid.shape)}"
        )
    x, points = input._array(), grid._array()
    sampling = grids.Sampling(points, x.shape[2], x.shape[3], mode, padding_mode,
                              bool(align_corners))  # fmt: skip
    need_x, need_grid = needs_grad(input), needs_grad(grid)

    def backward(grad: Any) -> tuple[Any, Any]:
        return grids.grid_sample_backward(grad, x, sampling, need_x, need_grid)

    return record(grids.grid_sample(x, sampling), [input, grid], backward,
                  name="GridSampler2DBackward0")  # fmt: skip


def _torch_size(shape: Sequence[int]) -> str:
    return f"torch.Size({list(shape)})"
