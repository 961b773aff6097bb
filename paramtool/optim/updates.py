"""The update rules of SGD and Adam/AdamW, on the parameters' arrays, as PyTorch's
single-tensor implementations compute them (same operation order, so float32 results agree).

Each function takes an optimizer and updates every parameter of every group that has a
gradient, keeping its per-parameter state (momentum buffers, moments, step counts) in
``optimizer.state`` as tensors under PyTorch's names.
"""

from __future__ import annotations

import math
from typing import Any

from paramtool.core.autograd import no_grad
from paramtool.core.tensor import from_array


def _params_with_grad(group: dict[str, Any]) -> list[Any]:
    return [p for p in group["params"] if p.grad is not None]


def _write(param: Any, values: Any) -> None:
    """Store new values in a parameter in place (its views and ties see them)."""
    param.materialize()
    param._cell.writable()[...] = values


def sgd_step(optimizer: Any) -> None:
    """``p -= lr * d`` with weight decay, (Nesterov) momentum and dampening as in PyTorch."""
    with no_grad():
        for group in optimizer.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            dampening, decay, nesterov = (
                group["dampening"],
                group["weight_decay"],
                group["nesterov"],
            )
            for p in _params_with_grad(group):
                p_arr = p._array()
                d = p.grad._array()
                d = -d if group["maximize"] else d
                if decay:
                    d = d + decay * p_arr
                if momentum:
                    state = optimizer.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = from_array(d.copy())
                        state["momentum_buffer"] = buf
                    else:
                        b = buf._array()
                        b *= momentum
                        b += (1 - dampening) * d
                    d = d + momentum * buf._array() if nesterov else buf._array()
                _write(p, p_arr - lr * d)


def _lerp(start: Any, end: Any, weight: float) -> Any:
    """PyTorch's ``lerp``: from ``start`` for weights below 0.5, from ``end`` above."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def adam_step(optimizer: Any) -> None:
    """Adam, or AdamW with ``decoupled_weight_decay``: moments, bias correction, amsgrad."""
    with no_grad():
        for group in optimizer.param_groups:
            for p in _params_with_grad(group):
                _adam_one(optimizer.state[p], p, group)


def _adam_one(state: dict[str, Any], p: Any, group: dict[str, Any]) -> None:
    lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
    decay = group["weight_decay"]
    xp = p._xp()
    p_arr = p._array()
    grad = p.grad._array()
    grad = -grad if group["maximize"] else grad
    if not state:
        state["step"] = from_array(xp.zeros((), dtype=xp.float32))
        state["exp_avg"] = from_array(xp.zeros_like(p_arr))
        state["exp_avg_sq"] = from_array(xp.zeros_like(p_arr))
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = from_array(xp.zeros_like(p_arr))
    step_t = state["step"]._array()
    step_t += 1
    step = float(step_t)
    if decay:
        if group.get("decoupled_weight_decay"):
            p_arr = p_arr * (1 - lr * decay)
        else:
            grad = grad + decay * p_arr
    m, v = state["exp_avg"]._array(), state["exp_avg_sq"]._array()
    m[...] = _lerp(m, grad, 1 - beta1)
    v *= beta2
    v += (1 - beta2) * grad * grad  # addcmul's order: (value * g) * g
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    if group["amsgrad"]:
        top = state["max_exp_avg_sq"]._array()
        xp.maximum(top, v, out=top)
        denom = xp.sqrt(top) / bias_correction2_sqrt + eps
    else:
        denom = xp.sqrt(v) / bias_correction2_sqrt + eps
    _write(p, p_arr - (lr / bias_correction1) * (m / denom))
