"""Convolutions, transposed convolutions, and unfold/fold (``torch.nn.functional``).

Each op computes on the input's array module through im2col and one matrix product per group
(``_conv_arrays``) and records its backward pass: input, weight and bias gradients, each only
when it is needed. Inputs may be batched ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``.
"""

from __future__ import annotations

import math
from typing import Any

from paramtool.core.autograd import record
from paramtool.nn.functional import _conv_arrays as arrays
from paramtool.nn.functional._args import array_of, check_dims, expand, needs_grad
from paramtool.nn.functional._im2col import col2im, conv_out_size, im2col, inner, pad_array

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_tbc",
    "fold",
    "unfold",
]

_CONV_DIMS = "the convolution dimensions"


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Any:  # noqa: A002  # fmt: skip
    """1-d convolution of ``input (N, C, L)`` with ``weight (O, C / groups, k)``.

    ``padding`` is an int, a tuple, ``"valid"`` (none) or ``"same"`` (output as long as the
    input; stride 1 only).
    """
    return _convolution(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Any:  # noqa: A002  # fmt: skip
    """2-d convolution of ``input (N, C, H, W)`` with ``weight (O, C / groups, kh, kw)``.

    Example:
        >>> y = conv2d(x, w, padding=1)   # 3x3 kernel, same spatial size
    """
    return _convolution(input, weight, bias, stride, padding, dilation, groups, 2)


def conv3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Any:  # noqa: A002  # fmt: skip
    """3-d convolution of ``input (N, C, D, H, W)`` with ``weight (O, C / groups, *k)``."""
    return _convolution(input, weight, bias, stride, padding, dilation, groups, 3)


def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Any:  # noqa: A002  # fmt: skip
    """1-d transposed convolution: ``weight (C, O / groups, k)``; output length
    ``(L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``."""
    return _transposed(input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Any:  # noqa: A002  # fmt: skip
    """2-d transposed convolution (the input gradient of a convolution, as a layer)."""
    return _transposed(input, weight, bias, stride, padding, output_padding, groups, dilation, 2)


def conv_transpose3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Any:  # noqa: A002  # fmt: skip
    """3-d transposed convolution."""
    return _transposed(input, weight, bias, stride, padding, output_padding, groups, dilation, 3)


def conv_tbc(input: Any, weight: Any, bias: Any, pad: int = 0) -> Any:  # noqa: A002
    """1-d convolution over time-major input: ``input (T, B, C_in)``, ``weight (k, C_in,
    C_out)``, ``bias (C_out,)``; ``pad`` steps of zeros at both ends; output ``(T', B, C_out)``."""
    x = input.permute(1, 2, 0)
    w = weight.permute(2, 1, 0)
    return conv1d(x, w, bias, padding=pad).permute(2, 0, 1)


# -- convolution ---------------------------------------------------------------------------------


def _conv_pads(padding: Any, kernel: tuple, dilation: tuple, stride: tuple, dims: int) -> tuple:
    """``(before, after)`` per axis for an int/tuple padding or ``"same"``/``"valid"``."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * dims
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in expand(padding, dims, "padding", _CONV_DIMS))


_SCALAR_NAMES = {"float64": "Double", "float32": "Float", "float16": "Half", "bfloat16": "BFloat16"}


def check_dtypes(x: Any, w: Any, b: Any) -> None:
    """PyTorch's errors when input, weight and bias dtypes differ."""
    if w.dtype != x.dtype:
        names = [_SCALAR_NAMES.get(str(a.dtype), str(a.dtype)) for a in (x, w)]
        raise RuntimeError(f"expected scalar type {names[0]} but found {names[1]}")
    if b is not None and b.dtype != x.dtype:
        names = [_SCALAR_NAMES.get(str(a.dtype), str(a.dtype)).lower() for a in (x, b)]
        raise RuntimeError(f"Input type ({names[0]}) and bias type ({names[1]}) should be the same")


def _check_conv(x: Any, w: Any, b: Any, groups: int, pads: tuple, dilation: tuple) -> None:
    """PyTorch's checks of dtypes, channels, bias and kernel size against the input."""
    check_dtypes(x, w, b)
    channels = w.shape[1] * groups
    if x.shape[1] != channels:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(w.shape)}, expected input"
            f"{list(x.shape)} to have {channels} channels, but got {x.shape[1]} channels instead"
        )
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise RuntimeError(
            f"Given weight of size {list(w.shape)}, expected bias to be 1-dimensional with "
            f"{w.shape[0]} elements, but got bias of size {list(b.shape)} instead"
        )
    padded = [n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads, strict=True)]
    kernel = [d * (k - 1) + 1 for k, d in zip(w.shape[2:], dilation, strict=True)]
    if any(k > n for k, n in zip(kernel, padded, strict=True)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, kernel))}). Kernel size can't be greater than "
            "actual input size"
        )


def _check_weight_dims(input: Any, weight: Any, stride: Any, dims: int) -> None:  # noqa: A002
    """PyTorch's errors for a weight with the wrong number of dimensions."""
    if weight.dim() == dims + 2:
        return
    if dims != 1:  # the expanded stride no longer fits the weight's spatial dimensions
        raise RuntimeError(
            f"expected stride to be a single integer value or a list of {weight.dim() - 2} "
            "values to match the convolution dimensions, but got "
            f"stride={list(expand(stride, dims, 'stride'))}"
        )
    raise RuntimeError(
        f"Expected {weight.dim()}-dimensional input for {weight.dim()}-dimensional weight "
        f"{list(weight.shape)}, but got {input.dim()}-dimensional input of size "
        f"{list(input.shape)} instead"
    )


def _convolution(input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any,
                 groups: int, dims: int) -> Any:  # noqa: A002  # fmt: skip
    unbatched = check_dims(input, dims, f"conv{dims}d")
    _check_weight_dims(input, weight, stride, dims)
    stride = expand(stride, dims, "stride", _CONV_DIMS)
    dilation = expand(dilation, dims, "dilation", _CONV_DIMS)
    pads = _conv_pads(padding, tuple(weight.shape[2:]), dilation, stride, dims)
    x = input._array()
    x = x[None] if unbatched else x
    w, b = weight._array(), array_of(bias)
    _check_conv(x, w, b, groups, pads, dilation)
    y, cols = arrays.conv_forward(x, w, stride, pads, dilation, groups)
    y = y.astype(x.dtype, copy=False)  # numpy's products widen bfloat16
    if b is not None:
        y += b.reshape((1, -1) + (1,) * dims)
    need_x, need_w = needs_grad(input), needs_grad(weight)

    def backward(grad: Any) -> tuple[Any, Any, Any]:
        grad = grad[None] if unbatched else grad
        gx, gw = arrays.conv_backward(
            grad, x.shape, w, cols, stride, pads, dilation, groups, need_x, need_w
        )
        gb = grad.sum(axis=(0, *range(2, grad.ndim))) if b is not None else None
        return _batched_grads(gx, gw, gb, x.dtype, unbatched)

    return record(y[0] if unbatched else y, [input, weight, bias], backward,
                  name="ConvolutionBackward0")  # fmt: skip


def _batched_grads(gx: Any, gw: Any, gb: Any, dtype: Any, unbatched: bool) -> tuple[Any, Any, Any]:
    """Input, weight and bias gradients in the parameters' dtype, the input's batch axis
    dropped again for an unbatched call."""
    gx, gw, gb = (None if g is None else g.astype(dtype, copy=False) for g in (gx, gw, gb))
    return (gx[0] if unbatched and gx is not None else gx), gw, gb


# -- transposed convolution ----------------------------------------------------------------------


def _check_output_padding(output_padding: tuple, stride: tuple, dilation: tuple) -> None:
    if all(p < s or p < d for p, s, d in zip(output_padding, stride, dilation, strict=True)):
        return
    names = ["depth", "height", "width"][-len(stride) :]
    parts = [f"output_padding_{n}: {p}" for n, p in zip(names, output_padding, strict=True)]
    parts += [f"stride_{n}: {s}" for n, s in zip(names, stride, strict=True)]
    parts += [f"dilation_{n}: {d}" for n, d in zip(names, dilation, strict=True)]
    raise RuntimeError(
        "output padding must be smaller than either stride or dilation, but got " + " ".join(parts)
    )


def _transposed(input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                output_padding: Any, groups: int, dilation: Any, dims: int) -> Any:  # noqa: A002  # fmt: skip
    unbatched = check_dims(input, dims, f"conv_transpose{dims}d")
    stride = expand(stride, dims, "stride", _CONV_DIMS)
    padding = expand(padding, dims, "padding", _CONV_DIMS)
    output_padding = expand(output_padding, dims, "output_padding", _CONV_DIMS)
    dilation = expand(dilation, dims, "dilation", _CONV_DIMS)
    _check_output_padding(output_padding, stride, dilation)
    x = input._array()
    x = x[None] if unbatched else x
    w, b = weight._array(), array_of(bias)
    check_dtypes(x, w, b)
    if x.shape[1] != w.shape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(w.shape)}, expected input"
            f"{list(x.shape)} to have {w.shape[0]} channels, but got {x.shape[1]} channels "
            "instead"
        )
    y = arrays.conv_transpose_forward(x, w, stride, padding, output_padding, dilation, groups)
    y = y.astype(x.dtype, copy=False)
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * dims)
    need_x, need_w = needs_grad(input), needs_grad(weight)

    def backward(grad: Any) -> tuple[Any, Any, Any]:
        grad = grad[None] if unbatched else grad
        gx, gw = arrays.conv_transpose_backward(
            grad, x, w, stride, padding, dilation, groups, need_x, need_w
        )
        gb = grad.sum(axis=(0, *range(2, grad.ndim))) if b is not None else None
        return _batched_grads(gx, gw, gb, x.dtype, unbatched)

    return record(y[0] if unbatched else y, [input, weight, bias], backward,
                  name="ConvolutionBackward0")  # fmt: skip


# -- unfold / fold -------------------------------------------------------------------------------


def unfold(input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Any:  # noqa: A002  # fmt: skip
    """Sliding blocks of ``input (N, C, H, W)`` as columns ``(N, C * kh * kw, L)`` (im2col)."""
    if input.dim() not in (3, 4):
        raise RuntimeError(
            f"Input Error: Only 3D or 4D input Tensors are supported (got {input.dim()}D)"
        )
    kernel, dilation, padding, stride = (
        expand(v, 2, name, "the spatial dimensions")
        for v, name in ((kernel_size, "kernel_size"), (dilation, "dilation"),
                        (padding, "padding"), (stride, "stride"))
    )  # fmt: skip
    unbatched = input.dim() == 3
    x = input._array()
    x = x[None] if unbatched else x
    pads = tuple((p, p) for p in padding)
    out = _block_counts(x.shape[2:], kernel, stride, padding, dilation)
    cols = im2col(pad_array(x, pads), kernel, stride, dilation, out)

    def backward(grad: Any) -> tuple[Any]:
        grad = grad[None] if unbatched else grad
        size = tuple(n + 2 * p for n, p in zip(x.shape[2:], padding, strict=True))
        gx = col2im(grad, size, kernel, stride, dilation, out)[inner(pads, x.shape[2:])]
        return (gx[0] if unbatched else gx,)

    return record(cols[0] if unbatched else cols, [input], backward, name="Im2ColBackward0")


def fold(input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Any:  # noqa: A002  # fmt: skip
    """Sum columns ``(N, C * kh * kw, L)`` back into ``(N, C, *output_size)`` (col2im)."""
    if input.dim() not in (2, 3):
        raise RuntimeError(
            "Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported (got "
            f"{input.dim()}D)"
        )
    size, kernel, dilation, padding, stride = (
        expand(v, 2, name, "the spatial dimensions")
        for v, name in ((output_size, "output_size"), (kernel_size, "kernel_size"),
                        (dilation, "dilation"), (padding, "padding"), (stride, "stride"))
    )  # fmt: skip
    unbatched = input.dim() == 2
    cols = input._array()
    cols = cols[None] if unbatched else cols
    out = _block_counts(size, kernel, stride, padding, dilation)
    if cols.shape[1] % math.prod(kernel) or cols.shape[2] != math.prod(out):
        raise RuntimeError(
            f"Given output_size={tuple(size)}, kernel_size={tuple(kernel)}, "
            f"dilation={tuple(dilation)}, padding={tuple(padding)}, stride={tuple(stride)}, "
            f"expected size of input's dimension 2 to match the calculated number of sliding "
            f"blocks {' * '.join(map(str, out))} = {math.prod(out)}, but got "
            f"input.size(2)={cols.shape[2]}."
        )
    pads = tuple((p, p) for p in padding)
    padded = tuple(n + 2 * p for n, p in zip(size, padding, strict=True))
    y = col2im(cols, padded, kernel, stride, dilation, out)[inner(pads, size)]

    def backward(grad: Any) -> tuple[Any]:
        grad = grad[None] if unbatched else grad
        gcols = im2col(pad_array(grad, pads), kernel, stride, dilation, out)
        return (gcols[0] if unbatched else gcols,)

    return record(y[0] if unbatched else y, [input], backward, name="Col2ImBackward0")


def _block_counts(size: Any, kernel: Any, stride: Any, padding: Any, dilation: Any) -> tuple:
    return tuple(
        conv_out_size(n, k, s, 2 * p, d)
        for n, k, s, p, d in zip(size, kernel, stride, padding, dilation, strict=True)
    )
