"""Classification and regression losses (``torch.nn.functional``): cross-entropy (class
indices with ``ignore_index``, ``weight`` and ``label_smoothing``, or class probabilities), NLL,
binary cross-entropy (on probabilities and on logits), MSE, L1, smooth L1, Huber, KL divergence
and the Poisson and Gaussian NLLs, with PyTorch's reductions and normalisation by weights.

The margin, ranking and distance losses are in ``margin_loss``."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import ops
from paramtool.core.autograd import record
from paramtool.core.ops_common import along, arr, constant, needs, xp_of

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "gaussian_nll_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "linear_cross_entropy",
]


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
