"""Normalisation (``torch.nn.functional``): batch, instance, layer, group and RMS norm, local
response norm and ``normalize``.

Each standardises over its axes through one recorded step (mean and biased variance, with the
closed-form gradient), then applies the affine weight and bias as ordinary ops. Batch and
instance norm update running statistics in place as PyTorch does: the mean, and the unbiased
variance, blended with ``momentum``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import ops
from paramtool.core.autograd import no_grad, record
from paramtool.core.ops_common import arr, xp_of

__all__ = ["batch_norm", "group_norm", "instance_norm", "layer_norm", "local_response_norm",
           "normalize", "rms_norm"]  # fmt: skip


def standardize(input: Any, axes: tuple[int, ...], eps: float) -> tuple[Any, Any, Any]:  # noqa: A002
    """``(x - mean) / sqrt(var + eps)`` over ``axes`` as one graph node.

    Returns:
        The standardised tensor, and the mean and biased variance arrays (kept dimensions).
    """
    x = arr(input)
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    invstd = 1.0 / xp_of(input).sqrt(var + eps)
    xhat = centered * invstd
    if xhat.dtype != x.dtype:
        xhat = xhat.astype(x.dtype)

    def backward(g: Any) -> tuple[Any]:
        g_mean = g.mean(axis=axes, keepdims=True)
        proj = (g * xhat).mean(axis=axes, keepdims=True)
        return (invstd * (g - g_mean - xhat * proj),)

    return record(xhat, (input,), backward, name="NativeBatchNormBackward0"), mean, var


def _affine(x: Any, weight: Any, bias: Any, shape: tuple[int, ...]) -> Any:
    """``x * weight + bias`` with both reshaped to ``shape`` (None skips each)."""
    if weight is not None:
        x = ops.mul(x, ops.reshape(weight, shape))
    if bias is not None:
        x = ops.add(x, ops.reshape(bias, shape))
    return x


def _channel_shape(ndim: int) -> tuple[int, ...]:
    return (1, -1) + (1,) * (ndim - 2)


def _check_batch(x: Any, name: str = "batch_norm") -> None:
    if x.ndim < 2:
        raise ValueError(f"expected 2D or 3D input (got {x.ndim}D input)")
    size = x.size // x.shape[1] if x.shape[1] else 0
    if size <= 1:
        shape = "torch.Size(" + str(list(x.shape)) + ")"
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {shape}"
        )


def _update_running(running: Any, value: Any, momentum: float) -> None:
    with no_grad():
        array = running._array()
        running._cell.writable()[...] = (1 - momentum) * array + momentum * value.astype(
            array.dtype
        )


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None,  # noqa: A002
               bias: Any = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Any:  # fmt: skip
    """Normalise each channel (dimension 1) by the batch's statistics when ``training`` (and
    update the running ones), else by ``running_mean``/``running_var``."""
    x = arr(input)
    shape = _channel_shape(x.ndim)
    if not training:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
        scale = ops.rsqrt(ops.add(running_var, eps))
        centered = ops.sub(input, ops.reshape(running_mean, shape))
        return _affine(ops.mul(centered, ops.reshape(scale, shape)), weight, bias, shape)
    _check_batch(x)
    axes = (0, *range(2, x.ndim))
    xhat, mean, var = standardize(input, axes, eps)
    n = x.size // x.shape[1]
    if running_mean is not None:
        _update_running(running_mean, mean.reshape(-1), momentum)
    if running_var is not None:
        _update_running(running_var, var.reshape(-1) * (n / max(n - 1, 1)), momentum)
    return _affine(xhat, weight, bias, shape)


def instance_norm(input: Any, running_mean: Any = None, running_var: Any = None,  # noqa: A002
                  weight: Any = None, bias: Any = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Any:  # fmt: skip
    """Normalise each channel of each sample over its spatial dimensions."""
    x = arr(input)
    shape = _channel_shape(x.ndim)
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    spatial = x.size // (x.shape[0] * x.shape[1]) if x.size else 0
    if spatial <= 1:
        shape_text = "torch.Size(" + str(list(x.shape)) + ")"
        raise ValueError(
            f"Expected more than 1 spatial element when training, got input size {shape_text}"
        )
    xhat, mean, var = standardize(input, tuple(range(2, x.ndim)), eps)
    if running_mean is not None:
        _update_running(running_mean, mean.reshape(x.shape[:2]).mean(axis=0), momentum)
    if running_var is not None:
        unbiased = var.reshape(x.shape[:2]) * (spatial / max(spatial - 1, 1))
        _update_running(running_var, unbiased.mean(axis=0), momentum)
    return _affine(xhat, weight, bias, shape)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,  # noqa: A002
               eps: float = 1e-5) -> Any:  # fmt: skip
    """Normalise over the last ``len(normalized_shape)`` dimensions."""
    dims = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    x = arr(input)
    if tuple(x.shape[x.ndim - len(dims) :]) != tuple(dims):
        raise RuntimeError(
            f"Given normalized_shape={list(dims)}, expected input with shape "
            f"[*, {', '.join(str(d) for d in dims)}], but got input of size"
            f"{list(x.shape)}"
        )
    xhat, _, _ = standardize(input, tuple(range(x.ndim - len(dims), x.ndim)), eps)
    return _affine(xhat, weight, bias, tuple(dims))


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None,  # noqa: A002
               eps: float = 1e-5) -> Any:  # fmt: skip
    """Normalise each group of channels of each sample."""
    x = arr(input)
    if x.shape[1] % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {list(x.shape)} and num_groups={num_groups}"
        )
    grouped = ops.reshape(input, (x.shape[0], num_groups, -1))
    xhat, _, _ = standardize(grouped, (2,), eps)
    return _affine(ops.reshape(xhat, x.shape), weight, bias, _channel_shape(x.ndim))


def rms_norm(
    input: Any, normalized_shape: Any, weight: Any = None, eps: float | None = None
) -> Any:  # noqa: A002
    """``x / sqrt(mean(x**2) + eps) * weight`` over the last dimensions (eps: the dtype's)."""
    dims = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    x = arr(input)
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    axes = tuple(range(x.ndim - len(dims), x.ndim))
    mean_square = ops.mean(ops.mul(input, input), axes, keepdim=True)
    out = ops.mul(input, ops.rsqrt(ops.add(mean_square, eps)))
    return out if weight is None else ops.mul(out, weight)


def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75,  # noqa: A002
                        k: float = 1.0) -> Any:  # fmt: skip
    """Normalise each element by the squares of ``size`` neighbouring channels."""
    x = arr(input)
    if x.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {x.ndim} dimensions)")
    square = ops.mul(input, input)
    channels = x.shape[1]
    before, after = size // 2, (size - 1) // 2
    total = None
    for offset in range(-before, after + 1):
        lo, hi = max(0, -offset), min(channels, channels - offset)
        if hi <= lo:
            continue
        part = ops.narrow(square, 1, lo + offset, hi - lo)
        pad = [(0, 0)] * x.ndim
        pad[1] = (lo, channels - hi)
        shifted = _pad_channels(part, pad)
        total = shifted if total is None else ops.add(total, shifted)
    div = ops.pow(ops.add(ops.mul(total, alpha / size), k), beta)
    return ops.div(input, div)


def _pad_channels(part: Any, pad: list[tuple[int, int]]) -> Any:
    xp = xp_of(part)
    a = arr(part)
    out = xp.pad(a, pad)
    index = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad, a.shape, strict=True))
    return record(out, (part,), lambda g: (g[index],), name="ConstantPadNdBackward0")


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Any:  # noqa: A002
    """``x / max(||x||_p, eps)`` along ``dim``."""
    norm = ops.norm(input, p, dim, keepdim=True)
    return ops.div(input, ops.clamp_min(norm, eps))
