"""Dropout (``torch.nn.functional``): random masks from paramtool's seeded global stream
(``paramtool.manual_seed``), so a run is reproducible; the masks are not PyTorch's."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import factories, ops
from paramtool.core.autograd import record
from paramtool.core.ops_common import arr, constant, xp_of
from paramtool.core.tensor_ops import adopt

__all__ = ["alpha_dropout", "dropout", "dropout1d", "dropout2d", "dropout3d",
           "feature_alpha_dropout"]  # fmt: skip


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(input: Any, shape: tuple[int, ...], p: float) -> Any:  # noqa: A002
    """A float mask of ``shape`` (broadcastable to the input): 1 kept, 0 dropped."""
    x = arr(input)
    uniform = factories.rand(*shape, dtype=x.dtype, device=input.device)._array()
    return (uniform >= p).astype(x.dtype)


def _apply_mask(input: Any, mask: Any, scale: float, inplace: bool) -> Any:  # noqa: A002
    x = arr(input)
    factor = mask * scale
    out = x * factor
    result = record(out, (input,), lambda g: (g * factor,), name="MulBackward0")
    return adopt(input, result) if inplace else result


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``."""
    _check_p(p)
    if not training or p == 0:
        return input
    x = arr(input)
    if p == 1:
        return _apply_mask(input, xp_of(input).zeros_like(x), 0.0, inplace)
    return _apply_mask(input, _keep_mask(input, x.shape, p), 1 / (1 - p), inplace)


def _feature_dropout(input: Any, p: float, training: bool, inplace: bool, dims: int,  # noqa: A002
                     name: str) -> Any:  # fmt: skip
    _check_p(p)
    x = arr(input)
    if x.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(
            f"{name}: Expected {dims + 1}D or {dims + 2}D input, but received a {x.ndim}D input. "
        )
    if not training or p == 0:
        return input
    lead = x.shape[: x.ndim - dims]
    shape = lead + (1,) * dims
    if p == 1:
        return _apply_mask(input, xp_of(input).zeros(shape, dtype=x.dtype), 0.0, inplace)
    return _apply_mask(input, _keep_mask(input, shape, p), 1 / (1 - p), inplace)


def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` input."""
    return _feature_dropout(input, p, training, inplace, 1, "dropout1d")


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero whole channels of ``(N, C, H, W)`` or ``(C, H, W)`` input."""
    return _feature_dropout(input, p, training, inplace, 2, "dropout2d")


def dropout3d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input."""
    return _feature_dropout(input, p, training, inplace, 3, "dropout3d")


_ALPHA_PRIME = -1.7580993408473766  # -selu_scale * selu_alpha: the SELU saturation value


def _alpha(input: Any, p: float, training: bool, shape: tuple[int, ...]) -> Any:  # noqa: A002
    _check_p(p)
    if not training or p == 0:
        return input
    x = arr(input)
    keep = _keep_mask(input, shape, p) if p < 1 else xp_of(input).zeros(shape, dtype=x.dtype)
    a = (1 / np.sqrt((_ALPHA_PRIME**2 * p + 1) * (1 - p))) if p < 1 else 0.0
    b = -a * _ALPHA_PRIME * p
    dropped = ops.add(ops.mul(input, constant(keep * a)),
                      constant((1 - keep) * (a * _ALPHA_PRIME) + b))  # fmt: skip
    return dropped


def alpha_dropout(input: Any, p: float = 0.5, training: bool = False, inplace: bool = False) -> Any:  # noqa: A002
    """Dropout that keeps SELU's mean and variance: dropped values go to SELU's saturation."""
    result = _alpha(input, p, training, tuple(arr(input).shape))
    return adopt(input, result) if inplace and result is not input else result


def feature_alpha_dropout(input: Any, p: float = 0.5, training: bool = False,  # noqa: A002
                          inplace: bool = False) -> Any:  # fmt: skip
    """Alpha dropout of whole channels."""
    x = arr(input)
    shape = x.shape[:2] + (1,) * (x.ndim - 2)
    result = _alpha(input, p, training, shape)
    return adopt(input, result) if inplace and result is not input else result
