"""Gradient clipping (``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from paramtool.core.tensor import Tensor, from_array


def _with_grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale the gradients in place so that their joint ``norm_type``-norm is at most ``max_norm``.

    Returns:
        The total norm of the gradients before clipping (a 0-d tensor).
    """
    params = _with_grads(parameters)
    if not params:
        return from_array(__import__("numpy").float32(0.0))
    grads = [p.grad._array() for p in params]
    xp = params[0]._xp()
    if math.isinf(norm_type):
        total = max(float(xp.max(xp.abs(g))) for g in grads)
    else:
        total = sum(float(xp.sum(xp.abs(g) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef
    return from_array(xp.asarray(total, dtype=grads[0].dtype))


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place."""
    for p in _with_grads(parameters):
        grad = p.grad._array()
        p.grad._xp().clip(grad, -clip_value, clip_value, out=grad)
