"""Joining and splitting with gradients: ``cat``, ``stack``, ``split`` (by size or sizes),
``chunk``, ``hsplit``, ``unbind`` (several outputs, one graph node) and ``meshgrid``."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core.ops_common import arr, record, record_multi, xp_of
from paramtool.core.ops_shape import expand, reshape, unsqueeze

__all__ = [
    "cat", "concat", "concatenate", "stack", "split", "chunk", "hsplit", "unbind", "meshgrid",
]  # fmt: skip


def cat(tensors: Any, dim: int = 0, *, axis: int | None = None) -> Any:
    """Join tensors along an existing dimension."""
    dim = axis if axis is not None else dim
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    arrays = [arr(x) for x in tensors]
    keep = [a for a in arrays if not (a.ndim == 1 and a.shape[0] == 0)] or arrays[:1]
    from paramtool.core.promotion import result_type  # noqa: PLC0415

    dtype = result_type(*tensors)
    out = xp_of(*tensors).concatenate(keep, axis=dim)
    if dtype is not None and out.dtype != dtype:
        out = out.astype(dtype)
    ndim = out.ndim
    bounds = np.cumsum([a.shape[dim % ndim] if a.ndim == ndim else 0 for a in arrays])

    return record(out, tensors, lambda g: _split_back(g, arrays, bounds, dim % ndim),
                  name="CatBackward0")  # fmt: skip


def _split_back(g: Any, arrays: list[Any], bounds: Any, dim: int) -> list[Any]:
    out, start = [], 0
    for a, end in zip(arrays, bounds, strict=True):
        if a.ndim != g.ndim:
            out.append(None)
            continue
        index = [slice(None)] * g.ndim
        index[dim] = slice(start, int(end))
        out.append(g[tuple(index)])
        start = int(end)
    return out


concat = concatenate = cat


def stack(tensors: Any, dim: int = 0) -> Any:
    """Join tensors along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shapes = {tuple(arr(x).shape) for x in tensors}
    if len(shapes) > 1:
        first, *rest = [tuple(arr(x).shape) for x in tensors]
        bad = next(i for i, s in enumerate(rest, 1) if s != first)
        raise RuntimeError(
            f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 and "
            f"{list(rest[bad - 1])} at entry {bad}"
        )
    return cat([unsqueeze(x, dim) for x in tensors], dim)


def _split_at(input: Any, bounds: list[int], dim: int, name: str) -> tuple[Any, ...]:  # noqa: A002
    a = arr(input)
    dim %= a.ndim
    pieces = []
    for start, end in zip([0, *bounds], [*bounds, a.shape[dim]], strict=True):
        index = [slice(None)] * a.ndim
        index[dim] = slice(start, end)
        pieces.append(a[tuple(index)])
    xp = xp_of(input)

    def backward(grads: list[Any]) -> tuple[Any]:
        return (xp.concatenate(grads, axis=dim),)

    return record_multi(pieces, (input,), backward, name=name)


def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Any, ...]:
    """Pieces of ``split_size`` (the last may be smaller), or of the given sizes."""
    n = arr(tensor).shape[dim]
    if isinstance(split_size_or_sections, int | np.integer):
        size = int(split_size_or_sections)
        bounds = list(range(size, n, size)) if size else []
        name = "SplitBackward0"
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                f"at dimension {dim}), but got split_sizes={sizes}"
            )
        bounds = list(np.cumsum(sizes)[:-1])
        name = "SplitWithSizesBackward0"
    return _split_at(tensor, [int(b) for b in bounds], dim, name)


def chunk(input: Any, chunks: int, dim: int = 0) -> tuple[Any, ...]:  # noqa: A002
    """Split into ``chunks`` pieces of equal size (the last may be smaller)."""
    n = arr(input).shape[dim]
    size = -(-n // chunks) if n else 1
    return split(input, size, dim)


def hsplit(input: Any, sections: Any) -> tuple[Any, ...]:  # noqa: A002
    """Split along dimension 1 (0 for 1-d tensors)."""
    dim = 1 if arr(input).ndim > 1 else 0
    n = arr(input).shape[dim]
    size = n // sections if isinstance(sections, int) else sections
    return split(input, size, dim)


def unbind(input: Any, dim: int = 0) -> tuple[Any, ...]:  # noqa: A002
    """The slices along ``dim``, each without that dimension."""
    a = arr(input)
    dim %= a.ndim
    pieces = [a.take(i, axis=dim) for i in range(a.shape[dim])]
    xp = xp_of(input)
    return record_multi(pieces, (input,), lambda grads: (xp.stack(grads, axis=dim),),
                        name="UnbindBackward0")  # fmt: skip


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Any, ...]:
    """Coordinate grids from 1-d tensors (``indexing`` "ij" or "xy")."""
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        tensors = tuple(tensors[0])
    n = len(tensors)
    sizes = [arr(x).shape[0] for x in tensors]
    if indexing == "xy" and n >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, x in enumerate(tensors):
        axis = i
        if indexing == "xy" and n >= 2 and i < 2:
            axis = 1 - i
        shape = [1] * n
        shape[axis] = -1
        out.append(expand(reshape(x, shape), sizes))
    return tuple(out)
