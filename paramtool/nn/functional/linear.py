"""Dense layers (``torch.nn.functional``): ``linear`` (one BLAS call on the input folded to
2-d) and ``bilinear``."""

from __future__ import annotations

from typing import Any

from paramtool.core import ops

__all__ = ["bilinear", "linear"]


def linear(input: Any, weight: Any, bias: Any = None) -> Any:  # noqa: A002
    """``input @ weight.T + bias`` over the last dimension of ``input``.

    Raises:
        RuntimeError: the last dimension of ``input`` is not ``weight``'s second (PyTorch's
            message).
    """
    x_shape, w_shape = tuple(input.shape), tuple(weight.shape)
    if x_shape[-1:] != w_shape[-1:]:
        rows = 1
        for n in x_shape[:-1]:
            rows *= n
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x_shape[-1] if x_shape else 1} "
            f"and {w_shape[-1]}x{w_shape[0]})"
        )
    return ops.linear(input, weight, bias)


def bilinear(input1: Any, input2: Any, weight: Any, bias: Any = None) -> Any:
    """``y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]``."""
    out = ops.einsum("...i,oij,...j->...o", input1, weight, input2)
    return out if bias is None else ops.add(out, bias)
