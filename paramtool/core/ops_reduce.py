"""Reductions with gradients: ``sum``, ``mean``, ``var``/``std``, ``amax``/``amin``,
``all``/``any``, ``logsumexp``, ``prod``, ``norm``, and ``softmax``/``log_softmax`` (one home for
both the Tensor methods and ``nn.functional``). The ops that select or order elements (``max``/
``min`` with indices, ``argmax``, ``median``, the running ``cumsum``/``cummax``) live in
``paramtool.core.ops_select``."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from paramtool.core.ops_common import (
    arr,
    category,
    constant,
    dim_tuple,
    record,
    xp_of,
)
from paramtool.core.promotion import dtype_stem

__all__ = [
    "all", "amax", "amin", "aminmax", "any", "count_nonzero", "log_softmax", "logsumexp", "mean",
    "nanmean", "nansum", "norm", "prod", "softmax", "std", "std_mean", "sum", "var", "var_mean",
]  # fmt: skip


def _expand(g: Any, shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdim: bool) -> Any:
    """A reduced gradient broadcast back over the input's shape."""
    if axes is None:
        axes = tuple(range(len(shape)))
    if not keepdim:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    return g


def _dims(input: Any, dim: Any) -> tuple[Any, tuple[int, ...] | None]:  # noqa: A002
    a = arr(input)
    return a, dim_tuple(dim, a.ndim)


def sum(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:  # noqa: A001, A002
    """Sum of all elements, or along ``dim``; integers and bools sum to int64."""
    a, axes = _dims(input, dim)
    if dtype is not None:
        from paramtool.core.dtypes import as_dtype  # noqa: PLC0415

        a = a.astype(as_dtype(dtype))
    elif category(a.dtype) < 2:
        a = a.astype(np.int64)
    out = a.sum(axis=axes, keepdims=keepdim)
    shape = a.shape
    xp = xp_of(input)
    return record(out, (input,), lambda g: (xp.broadcast_to(_expand(g, shape, axes, keepdim), shape),),
                  name="SumBackward0" if axes is None else "SumBackward1")  # fmt: skip


def nansum(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A002
    """Sum treating NaN as zero."""
    from paramtool.core.ops_pointwise import isnan, where  # noqa: PLC0415

    return sum(where(isnan(input), 0.0, input), dim, keepdim)


def mean(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:  # noqa: A002
    """Arithmetic mean (floating-point tensors only, as in PyTorch)."""
    a, axes = _dims(input, dim)
    if dtype is not None:
        from paramtool.core.dtypes import as_dtype  # noqa: PLC0415

        a = a.astype(as_dtype(dtype))
    if category(a.dtype) < 2:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {dtype_stem(a.dtype)}"
        )
    out = a.mean(axis=axes, keepdims=keepdim)
    if hasattr(out, "dtype") and out.dtype != a.dtype:
        out = out.astype(a.dtype)
    shape = a.shape
    count = a.size // builtins.max(out.size, 1) if a.size else 1
    xp = xp_of(input)

    def backward(g: Any) -> tuple[Any]:
        return (xp.broadcast_to(_expand(g, shape, axes, keepdim) / count, shape),)

    return record(
        out, (input,), backward, name="MeanBackward0" if axes is None else "MeanBackward1"
    )


def nanmean(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A002
    """Mean ignoring NaN."""
    from paramtool.core.ops_pointwise import div, isnan, logical_not  # noqa: PLC0415

    return div(nansum(input, dim, keepdim), sum(logical_not(isnan(input)), dim, keepdim))


def _ddof(unbiased: Any, correction: Any) -> int:
    if correction is not None:
        return int(correction)
    return 1 if unbiased in (None, True) else 0


class _Spread:
    """What var and std share: the centred values, the divisor and the reduced axes."""

    def __init__(self, input: Any, dim: Any, unbiased: Any, correction: Any) -> None:  # noqa: A002
        if isinstance(dim, bool):  # var(x, False): the old positional ``unbiased``
            dim, unbiased = None, dim
        a, self.axes = _dims(input, dim)
        _check_float(a)
        self.shape, self.dtype = a.shape, a.dtype
        m = a.mean(axis=self.axes, keepdims=True)
        self.centered = a - m
        self.divisor = a.size // builtins.max(m.size, 1) - _ddof(unbiased, correction)

    def variance(self, keepdim: bool) -> Any:
        c = self.centered
        out = (c * c).sum(axis=self.axes, keepdims=keepdim) / builtins.max(self.divisor, 0)
        return out.astype(self.dtype, copy=False)


def var(input: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None) -> Any:  # noqa: A002 # fmt: skip
    """Variance (Bessel-corrected unless ``unbiased=False`` or ``correction=0``)."""
    s = _Spread(input, dim, unbiased, correction)

    def backward(g: Any) -> tuple[Any]:
        return (_expand(g, s.shape, s.axes, keepdim) * (2.0 / s.divisor) * s.centered,)

    return record(s.variance(keepdim), (input,), backward, name="VarBackward0")


def std(input: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None) -> Any:  # noqa: A002 # fmt: skip
    """Standard deviation (Bessel-corrected by default)."""
    s = _Spread(input, dim, unbiased, correction)
    out = xp_of(input).sqrt(s.variance(keepdim))

    def backward(g: Any) -> tuple[Any]:
        return (_expand(g / (s.divisor * out), s.shape, s.axes, keepdim) * s.centered,)

    return record(out, (input,), backward, name="StdBackward0")


def _check_float(a: Any) -> None:
    if category(a.dtype) < 2:
        raise RuntimeError("std and var only support floating point and complex dtypes")


def var_mean(input: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple[Any, Any]:  # noqa: A002 # fmt: skip
    """``(var, mean)``."""
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))  # fmt: skip


def std_mean(input: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple[Any, Any]:  # noqa: A002 # fmt: skip
    """``(std, mean)``."""
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))  # fmt: skip


def _extreme(kind: str, input: Any, axes: tuple[int, ...] | None, keepdim: bool, name: str) -> Any:  # noqa: A002
    """amax/amin: the gradient is shared evenly among tied extremes."""
    a = arr(input)
    out = getattr(a, kind)(axis=axes, keepdims=keepdim)
    shape = a.shape

    def backward(g: Any) -> tuple[Any]:
        hit = a == _expand(out, shape, axes, keepdim)
        count = hit.sum(axis=axes, keepdims=True)
        return (hit * (_expand(g, shape, axes, keepdim) / count),)

    return record(out, (input,), backward, name=name)


def amax(input: Any, dim: Any = (), keepdim: bool = False) -> Any:  # noqa: A002
    """Maximum over ``dim`` (all dimensions by default)."""
    a, axes = _dims(input, dim)
    return _extreme("max", input, axes, keepdim, "AmaxBackward0")


def amin(input: Any, dim: Any = (), keepdim: bool = False) -> Any:  # noqa: A002
    """Minimum over ``dim`` (all dimensions by default)."""
    a, axes = _dims(input, dim)
    return _extreme("min", input, axes, keepdim, "AminBackward0")


def aminmax(input: Any, *, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A002
    """``(min, max)``."""
    return amin(input, () if dim is None else dim, keepdim), amax(
        input, () if dim is None else dim, keepdim
    )


def all(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    """True where every element (along ``dim``) is non-zero."""
    a, axes = _dims(input, dim)
    return constant(xp_of(input).asarray(a.all(axis=axes, keepdims=keepdim)))


def any(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    """True where some element (along ``dim``) is non-zero."""
    a, axes = _dims(input, dim)
    return constant(xp_of(input).asarray(a.any(axis=axes, keepdims=keepdim)))


def count_nonzero(input: Any, dim: Any = None) -> Any:  # noqa: A002
    """Number of non-zero elements (along ``dim``)."""
    a, axes = _dims(input, dim)
    out = xp_of(input).asarray((a != 0).sum(axis=axes)).astype(np.int64)
    return constant(out)


def logsumexp(input: Any, dim: Any, keepdim: bool = False) -> Any:  # noqa: A002
    """``log(sum(exp(input)))`` along ``dim``, computed without overflow."""
    a, axes = _dims(input, dim)
    xp = xp_of(input)
    if category(a.dtype) < 2:
        a = a.astype(np.float32)
    m = a.max(axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    out = xp.log(xp.exp(a - m).sum(axis=axes, keepdims=True)) + m
    kept = out
    if not keepdim:
        out = out.squeeze(axis=axes) if axes is not None else out.reshape(())

    def backward(g: Any) -> tuple[Any]:
        return (_expand(g, a.shape, axes, keepdim) * xp.exp(a - kept),)

    return record(out, (input,), backward, name="LogsumexpBackward0")


def prod(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:  # noqa: A002
    """Product of the elements (along ``dim``)."""
    a, axes = _dims(input, dim)
    out = a.prod(axis=axes, keepdims=keepdim)
    if category(a.dtype) < 2:
        out = out.astype(np.int64)

    def backward(g: Any) -> tuple[Any]:
        return (_expand(g * out, a.shape, axes, keepdim) / a,)

    return record(out, (input,), backward, name="ProdBackward0")


def norm(
    input: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None
) -> Any:  # noqa: A002
    """The vector p-norm (2 and "fro" by default; ``inf`` for the max of ``|x|``)."""
    from paramtool.core.ops_pointwise import pow as pow_  # noqa: PLC0415
    from paramtool.core.ops_unary import abs as abs_  # noqa: PLC0415
    from paramtool.core.ops_unary import sqrt  # noqa: PLC0415

    if p in ("fro", 2, 2.0, None):
        return sqrt(sum(pow_(input, 2), dim, keepdim))
    if p in (float("inf"), "inf"):
        return amax(abs_(input), () if dim is None else dim, keepdim)
    if p == 1:
        return sum(abs_(input), dim, keepdim)
    return pow_(sum(pow_(abs_(input), p), dim, keepdim), 1.0 / p)


# -- softmax -----------------------------------------------------------------------------------


def _softmax_input(input: Any, dim: Any, dtype: Any) -> tuple[Any, int]:  # noqa: A002
    a = arr(input)
    if dtype is not None:
        from paramtool.core.dtypes import as_dtype  # noqa: PLC0415

        a = a.astype(as_dtype(dtype))
    if dim is None:
        dim = 0 if a.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit choice
    return a, int(dim) % builtins.max(a.ndim, 1)


def softmax(input: Any, dim: Any = None, dtype: Any = None) -> Any:  # noqa: A002
    """``exp(x) / sum(exp(x))`` along ``dim``, computed without overflow."""
    a, axis = _softmax_input(input, dim, dtype)
    if a.ndim == 0:
        a = a.reshape(1)
    xp = xp_of(input)
    e = xp.exp(a - a.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    y = e.reshape(arr(input).shape)

    def backward(g: Any) -> tuple[Any]:
        gy = g * y
        return (gy - y * gy.sum(axis=axis, keepdims=True),)

    return record(y, (input,), backward, name="SoftmaxBackward0")


def log_softmax(input: Any, dim: Any = None, dtype: Any = None) -> Any:  # noqa: A002
    """``x - logsumexp(x)`` along ``dim``."""
    a, axis = _softmax_input(input, dim, dtype)
    xp = xp_of(input)
    shifted = a - a.max(axis=axis, keepdims=True)
    y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g: Any) -> tuple[Any]:
        return (g - xp.exp(y) * g.sum(axis=axis, keepdims=True),)

    return record(y, (input,), backward, name="LogSoftmaxBackward0")
