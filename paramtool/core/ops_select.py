"""The ops that select or order elements, with gradients: ``max``/``min`` (with ``dim``, the
``(values, indices)`` pair; without, the overall extreme), ``argmax``/``argmin``, ``median``, and
the running ops ``cumsum``, ``cumprod``, ``logcumsumexp`` and ``cummax``. Plain reductions
(``sum``, ``amax``, ``norm``, ...) live in ``paramtool.core.ops_reduce``; ``sort``/``topk`` in
``paramtool.core.ops_index``."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from paramtool.core.ops_common import along, arr, category, constant, record, record_multi, xp_of
from paramtool.core.ops_reduce import _extreme

__all__ = [
    "argmax", "argmin", "cummax", "cumprod", "cumsum", "logcumsumexp", "max", "median", "min",
]  # fmt: skip


class ValuesIndices(tuple):
    """``(values, indices)`` with PyTorch's attribute names (``torch.return_types.max``)."""

    def __new__(cls, values: Any, indices: Any) -> ValuesIndices:
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Any:
        return self[0]

    @property
    def indices(self) -> Any:
        return self[1]


def _pair(kind: str, input: Any, dim: Any, keepdim: bool) -> Any:  # noqa: A002
    if dim is None:
        return _extreme(
            kind, input, None, False, "MaxBackward1" if kind == "max" else "MinBackward1"
        )
    if not isinstance(dim, int | np.integer):  # max(a, b): elementwise
        from paramtool.core.ops_pointwise import maximum, minimum  # noqa: PLC0415

        return (maximum if kind == "max" else minimum)(input, dim)
    a = arr(input)
    xp = xp_of(input)
    axis = int(dim) % builtins.max(a.ndim, 1)
    idx = getattr(a, "arg" + kind)(axis=axis, keepdims=True)
    values = xp.take_along_axis(a, idx, axis=axis)
    if not keepdim:
        values, idx_out = values.squeeze(axis), idx.squeeze(axis)
    else:
        idx_out = idx
    shape = a.shape

    def backward(grads: list[Any]) -> tuple[Any]:
        full = xp.zeros(shape, dtype=grads[0].dtype)
        g = grads[0] if keepdim else xp.expand_dims(grads[0], axis)
        full[along(idx, axis)] = g
        return (full,)

    name = "MaxBackward0" if kind == "max" else "MinBackward0"
    v, i = record_multi([values, idx_out.astype(np.int64)], (input,), backward, name=name)
    return ValuesIndices(v, i)


def max(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    """The maximum; with ``dim``, ``(values, indices)``; with a tensor, the elementwise max."""
    return _pair("max", input, dim, keepdim)


def min(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    """The minimum; with ``dim``, ``(values, indices)``; with a tensor, the elementwise min."""
    return _pair("min", input, dim, keepdim)


def _arg(kind: str, input: Any, dim: Any, keepdim: bool) -> Any:  # noqa: A002
    a = arr(input)
    xp = xp_of(input)
    fn = getattr(a, kind)
    out = xp.asarray(fn() if dim is None else fn(axis=int(dim), keepdims=keepdim))
    if dim is None and keepdim:
        out = out.reshape((1,) * a.ndim)
    return constant(out.astype(np.int64))


def argmax(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A002
    """Index of the maximum (of the flattened tensor when ``dim`` is None)."""
    return _arg("argmax", input, dim, keepdim)


def argmin(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A002
    """Index of the minimum (of the flattened tensor when ``dim`` is None)."""
    return _arg("argmin", input, dim, keepdim)


def median(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A002
    """The lower median; with ``dim``, ``(values, indices)``."""
    from paramtool.core.ops_index import getitem, sort  # noqa: PLC0415

    if dim is None:
        flat = sort(input.reshape(-1))[0]
        return getitem(flat, (arr(flat).shape[0] - 1) // 2)
    values, indices = sort(input, dim)
    n = arr(values).shape[dim]
    from paramtool.core.ops_shape import narrow, squeeze  # noqa: PLC0415

    v, i = narrow(values, dim, (n - 1) // 2, 1), narrow(indices, dim, (n - 1) // 2, 1)
    return ValuesIndices(v, i) if keepdim else ValuesIndices(squeeze(v, dim), squeeze(i, dim))


def cumsum(input: Any, dim: int, *, dtype: Any = None) -> Any:  # noqa: A002
    """Running sum along ``dim``."""
    a = arr(input)
    xp = xp_of(input)
    out = xp.cumsum(a, axis=dim)
    if category(a.dtype) < 2:
        out = out.astype(np.int64)
    return record(out, (input,), lambda g: (xp.flip(xp.cumsum(xp.flip(g, dim), axis=dim), dim),),
                  name="CumsumBackward0")  # fmt: skip


def cumprod(input: Any, dim: int, *, dtype: Any = None) -> Any:  # noqa: A002
    """Running product along ``dim``."""
    a = arr(input)
    xp = xp_of(input)
    out = xp.cumprod(a, axis=dim)

    def backward(g: Any) -> tuple[Any]:
        return (xp.flip(xp.cumsum(xp.flip(g * out, dim), axis=dim), dim) / a,)

    return record(out, (input,), backward, name="CumprodBackward0")


def logcumsumexp(input: Any, dim: int) -> Any:  # noqa: A002
    """``log(cumsum(exp(input)))`` along ``dim``."""
    from paramtool.core.ops_unary import exp, log  # noqa: PLC0415

    return log(cumsum(exp(input), dim))


def cummax(input: Any, dim: int) -> Any:  # noqa: A002
    """Running maximum along ``dim`` and the (latest) index where it was reached."""
    a = arr(input)
    xp = xp_of(input)
    axis = dim % builtins.max(a.ndim, 1)
    values = xp.maximum.accumulate(a, axis=axis)
    shape = [1] * a.ndim
    shape[axis] = a.shape[axis]
    positions = xp.arange(a.shape[axis]).reshape(shape)
    indices = xp.maximum.accumulate(xp.where(a == values, positions, 0), axis=axis)

    def backward(grads: list[Any]) -> tuple[Any]:
        full = xp.zeros(a.shape, dtype=grads[0].dtype)
        xp.add.at(full, along(indices, axis), grads[0])
        return (full,)

    v, i = record_multi([values, indices.astype(np.int64)], (input,), backward,
                        name="CummaxBackward0")  # fmt: skip
    return ValuesIndices(v, i)
