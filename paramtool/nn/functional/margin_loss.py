"""Margin, ranking and distance losses (``torch.nn.functional``): soft margin, margin ranking,
hinge and cosine embedding, triplet margin (also with a custom distance), multi-label and
multi-class margins, and the distances they build on (cosine similarity, pairwise distance,
pdist), with PyTorch's reductions."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import ops
from paramtool.core.ops_common import arr, constant, xp_of
from paramtool.nn.functional.loss import reduce_loss, reduction_of

__all__ = [
    "cosine_embedding_loss",
    "cosine_similarity",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "pairwise_distance",
    "pdist",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]


# -- margins and distances --------------------------------------------------------------------


def soft_margin_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
                     reduction: str = "mean") -> Any:  # fmt: skip
    """``log(1 + exp(-target * input))``."""
    from paramtool.nn.functional.activation import softplus  # noqa: PLC0415

    loss = softplus(ops.neg(ops.mul(target, input)))
    return reduce_loss(loss, reduction_of(size_average, reduce, reduction))


def margin_ranking_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Any:  # fmt: skip
    """``max(0, -target * (input1 - input2) + margin)``."""
    loss = ops.clamp_min(ops.add(ops.mul(ops.neg(target), ops.sub(input1, input2)), margin), 0)
    return reduce_loss(loss, reduction_of(size_average, reduce, reduction))


def hinge_embedding_loss(input: Any, target: Any, margin: float = 1.0, size_average: Any = None,  # noqa: A002
                         reduce: Any = None, reduction: str = "mean") -> Any:  # fmt: skip
    """``x`` where target is 1, ``max(0, margin - x)`` where it is -1."""
    positive = ops.where(ops.eq(target, 1), input, 0.0)
    negative = ops.where(ops.eq(target, -1), ops.clamp_min(ops.rsub(input, margin), 0), 0.0)
    return reduce_loss(ops.add(positive, negative), reduction_of(size_average, reduce, reduction))


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Any:
    """``x1 . x2 / max(||x1|| ||x2||, eps)`` along ``dim``."""
    dot = ops.sum(ops.mul(x1, x2), dim)
    n1 = ops.sqrt(ops.sum(ops.mul(x1, x1), dim))
    n2 = ops.sqrt(ops.sum(ops.mul(x2, x2), dim))
    return ops.div(dot, ops.clamp_min(ops.mul(n1, n2), eps))


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Any:  # fmt: skip
    """``||x1 - x2 + eps||_p`` along the last dimension."""
    return ops.norm(ops.add(ops.sub(x1, x2), eps), p, -1, keepdim)


def pdist(input: Any, p: float = 2.0) -> Any:  # noqa: A002
    """Distances between every pair of rows (upper triangle, row-major)."""
    n = arr(input).shape[0]
    xp = xp_of(input)
    rows, cols = (xp.asarray(i) for i in np.triu_indices(n, 1))
    a = ops.index_select(input, 0, constant(rows.astype(np.int64)))
    b = ops.index_select(input, 0, constant(cols.astype(np.int64)))
    return ops.norm(ops.sub(a, b), p, -1)


def cosine_embedding_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                          size_average: Any = None, reduce: Any = None,
                          reduction: str = "mean") -> Any:  # fmt: skip
    """``1 - cos`` for target 1, ``max(0, cos - margin)`` for target -1."""
    cos = cosine_similarity(input1, input2, dim=-1, eps=1e-12)
    positive = ops.where(ops.eq(target, 1), ops.rsub(cos, 1), 0.0)
    negative = ops.where(ops.eq(target, -1), ops.clamp_min(ops.sub(cos, margin), 0), 0.0)
    return reduce_loss(ops.add(positive, negative), reduction_of(size_average, reduce, reduction))


def triplet_margin_loss(anchor: Any, positive: Any, negative: Any, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Any:  # fmt: skip
    """``max(d(a, p) - d(a, n) + margin, 0)`` with p-norm distances."""
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = ops.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    loss = ops.clamp_min(ops.add(ops.sub(d_pos, d_neg), margin), 0)
    return reduce_loss(loss, reduction_of(size_average, reduce, reduction))


def multilabel_soft_margin_loss(input: Any, target: Any, weight: Any = None,  # noqa: A002
                                size_average: Any = None, reduce: Any = None,
                                reduction: str = "mean") -> Any:  # fmt: skip
    """Mean over classes of the binary cross-entropy of ``sigmoid(input)``."""
    from paramtool.nn.functional.activation import logsigmoid  # noqa: PLC0415

    loss = ops.neg(ops.add(ops.mul(target, logsigmoid(input)),
                           ops.mul(ops.rsub(target, 1), logsigmoid(ops.neg(input)))))  # fmt: skip
    if weight is not None:
        loss = ops.mul(loss, weight)
    loss = ops.mean(loss, -1)
    return reduce_loss(loss, reduction_of(size_average, reduce, reduction))


def multi_margin_loss(input: Any, target: Any, p: int = 1, margin: float = 1.0,  # noqa: A002
                      weight: Any = None, size_average: Any = None, reduce: Any = None,
                      reduction: str = "mean") -> Any:  # fmt: skip
    """Multi-class hinge loss: ``sum_{i != y} max(0, margin - x[y] + x[i])**p / C``."""
    x = arr(input)
    xp = xp_of(input)
    two_d = input if x.ndim == 2 else ops.unsqueeze(input, 0)
    t = arr(target).reshape(-1)
    picked = ops.gather(two_d, 1, constant(t[:, None]))
    hinge = ops.clamp_min(ops.add(ops.sub(two_d, picked), margin), 0)
    if p == 2:
        hinge = ops.mul(hinge, hinge)
    if weight is not None:
        hinge = ops.mul(hinge, ops.unsqueeze(ops.index_select(weight, 0, constant(t)), 1))
    others = constant(xp.arange(arr(two_d).shape[1])[None, :] != t[:, None])
    loss = ops.div(ops.sum(ops.mul(hinge, others), 1), arr(two_d).shape[1])
    if x.ndim != 2:
        loss = ops.squeeze(loss, 0)
    return reduce_loss(loss, reduction_of(size_average, reduce, reduction))


def triplet_margin_with_distance_loss(anchor: Any, positive: Any, negative: Any, *,
                                      distance_function: Any = None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Any:  # fmt: skip
    """``max(d(a, p) - d(a, n) + margin, 0)`` with any distance (default pairwise L2)."""
    distance = distance_function or pairwise_distance
    d_pos, d_neg = distance(anchor, positive), distance(anchor, negative)
    if swap:
        d_neg = ops.minimum(d_neg, distance(positive, negative))
    return reduce_loss(ops.clamp_min(ops.add(ops.sub(d_pos, d_neg), margin), 0), reduction)


def multilabel_margin_loss(input: Any, target: Any, size_average: Any = None,  # noqa: A002
                           reduce: Any = None, reduction: str = "mean") -> Any:  # fmt: skip
    """``sum over target classes j and other classes i of max(0, 1 - (x[j] - x[i])) / C``; the
    targets of a sample are its leading non-negative entries (the first -1 ends them)."""
    x = arr(input)
    xp = xp_of(input)
    two_d = input if x.ndim == 2 else ops.unsqueeze(input, 0)
    t = arr(target).reshape(arr(two_d).shape)
    classes = t.shape[1]
    valid = xp.cumprod(t >= 0, axis=1).astype(bool)  # entries before the first -1
    is_target = xp.zeros(t.shape, dtype=bool)
    rows = xp.nonzero(valid)[0]
    is_target[rows, t[valid]] = True
    picked = ops.gather(two_d, 1, constant(xp.where(valid, t, 0)))  # x[y_j] per target slot
    hinge = ops.clamp_min(
        ops.rsub(ops.sub(ops.unsqueeze(picked, 2), ops.unsqueeze(two_d, 1)), 1), 0
    )
    pairs = constant((valid[:, :, None] & ~is_target[:, None, :]).astype(x.dtype))
    loss = ops.div(ops.sum(ops.mul(hinge, pairs), (1, 2)), classes)
    if x.ndim != 2:
        loss = ops.squeeze(loss, 0)
    return reduce_loss(loss, reduction_of(size_average, reduce, reduction))
