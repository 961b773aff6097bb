"""Padding, resampling and channel rearrangements (``torch.nn.functional``): pad,
interpolate/upsample, pixel_shuffle/unshuffle, channel_shuffle, local_response_norm. The
spatial transformers (affine_grid, grid_sample) are in ``spatial``.

Each op computes on the input's array module (``_vision_arrays``) and records its backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from paramtool.core.autograd import record
from paramtool.nn.functional import _vision_arrays as arrays
from paramtool.nn.functional._pool_arrays import adaptive_avg_matrix

__all__ = [
    "channel_shuffle",
    "interpolate",
    "local_response_norm",
    "native_channel_shuffle",
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
]

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


# -- pad -----------------------------------------------------------------------------------------


def pad(input: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Any:  # noqa: A002
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``
    starting from the last dimension.

    Args:
        input: The tensor.
        pad: Amounts before and after, last dimension first; negative amounts crop
            (constant mode).
        mode: ``"constant"``, ``"reflect"`` (mirror without repeating the edge),
            ``"replicate"`` (repeat the edge) or ``"circular"`` (wrap around).
        value: The fill of constant padding (default 0).

    Raises:
        RuntimeError / NotImplementedError: PyTorch's errors for bad lengths, modes and sizes.
    """
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.dim():
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {input.dim()}"
        )
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    pads = [(int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)][::-1]
    if mode == "constant":
        return _constant_pad(input, pads, 0.0 if value is None else value)
    return _index_pad(input, pads, mode)


def _constant_pad(input: Any, pads: list[tuple[int, int]], value: float) -> Any:  # noqa: A002
    x = input._array()
    y = arrays.constant_pad(x, pads, value)
    size = x.shape[x.ndim - len(pads) :]

    def backward(grad: Any) -> tuple[Any]:
        return (arrays.constant_pad_backward(grad, size, pads),)

    return record(y, [input], backward, name="ConstantPadNdBackward0")


def _check_index_pad(shape: tuple, pads: list[tuple[int, int]], mode: str) -> None:
    k, ndim = len(pads), len(shape)
    if ndim not in (k + 1, k + 2) or k > 3:
        raise NotImplementedError(
            f"Padding size {2 * k} is not supported for {ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    for axis, (lo, hi) in enumerate(pads):
        n = shape[ndim - k + axis]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                "Argument #4: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension {ndim - k + axis} of "
                f"input {list(shape)}"
            )
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if min(lo, hi) < 0 and mode != "circular":
            raise RuntimeError(f"negative padding is not supported in {mode} mode")


def _index_pad(input: Any, pads: list[tuple[int, int]], mode: str) -> Any:  # noqa: A002
    x = input._array()
    _check_index_pad(x.shape, pads, mode)
    first = x.ndim - len(pads)
    plan = [
        (first + i, x.shape[first + i], arrays.pad_positions(x.shape[first + i], lo, hi, mode))
        for i, (lo, hi) in enumerate(pads)
    ]
    y = x
    for axis, _, positions in plan:
        y = arrays.take_along(y, positions, axis)

    def backward(grad: Any) -> tuple[Any]:
        for axis, size, positions in reversed(plan):
            grad = arrays.take_along_backward(grad, positions, axis, size)
        return (grad,)

    names = {"reflect": "ReflectionPad", "replicate": "ReplicationPad", "circular": "CircularPad"}
    return record(y, [input], backward, name=f"{names[mode]}{len(pads)}DBackward0")


# -- interpolate ---------------------------------------------------------------------------------

_MODE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_ALL_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"


def _per_dim(value: Any, dims: int, input_shape: tuple, what: str) -> list[Any]:
    if isinstance(value, list | tuple):
        if len(value) != dims:
            raise ValueError(
                "Input and output must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {list(input_shape[2:])} and output size of "
                f"{value}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                "output size in (o1, o2, ...,oK) format."
                if what == "size"
                else "Input and scale_factor must have the same number of spatial dimensions, "
                f"but got input with spatial dimensions of {list(input_shape[2:])} and "
                f"scale_factor of shape {value}. Please provide input tensor in "
                "(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
            )
        return list(value)
    return [value] * dims


def _resample_plan(shape: tuple, size: Any, scale_factor: Any, mode: str,
                   recompute_scale_factor: bool | None) -> tuple[list[int], list[float | None]]:  # fmt: skip
    """Output sizes and the scales the kernels use, by PyTorch's rules."""
    dims = len(shape) - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if size is not None:
        return [int(n) for n in _per_dim(size, dims, shape, "size")], [None] * dims
    scales = [float(s) for s in _per_dim(scale_factor, dims, shape, "scale_factor")]
    out = [math.floor(float(n) * s) for n, s in zip(shape[2:], scales, strict=True)]
    if recompute_scale_factor or mode == "area":
        return out, [None] * dims
    return out, scales


def _axis_matrix(mode: str, n: int, o: int, align_corners: bool, scale: float | None) -> Any:
    if mode in ("nearest", "nearest-exact"):
        return arrays.nearest_matrix(n, o, scale, mode == "nearest-exact")
    if mode == "bicubic":
        return arrays.cubic_matrix(n, o, align_corners, scale)
    if mode == "area":
        return adaptive_avg_matrix(n, o, arrays.np, arrays.F32)
    return arrays.linear_matrix(n, o, align_corners, scale)


def interpolate(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Any:  # noqa: A002  # fmt: skip
    """Resize ``(N, C, *spatial)`` to ``size`` or by ``scale_factor``.

    Args:
        input: A 3-d (linear), 4-d (bilinear, bicubic) or 5-d (trilinear) tensor; nearest,
            nearest-exact and area take any of the three.
        size: Output spatial size (an int or one per dimension).
        scale_factor: Multiplier of the spatial size (the output size is floored).
        mode: ``nearest``, ``nearest-exact``, ``linear``, ``bilinear``, ``bicubic``,
            ``trilinear`` or ``area``.
        align_corners: Map corner pixel centres onto each other (interpolating modes only).
        recompute_scale_factor: Resample by the floored size rather than the given factor.
        antialias: When shrinking with bilinear or bicubic, low-pass filter first (every input
            pixel under an output pixel contributes), as ``PIL`` and torchvision resize do.

    Raises:
        ValueError / NotImplementedError: PyTorch's errors for inconsistent arguments.
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    dims = input.dim() - 2
    if antialias and not (mode in ("bilinear", "bicubic") and input.dim() == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and "
            "requires a 4-D tensor as input"
        )
    if mode in _MODE_DIMS and dims != _MODE_DIMS[mode]:
        raise NotImplementedError(
            f"Got {input.dim()}D input, but {mode} mode needs {_MODE_DIMS[mode] + 2}D input"
        )
    if dims not in (1, 2, 3) or mode not in (*_MODE_DIMS, "nearest", "nearest-exact", "area"):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) for "
            f"the modes: {_ALL_MODES} (got {mode})"
        )
    x = input._array()
    out, scales = _resample_plan(x.shape, size, scale_factor, mode, recompute_scale_factor)
    matrices = [
        arrays.antialias_matrix(n, o, bool(align_corners), s, mode == "bicubic")
        if antialias
        else _axis_matrix(mode, n, o, bool(align_corners), s)
        for n, o, s in zip(x.shape[2:], out, scales, strict=True)
    ]
    y = arrays.resample(x, matrices)

    def backward(grad: Any) -> tuple[Any]:
        return (arrays.resample(grad, matrices, transpose=True),)

    kind = "NearestExact" if mode == "nearest-exact" else mode.title() + ("Aa" if antialias else "")
    name = (
        f"AdaptiveAvgPool{dims}DBackward0" if mode == "area" else f"Upsample{kind}{dims}DBackward0"
    )
    return record(y, [input], backward, name=name)


def upsample(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Any:  # noqa: A002  # fmt: skip
    """The older name of :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Any, size: Any = None, scale_factor: Any = None) -> Any:  # noqa: A002
    """``interpolate(..., mode="nearest")``."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Any, size: Any = None, scale_factor: Any = None) -> Any:  # noqa: A002
    """``interpolate(..., mode="bilinear", align_corners=True)``."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# -- channel rearrangements ----------------------------------------------------------------------


def _rearrange(input: Any, forward: Any, inverse: Any, name: str) -> Any:  # noqa: A002
    """An op that only moves values, whose backward is the inverse move."""

    def backward(grad: Any) -> tuple[Any]:
        return (inverse(grad),)

    return record(forward(input._array()), [input], backward, name=name)


def _check_shuffle_input(input: Any, op: str) -> None:  # noqa: A002
    if input.dim() < 3:
        raise RuntimeError(
            f"{op} expects input to have at least 3 dimensions, but got input with "
            f"{input.dim()} dimension(s)"
        )


def pixel_shuffle(input: Any, upscale_factor: int) -> Any:  # noqa: A002
    """``(*, C * r * r, H, W)`` -> ``(*, C, H * r, W * r)`` (sub-pixel convolution's output)."""
    _check_shuffle_input(input, "pixel_shuffle")
    r = int(upscale_factor)
    if input.shape[-3] % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
            f"square of upscale_factor, but input.size(-3)={input.shape[-3]} is not divisible "
            f"by {r * r}"
        )
    return _rearrange(
        input,
        lambda x: arrays.pixel_shuffle(x, r),
        lambda g: arrays.pixel_unshuffle(g, r),
        "PixelShuffleBackward0",
    )


def pixel_unshuffle(input: Any, downscale_factor: int) -> Any:  # noqa: A002
    """``(*, C, H * r, W * r)`` -> ``(*, C * r * r, H, W)``, the inverse of pixel_shuffle."""
    _check_shuffle_input(input, "pixel_unshuffle")
    r = int(downscale_factor)
    for axis, name in ((-2, "height"), (-1, "width")):
        if input.shape[axis] % r:
            raise RuntimeError(
                f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                f"input.size({axis})={input.shape[axis]} is not divisible by {r}"
            )
    return _rearrange(
        input,
        lambda x: arrays.pixel_unshuffle(x, r),
        lambda g: arrays.pixel_shuffle(g, r),
        "PixelUnshuffleBackward0",
    )


def channel_shuffle(input: Any, groups: int) -> Any:  # noqa: A002
    """Interleave the channels of ``groups`` groups (ShuffleNet): ``(N, g*k, *)`` read as
    ``(N, g, k, *)`` and written as ``(N, k, g, *)``."""
    if input.dim() <= 2:
        raise RuntimeError(
            "channel_shuffle expects input to have at least 3 dimensions, but got input with "
            f"{input.dim()} dimension(s)"
        )
    if groups <= 0:
        raise RuntimeError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    if input.shape[1] % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {input.shape[1]} channels "
            f"and {groups} groups."
        )
    c = input.shape[1]
    return _rearrange(
        input,
        lambda x: arrays.channel_shuffle(x, groups),
        lambda g: arrays.channel_shuffle(g, c // groups),
        "ChannelShuffleBackward0",
    )


native_channel_shuffle = channel_shuffle


def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Any:  # noqa: A002  # fmt: skip
    """AlexNet's local response normalisation across channels:
    ``x / (k + alpha / size * sum of x^2 over size neighbouring channels) ** beta``."""
    if input.dim() < 3:
        raise ValueError(
            f"Expected 3D or higher dimensionality input (got {input.dim()} dimensions)"
        )
    if input.numel() == 0:
        return input
    x = input._array()
    y, base = arrays.lrn_forward(x, size, alpha, beta, k)

    def backward(grad: Any) -> tuple[Any]:
        return (arrays.lrn_backward(grad, x, base, size, alpha, beta),)

    return record(y.astype(x.dtype, copy=False), [input], backward, name="DivBackward0")


def cross_map_lrn2d(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75,
                    k: float = 1.0) -> Any:  # noqa: A002  # fmt: skip
    """``nn.CrossMapLRN2d``'s computation (Lua Torch's running-window form, which differs from
    :func:`local_response_norm` at the channel edges); not a ``torch.nn.functional`` name.

    Raises:
        ValueError: the input is not 4-D (PyTorch's message).
    """
    if input.dim() != 4:
        raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.dim()}D instead.")
    x = input._array()
    y, scale = arrays.cross_map_lrn_forward(x, size, alpha, beta, k)

    def backward(grad: Any) -> tuple[Any]:
        return (arrays.cross_map_lrn_backward(grad, x, y, scale, size, alpha, beta),)

    return record(y.astype(x.dtype, copy=False), [input], backward, name="CrossMapLRN2dBackward")
