"""Losses and distances (``torch.nn.functional``): cross-entropy (class indices with
``ignore_index``, ``weight`` and ``label_smoothing``, or class probabilities), NLL, MSE, L1,
smooth L1, Huber, KL divergence, binary cross-entropy (on probabilities and on logits) and
the margin and distance losses, with PyTorch's reductions and normalisation by weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import ops
from paramtool.core.autograd import record
from paramtool.core.ops_common import along, arr, constant, needs, xp_of

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
    "cosine_similarity", "cross_entropy", "gaussian_nll_loss", "hinge_embedding_loss",
    "huber_loss", "kl_div", "l1_loss", "margin_ranking_loss", "mse_loss",
    "multilabel_soft_margin_loss", "nll_loss", "pairwise_distance", "poisson_nll_loss",
    "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss", "pdist", "multi_margin_loss",
    "multilabel_margin_loss", "triplet_margin_with_distance_loss", "linear_cross_entropy",
]  # fmt: skip


def reduction_of(size_average: Any, reduce: Any, reduction: str) -> str:
    """The ``reduction`` that the legacy ``size_average``/``reduce`` arguments mean."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


def reduce_loss(loss: Any, reduction: str) -> Any:
    """Apply ``reduction`` ("none", "mean" or "sum") to elementwise losses."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    raise ValueError(f"{reduction} is not a valid value for reduction")


# -- classification ---------------------------------------------------------------------------


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Any:  # fmt: skip
    """Negative log-likelihood of ``target`` classes given log-probabilities ``input``
    (classes on dimension 1, or the only dimension); "mean" divides by the targets' weights."""
    reduction = reduction_of(size_average, reduce, reduction)
    x, t = arr(input), arr(target)
    xp = xp_of(input)
    _check_targets(x, t)
    moved = xp.moveaxis(x, 1, -1) if x.ndim >= 2 else x
    valid = t != ignore_index
    safe = xp.where(valid, t, 0)
    classes = moved.shape[-1]
    if valid.any() and (safe.min() < 0 or safe.max() >= classes):
        bad = int(safe.max() if safe.max() >= classes else safe.min())
        raise IndexError(f"Target {bad} is out of bounds.")
    w = arr(weight)[safe] if weight is not None else xp.ones(safe.shape, dtype=x.dtype)
    w = (w * valid).astype(x.dtype)
    picked = xp.take_along_axis(moved, safe[..., None], axis=-1)[..., 0]
    losses = -picked * w
    if reduction == "none":
        out, scale = losses, w
    elif reduction == "sum":
        out, scale = losses.sum(), w
    elif reduction == "mean":
        total = w.sum()
        out = losses.sum() / total
        scale = w / total
    else:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    out = xp.asarray(out, dtype=x.dtype)

    def backward(g: Any) -> tuple[Any, ...]:
        full = xp.zeros(moved.shape, dtype=x.dtype)
        full[along(safe[..., None], -1)] = (-scale * g)[..., None]
        return (xp.moveaxis(full, -1, 1) if x.ndim >= 2 else full), None, None

    return record(out, (input, target, weight), backward, name="NllLossBackward0")


def _check_targets(x: Any, t: Any) -> None:
    if x.ndim == 1:
        if t.ndim != 0:
            raise ValueError(
                f"Expected input batch_size (1) to match target batch_size ({t.shape[0]})."
            )
        return
    if t.shape[:1] != x.shape[:1]:
        raise ValueError(
            f"Expected input batch_size ({x.shape[0]}) to match target batch_size ({t.shape[0]})."
        )


def cross_entropy(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Any:  # fmt: skip
    """``nll_loss(log_softmax(input, 1), target)``; ``target`` holds class indices, or class
    probabilities shaped like ``input``."""
    reduction = reduction_of(size_average, reduce, reduction)
    class_dim = 1 if arr(input).ndim >= 2 else 0
    logp = ops.log_softmax(input, class_dim)
    t = arr(target)
    classes = arr(input).shape[class_dim]
    if t.dtype.kind == "f":
        return _soft_cross_entropy(logp, target, weight, reduction, label_smoothing, class_dim)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if not label_smoothing:
        return nll
    smooth = _smooth_term(logp, target, weight, ignore_index, reduction, class_dim)
    return ops.add(ops.mul(nll, 1 - label_smoothing), ops.mul(smooth, label_smoothing / classes))


def linear_cross_entropy(input: Any, linear_weight: Any, target: Any, *,  # noqa: A002
                         linear_bias: Any = None, weight: Any = None, reduction: str = "mean",
                         ignore_index: int | None = None, label_smoothing: float = 0.0,
                         options: Any = None) -> Any:  # fmt: skip
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)`` (PyTorch's
    reference form; the logits are computed whole, not in chunks).

    Raises:
        NotImplementedError: a weight of more than two dimensions (K-dimensional outputs).
    """
    if len(linear_weight.shape) != 2:
        raise NotImplementedError("linear_cross_entropy with a K-dimensional linear_weight")
    from paramtool.nn.functional.linear import linear  # noqa: PLC0415

    logits = linear(input, linear_weight, linear_bias)
    index = -100 if ignore_index is None else ignore_index
    return cross_entropy(logits, target, weight, ignore_index=index, reduction=reduction,
                         label_smoothing=label_smoothing)  # fmt: skip


def _class_shape(ndim: int, class_dim: int) -> tuple[int, ...]:
    shape = [1] * ndim
    shape[class_dim] = -1
    return tuple(shape)


def _smooth_term(logp: Any, target: Any, weight: Any, ignore_index: int, reduction: str,
                 class_dim: int) -> Any:  # fmt: skip
    """The label-smoothing part of cross-entropy: ``-sum_c w_c logp_c`` per target."""
    weighted = (
        logp
        if weight is None
        else ops.mul(logp, ops.reshape(weight, _class_shape(arr(logp).ndim, class_dim)))
    )
    t = arr(target)
    xp = xp_of(logp)
    ignored = t == ignore_index
    per = ops.masked_fill(ops.neg(ops.sum(weighted, class_dim)), constant(ignored), 0.0)
    if reduction == "none":
        return per
    if reduction == "sum":
        return ops.sum(per)
    kept = ~ignored
    denominator = arr(weight)[t[kept]].sum() if weight is not None else kept.sum()
    return ops.div(ops.sum(per), float(xp.asarray(denominator)))


def _soft_cross_entropy(logp: Any, target: Any, weight: Any, reduction: str,
                        label_smoothing: float, class_dim: int) -> Any:  # fmt: skip
    x = arr(logp)
    classes = x.shape[class_dim]
    if tuple(arr(target).shape) != tuple(x.shape):
        raise RuntimeError(f"Expected target size {list(x.shape)}, got {list(arr(target).shape)}")
    if label_smoothing:
        target = ops.add(ops.mul(target, 1 - label_smoothing), label_smoothing / classes)
    product = ops.mul(logp, target)
    if weight is not None:
        product = ops.mul(product, ops.reshape(weight, _class_shape(x.ndim, class_dim)))
    per = ops.neg(ops.sum(product, class_dim))
    if reduction == "mean":
        return ops.div(ops.sum(per), max(x.size // classes, 1))
    return reduce_loss(per, reduction)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
                         reduce: Any = None, reduction: str = "mean") -> Any:  # fmt: skip
    """``-(t log x + (1 - t) log(1 - x))`` with each log clamped at -100, as in PyTorch."""
    reduction = reduction_of(size_average, reduce, reduction)
    x, t = arr(input), arr(target)
    if tuple(x.shape) != tuple(t.shape):
        raise ValueError(
            f"Using a target size (torch.Size({list(t.shape)})) that is different to the input "
            f"size (torch.Size({list(x.shape)})) is deprecated. Please ensure they have the same "
            "size."
        )
    xp = xp_of(input)
    if (x < 0).any() or (x > 1).any():
        raise RuntimeError("all elements of input should be between 0 and 1")
    log_x = xp.maximum(xp.log(x), -100)
    log_1mx = xp.maximum(xp.log1p(-x), -100)
    loss = -(t * log_x + (1 - t) * log_1mx)

    def backward(g: Any) -> tuple[Any, Any]:
        gx = g * (x - t) / xp.maximum((1 - x) * x, 1e-12)
        gt = g * (log_1mx - log_x) if needs_t else None
        return gx, gt

    needs_t = needs(target)
    out = record(
        loss.astype(x.dtype), (input, target), backward, name="BinaryCrossEntropyBackward0"
    )
    if weight is not None:
        out = ops.mul(out, weight)
    return reduce_loss(out, reduction)


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None,  # noqa: A002
                                     size_average: Any = None, reduce: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Any:  # fmt: skip
    """Binary cross-entropy of ``sigmoid(input)``, computed stably from the logits."""
    reduction = reduction_of(size_average, reduce, reduction)
    x, t = arr(input), arr(target)
    if tuple(x.shape) != tuple(t.shape):
        raise ValueError(
            f"Target size (torch.Size({list(t.shape)})) must be the same as input size "
            f"(torch.Size({list(x.shape)}))"
        )
    xp = xp_of(input)
    pw = arr(pos_weight) if pos_weight is not None else None
    softplus_neg = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
    log_weight = 1 if pw is None else 1 + (pw - 1) * t
    loss = ((1 - t) * x + log_weight * softplus_neg).astype(x.dtype)
    need_t = needs(target)

    def backward(g: Any) -> tuple[Any, ...]:
        s = 1 / (1 + xp.exp(-x))
        gx = g * (s - t) if pw is None else g * (log_weight * s - pw * t)
        gt = None
        if need_t:
            gt = g * (-x + (0 if pw is None else (pw - 1) * softplus_neg))
        return gx, gt, None

    out = record(loss, (input, target, pos_weight), backward,
                 name="BinaryCrossEntropyWithLogitsBackward0")  # fmt: skip
    if weight is not None:
        out = ops.mul(out, weight)
    return reduce_loss(out, reduction)


# -- regression -------------------------------------------------------------------------------


def mse_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
             reduction: str = "mean", weight: Any = None) -> Any:  # fmt: skip
    """Mean squared error."""
    diff = ops.sub(input, target)
    loss = ops.mul(diff, diff)
    if weight is not None:
        loss = ops.mul(loss, weight)
    return reduce_loss(loss, reduction_of(size_average, reduce, reduction))


def l1_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
            reduction: str = "mean", weight: Any = None) -> Any:  # fmt: skip
    """Mean absolute error."""
    loss = ops.abs(ops.sub(input, target))
    if weight is not None:
        loss = ops.mul(loss, weight)
    return reduce_loss(loss, reduction_of(size_average, reduce, reduction))


def smooth_l1_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Any:  # fmt: skip
    """Quadratic below ``beta``, linear above: ``0.5 d**2 / beta`` or ``|d| - 0.5 beta``."""
    reduction = reduction_of(size_average, reduce, reduction)
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    diff = ops.sub(input, target)
    size = ops.abs(diff)
    quadratic = ops.div(ops.mul(ops.mul(diff, diff), 0.5), beta)
    loss = ops.where(ops.lt(size, beta), quadratic, ops.sub(size, 0.5 * beta))
    return reduce_loss(loss, reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0,  # noqa: A002
               weight: Any = None) -> Any:  # fmt: skip
    """Quadratic below ``delta``, linear above: ``0.5 d**2`` or ``delta (|d| - 0.5 delta)``."""
    diff = ops.sub(input, target)
    size = ops.abs(diff)
    quadratic = ops.mul(ops.mul(diff, diff), 0.5)
    loss = ops.where(ops.lt(size, delta), quadratic, ops.mul(ops.sub(size, 0.5 * delta), delta))
    if weight is not None:
        loss = ops.mul(loss, weight)
    return reduce_loss(loss, reduction)


def kl_div(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Any:  # fmt: skip
    """KL divergence with ``input`` as log-probabilities: ``target * (log target - input)``;
    "batchmean" divides the sum by the batch size."""
    reduction = reduction_of(size_average, reduce, reduction)
    if log_target:
        loss = ops.mul(ops.exp(target), ops.sub(target, input))
    else:
        positive = ops.gt(target, 0)
        safe = ops.where(positive, target, 1.0)
        xlogy = ops.where(positive, ops.mul(target, ops.log(safe)), 0.0)
        loss = ops.sub(xlogy, ops.mul(target, input))
    if reduction == "batchmean":
        batch = arr(input).shape[0] if arr(input).ndim else 1
        return ops.div(ops.sum(loss), batch)
    return reduce_loss(loss, reduction)


def poisson_nll_loss(input: Any, target: Any, log_input: bool = True, full: bool = False,  # noqa: A002
                     size_average: Any = None, eps: float = 1e-8, reduce: Any = None,
                     reduction: str = "mean") -> Any:  # fmt: skip
    """Poisson negative log-likelihood."""
    if log_input:
        loss = ops.sub(ops.exp(input), ops.mul(target, input))
    else:
        loss = ops.sub(input, ops.mul(target, ops.log(ops.add(input, eps))))
    if full:
        t = arr(target)
        xp = xp_of(input)
        safe = xp.where(t > 1, t, 1)
        stirling = xp.where(t > 1, safe * xp.log(safe) - safe + 0.5 * xp.log(2 * np.pi * safe), 0)
        loss = ops.add(loss, constant(stirling.astype(arr(input).dtype)))
    return reduce_loss(loss, reduction_of(size_average, reduce, reduction))


def gaussian_nll_loss(input: Any, target: Any, var: Any, full: bool = False,  # noqa: A002
                      eps: float = 1e-6, reduction: str = "mean") -> Any:  # fmt: skip
    """Gaussian negative log-likelihood with predicted variance ``var`` (clamped at ``eps``)."""
    var = ops.clamp_min(var, eps) if not hasattr(var, "_cell") else _clamped(var, eps)
    diff = ops.sub(input, target)
    loss = ops.mul(ops.add(ops.log(var), ops.div(ops.mul(diff, diff), var)), 0.5)
    if full:
        loss = ops.add(loss, 0.5 * np.log(2 * np.pi))
    return reduce_loss(loss, reduction)


def _clamped(var: Any, eps: float) -> Any:
    """``var`` clamped at ``eps`` with the gradient passing unchanged (PyTorch's choice)."""
    v = arr(var)
    xp = xp_of(var)
    return record(xp.maximum(v, eps), (var,), lambda g: (g,), name="ClampBackward1")


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
