"""Products with gradients: ``matmul`` (and ``@``), ``mm``, ``bmm``, ``outer``, ``einsum``,
``addmm``/``baddbmm`` and the dense layer's ``linear``. All run on the backend's BLAS."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from paramtool.core.ops_common import arr, matmul_array, needs, record, unbroadcast, xp_of
from paramtool.core.promotion import result_type

__all__ = ["addmm", "baddbmm", "bmm", "dot", "einsum", "inner", "linear", "matmul", "mm", "mv",
           "outer", "tensordot", "vdot"]  # fmt: skip


def _swap(a: Any) -> Any:
    return a.swapaxes(-1, -2)


def matmul(input: Any, other: Any) -> Any:  # noqa: A002
    """Matrix product with PyTorch's (numpy's) rules for 1-d operands and batch broadcasting."""
    a, b = arr(input), arr(other)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    out = _narrowed(matmul_array(a, b), input, other)
    need_a, need_b = needs(input), needs(other)

    def backward(g: Any) -> tuple[Any, Any]:
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1])
        g2 = g.reshape(shape)
        ga = unbroadcast(matmul_array(g2, _swap(b2)), a2.shape).reshape(a.shape) if need_a else None
        gb = _weight_grad(a2, g2, b2.shape).reshape(b.shape) if need_b else None
        return ga, gb

    return record(out, (input, other), backward, name=_matmul_name(a, b))


def _narrowed(out: Any, *operands: Any) -> Any:
    """``out`` in the operands' promoted dtype: numpy multiplies bfloat16 into float32."""
    dtype = result_type(*operands)
    return out if dtype is None or out.dtype == dtype else out.astype(dtype)


def _weight_grad(a: Any, g: Any, shape: tuple[int, ...]) -> Any:
    """``a^T @ g`` summed back to ``shape``; a matrix shared by a stack gets one 2-d product."""
    if len(shape) == 2 and a.ndim > 2:
        return a.reshape(-1, a.shape[-1]).T @ g.reshape(-1, g.shape[-1])
    return unbroadcast(matmul_array(_swap(a), g), shape)


def _matmul_name(a: Any, b: Any) -> str:
    if a.ndim == 2 and b.ndim == 2:
        return "MmBackward0"
    if a.ndim == 1 and b.ndim == 1:
        return "DotBackward0"
    if a.ndim == 3 and b.ndim == 3:
        return "BmmBackward0"
    return "UnsafeViewBackward0" if a.ndim > 2 and b.ndim == 2 else "MatmulBackward0"


def _check_dims(name: str, value: Any, ndim: int) -> None:
    if value.ndim != ndim:
        raise RuntimeError(f"{name}: Expected {ndim}-D tensor, got {value.ndim}-D")


def mm(input: Any, mat2: Any) -> Any:  # noqa: A002
    """Product of two matrices."""
    if arr(input).ndim != 2 or arr(mat2).ndim != 2:
        raise RuntimeError("self must be a matrix")
    return matmul(input, mat2)


def bmm(input: Any, mat2: Any) -> Any:  # noqa: A002
    """Batched product of two 3-d tensors (no broadcasting)."""
    a, b = arr(input), arr(mat2)
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError("batch1 and batch2 must have same number of batches")
    return matmul(input, mat2)


def mv(input: Any, vec: Any) -> Any:  # noqa: A002
    """Matrix-vector product."""
    return matmul(input, vec)


def dot(input: Any, other: Any) -> Any:  # noqa: A002
    """Dot product of two 1-d tensors."""
    return matmul(input, other)


vdot = inner = dot


def outer(input: Any, vec2: Any) -> Any:  # noqa: A002
    """Outer product of two 1-d tensors."""
    from paramtool.core.ops_pointwise import mul  # noqa: PLC0415
    from paramtool.core.ops_shape import unsqueeze  # noqa: PLC0415

    return mul(unsqueeze(input, 1), unsqueeze(vec2, 0))


def linear(input: Any, weight: Any, bias: Any = None) -> Any:  # noqa: A002
    """``input @ weight.T + bias``: one BLAS call on the input folded to 2-d."""
    x, w = arr(input), arr(weight)
    b = None if bias is None else arr(bias)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
    if w.ndim == 1:
        out = x @ w
        if b is not None:
            out = out + b
        return _linear_vector(out, input, weight, bias, x, w)
    y = _narrowed(x2 @ w.T, input, weight)
    if b is not None:
        y += b
    y = y.reshape(*lead, w.shape[0])
    need_x, need_w, need_b = needs(input), needs(weight), needs(bias)

    def backward(g: Any) -> tuple[Any, Any, Any]:
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g2 @ w).reshape(x.shape) if need_x else None
        gw = g2.T @ x2 if need_w else None
        gb = g2.sum(axis=0) if need_b else None
        return gx, gw, gb

    name = ("AddmmBackward0" if b is not None else "MmBackward0") if x.ndim == 2 else (
        "ViewBackward0" if b is not None else "UnsafeViewBackward0")  # fmt: skip
    return record(y, (input, weight, bias), backward, name=name)


def _linear_vector(out: Any, input: Any, weight: Any, bias: Any, x: Any, w: Any) -> Any:  # noqa: A002
    def backward(g: Any) -> tuple[Any, Any, Any]:
        gx = g[..., None] * w
        gw = (g[..., None] * x).reshape(-1, w.shape[0]).sum(axis=0)
        gb = g.sum() if bias is not None else None
        return gx, gw, gb

    return record(out, (input, weight, bias), backward, name="MvBackward0")


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1) -> Any:  # noqa: A002
    """``beta * input + alpha * (mat1 @ mat2)``."""
    from paramtool.core.ops_pointwise import add, mul  # noqa: PLC0415

    product = mm(mat1, mat2)
    return add(
        mul(input, beta) if beta != 1 else input, mul(product, alpha) if alpha != 1 else product
    )


def baddbmm(input: Any, batch1: Any, batch2: Any, *, beta: float = 1, alpha: float = 1) -> Any:  # noqa: A002
    """``beta * input + alpha * (batch1 @ batch2)`` batched."""
    from paramtool.core.ops_pointwise import add, mul  # noqa: PLC0415

    product = bmm(batch1, batch2)
    return add(
        mul(input, beta) if beta != 1 else input, mul(product, alpha) if alpha != 1 else product
    )


# -- einsum ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\.\.\.|[a-zA-Z]")


def _parse(equation: str, count: int) -> tuple[list[list[str]], list[str]]:
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    inputs = [_TOKEN.findall(part) for part in lhs.split(",")]
    if len(inputs) != count:
        raise RuntimeError(
            "einsum(): more operands were provided than specified in the equation"
            if count > len(inputs)
            else "einsum(): fewer operands were provided than specified in the equation"
        )
    if arrow:
        output = _TOKEN.findall(rhs)
    else:  # implicit mode: letters used once, in alphabetical order, after any ellipsis
        letters = [t for term in inputs for t in term if t != "..."]
        single = sorted(t for t in set(letters) if letters.count(t) == 1)
        output = (["..."] if any("..." in term for term in inputs) else []) + single
    return inputs, output


def einsum(equation: str, *operands: Any) -> Any:
    """Einstein summation, like ``torch.einsum`` (operands given separately or as one list)."""
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    arrays = [_einsum_ready(arr(t)) for t in operands]
    inputs, output = _parse(equation, len(arrays))
    xp = xp_of(*operands)
    spec = lambda terms: "".join(terms)  # noqa: E731
    forward_eq = ",".join(spec(t) for t in inputs) + "->" + spec(output)
    result = _narrowed(xp.einsum(forward_eq, *arrays, optimize=len(arrays) > 2), *operands)
    need = [needs(t) for t in operands]

    def backward(g: Any) -> list[Any]:
        g = _einsum_ready(g)
        return [_einsum_grad(i, g, arrays, inputs, output, xp) if need[i] else None
                for i in range(len(arrays))]  # fmt: skip

    return record(result, operands, backward, name="EinsumBackward0")


def _einsum_ready(array: Any) -> Any:
    """numpy's einsum knows no bfloat16/float8: such operands are summed in float32."""
    return array.astype(np.float32) if array.dtype.kind == "V" else array


def _einsum_grad(i: int, g: Any, arrays: list[Any], inputs: list[list[str]], output: list[str],
                 xp: Any) -> Any:  # fmt: skip
    """The gradient of operand ``i``: an einsum of the output gradient with the other operands
    onto this operand's letters, broadcast over letters only it has, and written onto the
    diagonal when a letter repeats in it (``"ii->i"``)."""
    term = inputs[i]
    others = [t for j, t in enumerate(inputs) if j != i]
    present = set(output).union(*others) if others else set(output)
    letters = list(dict.fromkeys(term))  # each letter once, in order
    kept = [t for t in letters if t in present]
    equation = ",".join(["".join(output)] + ["".join(t) for t in others]) + "->" + "".join(kept)
    grad = xp.einsum(equation, g, *(a for j, a in enumerate(arrays) if j != i),
                     optimize=len(arrays) > 1)  # fmt: skip
    shape = arrays[i].shape
    if "..." in term:
        if len(kept) != len(letters) or len(letters) != len(term):
            raise NotImplementedError("einsum backward of '...' with summed or repeated letters")
        return unbroadcast(grad, shape) if grad.shape != shape else grad
    sizes = {t: n for t, n in zip(term, shape, strict=True)}
    if len(kept) != len(letters):  # letters summed only inside this operand: broadcast back
        grad = grad[tuple(slice(None) if t in present else None for t in letters)]
        grad = xp.broadcast_to(grad, tuple(sizes[t] for t in letters))
    if len(letters) == len(term):
        return grad
    full = xp.zeros(shape, dtype=grad.dtype)  # a repeated letter: fill the diagonal
    ranges = xp.ix_(*(xp.arange(sizes[t]) for t in letters))
    full[tuple(ranges[letters.index(t)] for t in term)] = grad
    return full


def tensordot(a: Any, b: Any, dims: Any = 2) -> Any:
    """Contract ``dims`` trailing axes of ``a`` with leading axes of ``b`` (through einsum)."""
    na, nb = arr(a).ndim, arr(b).ndim
    if isinstance(dims, int):
        axes_a, axes_b = list(range(na - dims, na)), list(range(dims))
    else:
        axes_a, axes_b = [list(d) if not isinstance(d, int) else [d] for d in dims]
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    ta = [next(letters) for _ in range(na)]
    tb = [next(letters) for _ in range(nb)]
    for x, y in zip(axes_a, axes_b, strict=True):
        tb[y % nb] = ta[x % na]
    contracted = {ta[x % na] for x in axes_a}
    out = [t for t in ta if t not in contracted] + [t for t in tb if t not in contracted]
    return einsum(f"{''.join(ta)},{''.join(tb)}->{''.join(out)}", a, b)
