"""Lookups (``torch.nn.functional``): ``embedding``, ``embedding_bag`` and ``one_hot``.

The embedding's weight gradient adds each output row's gradient into the row it was read
from (rows read twice get both); the ``padding_idx`` row gets none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import ops
from paramtool.core.autograd import no_grad, record
from paramtool.core.ops_common import along, arr, constant, xp_of

__all__ = ["embedding", "embedding_bag", "one_hot"]


def _renorm_(weight: Any, index: Any, max_norm: float, norm_type: float) -> None:
    """Rescale, in place and outside the graph, the looked-up rows whose norm exceeds
    ``max_norm`` (PyTorch's ``embedding_renorm_``)."""
    with no_grad():
        w = weight._cell.writable() if not weight.is_deferred else weight._array()
        xp = xp_of(weight)
        rows = xp.unique(index)
        norms = xp.linalg.norm(w[rows].astype(np.float64), ord=norm_type, axis=1)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        w[rows] = (w[rows] * scale[:, None]).astype(w.dtype)


def embedding(input: Any, weight: Any, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Any:  # fmt: skip
    """Rows of ``weight`` picked by the integer tensor ``input``.

    Raises:
        RuntimeError: ``input`` is not an integer tensor (PyTorch's message).
        IndexError: an index is outside the table.
    """
    index = arr(input)
    if index.dtype.kind not in "iu":
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got {_stem(index.dtype)} instead (while checking arguments "
            "for embedding)"
        )
    w = arr(weight)
    rows = w.shape[0]
    if padding_idx is not None and padding_idx < 0:
        padding_idx += rows
    if index.size and (index.min() < -rows or index.max() >= rows):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        _renorm_(weight, index.reshape(-1), max_norm, norm_type)
        w = arr(weight)
    out = w[index]
    xp = xp_of(weight)

    def backward(g: Any) -> tuple[None, Any]:
        flat = index.reshape(-1)
        grads = g.reshape(-1, w.shape[1])
        if scale_grad_by_freq:
            counts = xp.bincount(flat, minlength=rows)
            grads = grads / counts[flat][:, None]
        full = xp.zeros(w.shape, dtype=g.dtype)
        xp.add.at(full, flat, grads)
        if padding_idx is not None:
            full[padding_idx] = 0
        return None, full

    return record(out, (input, weight), backward, name="EmbeddingBackward0")


def _stem(dtype: Any) -> str:
    from paramtool.core.promotion import dtype_stem  # noqa: PLC0415

    return dtype_stem(np.dtype(dtype))


def _bags(index: Any, offsets: Any, include_last_offset: bool, xp: Any) -> tuple[Any, Any, int]:
    """The flat indices, each one's bag number, and the number of bags."""
    if index.ndim == 2:
        count, size = index.shape
        return index.reshape(-1), xp.repeat(xp.arange(count), size), count
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    starts = arr(offsets).astype(np.int64)
    count = starts.shape[0] - 1 if include_last_offset else starts.shape[0]
    bag = xp.searchsorted(starts[:count], xp.arange(index.shape[0]), side="right") - 1
    return index, bag, count


def embedding_bag(input: Any, weight: Any, offsets: Any = None,  # noqa: A002
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Any = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Any:  # fmt: skip
    """Sums, means or maxima of bags of embeddings: rows of a 2-d ``input``, or runs of a 1-d
    ``input`` starting at ``offsets``. ``padding_idx`` entries are left out of every bag."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
            "GitHub."
        )
    xp = xp_of(weight)
    flat, bag, count = _bags(arr(input), offsets, include_last_offset, xp)
    flat_t = constant(flat)
    rows = embedding(flat_t, weight, None, max_norm, norm_type, scale_grad_by_freq)
    keep = (
        xp.ones(flat.shape, dtype=bool)
        if padding_idx is None
        else flat != padding_idx % arr(weight).shape[0]
    )
    if per_sample_weights is not None:
        rows = ops.mul(rows, ops.unsqueeze(ops.reshape(per_sample_weights, -1), 1))
    dim = arr(weight).shape[1]
    if mode == "max":
        return _bag_max(rows, bag, keep, count, dim, xp)
    rows = ops.mul(rows, constant(keep[:, None].astype(arr(weight).dtype)))
    zeros = constant(xp.zeros((count, dim), dtype=arr(weight).dtype))
    sums = ops.index_add(zeros, 0, constant(bag), rows)
    if mode == "sum":
        return sums
    sizes = xp.bincount(bag[keep], minlength=count).astype(arr(weight).dtype)
    return ops.div(sums, constant(xp.maximum(sizes, 1)[:, None]))


def _bag_max(rows: Any, bag: Any, keep: Any, count: int, dim: int, xp: Any) -> Any:
    pieces = []
    for b in range(count):
        members = xp.nonzero((bag == b) & keep)[0]
        if members.size == 0:
            pieces.append(constant(xp.zeros((dim,), dtype=arr(rows).dtype)))
        else:
            pieces.append(ops.amax(ops.index_select(rows, 0, constant(members)), 0))
    return ops.stack(pieces) if pieces else constant(xp.zeros((0, dim), dtype=arr(rows).dtype))


def one_hot(tensor: Any, num_classes: int = -1) -> Any:
    """An int64 tensor with a trailing dimension of ``num_classes``: 1 at each index."""
    index = arr(tensor)
    if index.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    xp = xp_of(tensor)
    if num_classes == -1:
        num_classes = int(index.max()) + 1 if index.size else 0
    if index.size and (index.min() < 0 or index.max() >= num_classes):
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = xp.zeros((*index.shape, num_classes), dtype=np.int64)
    out[along(index[..., None].astype(np.int64), -1)] = 1
    return constant(out)
