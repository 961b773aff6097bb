"""Indexing with gradients: ``x[index]`` (basic, advanced and boolean), assignment into a tensor
that is part of a graph, ``masked_fill``, ``index_select``, ``gather``/``scatter``, ``topk``
and ``sort``."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core.ops_common import (
    along,
    arr,
    constant,
    needs,
    record,
    record_multi,
    shape_of,
    unbroadcast,
    xp_of,
)

__all__ = [
    "argsort", "gather", "index_add", "index_select", "masked_fill", "masked_select", "nonzero",
    "scatter", "scatter_add", "sort", "take_along_dim", "topk", "index_put", "masked_scatter",
    "searchsorted", "bucketize", "unique", "argwhere",
]  # fmt: skip


def index_array(index: Any) -> Any:
    """An index with tensors replaced by their arrays (ints become numpy ints)."""
    if hasattr(index, "_cell"):
        return index._array()
    if isinstance(index, tuple):
        return tuple(index_array(i) for i in index)
    if isinstance(index, list) and any(hasattr(i, "_cell") for i in index):
        return [index_array(i) for i in index]
    return index


def _basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, int | slice | np.integer) for i in items)


def scatter_back(g: Any, index: Any, shape: tuple[int, ...], xp: Any) -> Any:
    """The gradient of ``x[index]``: ``g`` added into zeros of ``x``'s shape at ``index``."""
    full = xp.zeros(shape, dtype=g.dtype)
    if _basic(index):
        full[index] = g
    else:
        xp.add.at(full, index, g)
    return full


def getitem(input: Any, index: Any) -> Any:  # noqa: A002
    """``input[index]`` for any numpy-style index; tensors may serve as indices."""
    a = arr(input)
    idx = index_array(index)
    out = a[idx]
    xp = xp_of(input)
    shape = a.shape
    return record(
        out, (input,), lambda g: (scatter_back(g, idx, shape, xp),), name=_index_name(idx)
    )


def _index_name(index: Any) -> str:
    """PyTorch's node for an index: Select (one integer), Slice (basic), Index (advanced)."""
    if isinstance(index, int | np.integer):
        return "SelectBackward0"
    return "SliceBackward0" if _basic(index) else "IndexBackward0"


def index_put(input: Any, index: Any, values: Any, accumulate: bool = False) -> Any:  # noqa: A002
    """A copy of ``input`` with ``values`` written (or added) at ``index``."""
    a = arr(input)
    v = arr(values)
    idx = index_array(index)
    xp = xp_of(input)
    out = a.copy()
    if accumulate:
        xp.add.at(out, idx, v)
    else:
        out[idx] = v.astype(a.dtype, copy=False) if hasattr(v, "dtype") else v
    need_v = needs(values)
    v_shape = shape_of(v)

    def backward(g: Any) -> tuple[Any, Any]:
        if accumulate:
            return g, (unbroadcast(g[idx], v_shape) if need_v else None)
        g_in = g.copy()
        g_in[idx] = 0
        return g_in, (unbroadcast(g[idx], v_shape) if need_v else None)

    return record(out, (input, values), backward, name="IndexPutBackward0")


def masked_fill(input: Any, mask: Any, value: Any) -> Any:  # noqa: A002
    """``input`` with ``value`` wherever ``mask`` (broadcast) is True."""
    a, m, v = arr(input), arr(mask), arr(value)
    if getattr(m, "dtype", None) != np.bool_:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {_stem(m.dtype)}"
        )
    xp = xp_of(input)
    out = xp.where(m, xp.asarray(v, dtype=a.dtype), a)
    if out.shape != a.shape:
        raise RuntimeError("masked_fill: mask does not broadcast to the tensor's shape")
    need_v = needs(value)

    def backward(g: Any) -> tuple[Any, ...]:
        gv = xp.where(m, g, 0).sum() if need_v else None
        return (xp.where(m, 0, g), None, gv)

    return record(out, (input, mask, value), backward, name="MaskedFillBackward0")


def _stem(dtype: Any) -> str:
    from paramtool.core.promotion import dtype_stem  # noqa: PLC0415

    return dtype_stem(np.dtype(dtype))


def masked_select(input: Any, mask: Any) -> Any:  # noqa: A002
    """The elements where ``mask`` (broadcast) is True, as a 1-d tensor."""
    a, m = arr(input), arr(mask)
    xp = xp_of(input)
    full = xp.broadcast_to(a, np.broadcast_shapes(a.shape, m.shape))
    m = xp.broadcast_to(m, full.shape)
    shape = a.shape

    def backward(g: Any) -> tuple[Any, None]:
        z = xp.zeros(full.shape, dtype=g.dtype)
        z[m] = g
        return unbroadcast(z, shape), None

    return record(full[m], (input, mask), backward, name="MaskedSelectBackward0")


def masked_scatter(input: Any, mask: Any, source: Any) -> Any:  # noqa: A002
    """``input`` with consecutive elements of ``source`` written where ``mask`` is True."""
    a, m, s = arr(input), arr(mask), arr(source)
    xp = xp_of(input)
    m = xp.broadcast_to(m, a.shape)
    out = a.copy()
    count = int(m.sum())
    out[m] = s.reshape(-1)[:count]
    s_shape = s.shape

    def backward(g: Any) -> tuple[Any, None, Any]:
        gs = xp.zeros(int(np.prod(s_shape)), dtype=g.dtype)
        gs[:count] = g[m]
        return xp.where(m, 0, g), None, gs.reshape(s_shape)

    return record(out, (input, mask, source), backward, name="MaskedScatterBackward0")


def index_select(input: Any, dim: int, index: Any) -> Any:  # noqa: A002
    """Rows (slices along ``dim``) picked by a 1-d ``index``."""
    a, i = arr(input), arr(index)
    xp = xp_of(input)
    dim %= max(a.ndim, 1)
    out = xp.take(a, i, axis=dim)
    shape = a.shape

    def backward(g: Any) -> tuple[Any, None]:
        full = xp.zeros(shape, dtype=g.dtype)
        xp.add.at(full, (slice(None),) * dim + (i,), g)
        return full, None

    return record(out, (input, index), backward, name="IndexSelectBackward0")


def _along(index: Any, dim: int, xp: Any) -> tuple[Any, ...]:
    return along(index, dim)


def gather(input: Any, dim: int, index: Any, *, sparse_grad: bool = False) -> Any:  # noqa: A002
    """``out[i][j] = input[i][index[i][j]]`` along ``dim``."""
    a, i = arr(input), arr(index)
    xp = xp_of(input)
    dim %= max(a.ndim, 1)
    where = _along(i, dim, xp)
    shape = a.shape

    def backward(g: Any) -> tuple[Any, None]:
        full = xp.zeros(shape, dtype=g.dtype)
        xp.add.at(full, where, g)
        return full, None

    return record(a[where], (input, index), backward, name="GatherBackward0")


def take_along_dim(input: Any, indices: Any, dim: int) -> Any:  # noqa: A002
    """``gather(input, dim, indices)`` (the argument order of numpy's take_along_axis)."""
    return gather(input, dim, indices)


def scatter(input: Any, dim: int, index: Any, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Any:  # noqa: A002 # fmt: skip
    """A copy of ``input`` with ``src`` (or ``value``) written at ``index`` along ``dim``."""
    if reduce == "add":
        return scatter_add(input, dim, index, src)
    a, i = arr(input), arr(index)
    xp = xp_of(input)
    dim %= max(a.ndim, 1)
    where = _along(i, dim, xp)
    source = src if src is not None else value
    s = arr(source)
    out = a.copy()
    out[where] = s[tuple(slice(0, n) for n in i.shape)] if hasattr(s, "shape") and s.ndim else s
    need_s = needs(source)

    def backward(g: Any) -> tuple[Any, ...]:
        g_in = g.copy()
        g_in[where] = 0
        gs = None
        if need_s:
            gs = xp.zeros(s.shape, dtype=g.dtype)
            gs[tuple(slice(0, n) for n in i.shape)] = g[where]
        return g_in, None, None, gs

    return record(out, (input, dim, index, source), backward, name="ScatterBackward0")


def scatter_add(input: Any, dim: int, index: Any, src: Any) -> Any:  # noqa: A002
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim``."""
    a, i, s = arr(input), arr(index), arr(src)
    xp = xp_of(input)
    dim %= max(a.ndim, 1)
    where = _along(i, dim, xp)
    out = a.copy()
    part = s[tuple(slice(0, n) for n in i.shape)]
    xp.add.at(out, where, part)

    def backward(g: Any) -> tuple[Any, ...]:
        gs = xp.zeros(s.shape, dtype=g.dtype)
        gs[tuple(slice(0, n) for n in i.shape)] = g[where]
        return g, None, None, gs

    return record(out, (input, dim, index, src), backward, name="ScatterAddBackward0")


def index_add(input: Any, dim: int, index: Any, source: Any, *, alpha: float = 1) -> Any:  # noqa: A002
    """A copy of ``input`` with ``alpha * source`` slices added at ``index`` along ``dim``."""
    a, i, s = arr(input), arr(index), arr(source)
    xp = xp_of(input)
    dim %= max(a.ndim, 1)
    out = a.copy()
    key = (slice(None),) * dim + (i,)
    xp.add.at(out, key, s * alpha)

    def backward(g: Any) -> tuple[Any, ...]:
        return g, None, None, xp.take(g, i, axis=dim) * alpha

    return record(out, (input, dim, index, source), backward, name="IndexAddBackward0")


def nonzero(input: Any, *, as_tuple: bool = False) -> Any:  # noqa: A002
    """Indices of the non-zero elements: (N, ndim), or one 1-d tensor per dimension."""
    a = arr(input)
    xp = xp_of(input)
    found = xp.nonzero(a)
    if as_tuple:
        return tuple(constant(f.astype(np.int64)) for f in found)
    return constant(xp.stack(found, axis=1).astype(np.int64))


argwhere = nonzero


def topk(input: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
    """The ``k`` largest (or smallest) values along ``dim`` and their indices."""
    a = arr(input)
    xp = xp_of(input)
    dim %= max(a.ndim, 1)
    if k > a.shape[dim]:
        raise RuntimeError("selected index k out of range")
    order = xp.argsort(-a if largest else a, axis=dim, kind="stable")
    idx = xp.take(order, xp.arange(k), axis=dim)
    return _values_indices(input, a, idx, dim, "TopkBackward0")


def _values_indices(input: Any, a: Any, idx: Any, dim: int, name: str) -> Any:  # noqa: A002
    from paramtool.core.ops_select import ValuesIndices  # noqa: PLC0415

    xp = xp_of(input)
    values = xp.take_along_axis(a, idx, axis=dim)
    shape = a.shape
    where = _along(idx, dim, xp)

    def backward(grads: list[Any]) -> tuple[Any]:
        full = xp.zeros(shape, dtype=grads[0].dtype)
        full[where] = grads[0]
        return (full,)

    v, i = record_multi([values, idx.astype(np.int64)], (input,), backward, name=name)
    return ValuesIndices(v, i)


def sort(input: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:  # noqa: A002
    """Values sorted along ``dim`` and the indices they came from."""
    a = arr(input)
    xp = xp_of(input)
    dim %= max(a.ndim, 1)
    idx = xp.argsort(-a if descending else a, axis=dim, kind="stable")
    return _values_indices(input, a, idx, dim, "SortBackward0")


def argsort(input: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:  # noqa: A002
    """The indices that sort ``input`` along ``dim``."""
    return sort(input, dim, descending, stable)[1]


def searchsorted(
    sorted_sequence: Any, values: Any, *, right: bool = False, side: str | None = None
) -> Any:
    """Insertion indices of ``values`` into a sorted 1-d sequence."""
    xp = xp_of(sorted_sequence)
    side = side or ("right" if right else "left")
    out = xp.searchsorted(arr(sorted_sequence), arr(values), side=side).astype(np.int64)
    return constant(out)


def bucketize(input: Any, boundaries: Any, *, right: bool = False) -> Any:  # noqa: A002
    """Which bucket of ``boundaries`` each value falls in."""
    return searchsorted(boundaries, input, right=right)


def unique(input: Any, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None) -> Any:  # noqa: A002 # fmt: skip
    """The distinct values (sorted), optionally with inverse indices and counts."""
    xp = xp_of(input)
    found = xp.unique(arr(input), return_inverse=return_inverse, return_counts=return_counts,
                      axis=dim)  # fmt: skip
    if not isinstance(found, tuple):
        return constant(found)
    return tuple(constant(f) for f in found)
