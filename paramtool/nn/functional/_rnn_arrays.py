"""Recurrent layers on arrays: one direction of one layer over a sequence, and its backward
pass through time (numpy or cupy).

Gate layouts are PyTorch's: LSTM rows ``[input, forget, cell, output]``, GRU rows
``[reset, update, new]`` with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``. The input
projection of every step is one matrix product over the whole sequence; only the hidden-state
product runs step by step. An LSTM with ``proj_size`` passes ``h = W_hr (o * tanh(c))`` on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paramtool.nn.functional._im2col import xp_of


@dataclass
class Weights:
    """One layer and direction's parameters (arrays; None where the layer has none)."""

    w_ih: Any
    w_hh: Any
    b_ih: Any = None
    b_hh: Any = None
    w_hr: Any = None


@dataclass
class Trace:
    """What one direction's forward pass keeps for its backward pass."""

    mode: str
    reverse: bool
    x: Any
    weights: Weights
    steps: list[tuple[Any, ...]] = field(default_factory=list)
    masks: list[Any] = field(default_factory=list)  # per step, 1 where the entry runs


def _sigmoid(x: Any, xp: Any) -> Any:
    return 0.5 * (1.0 + xp.tanh(0.5 * x))  # overflow-free logistic function


def _affine(x: Any, w: Any, b: Any) -> Any:
    y = x @ w.T
    return y if b is None else y + b


def _order(length: int, reverse: bool) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


def forward(
    mode: str, x: Any, h: Any, c: Any, weights: Weights, reverse: bool = False,
    lengths: Any = None,
) -> tuple[Any, Any, Any, Trace]:  # fmt: skip
    """Run one direction over ``x (T, B, I)`` from state ``h`` (and ``c`` for an LSTM).

    With ``lengths`` (one per batch entry; packed sequences), entry ``b`` only runs its first
    ``lengths[b]`` steps: its state is carried unchanged past them (a reverse pass so starts at
    its own last step) and its outputs there are zero.

    Returns:
        ``(ys (T, B, H_out), h_T, c_T or None, trace)``.
    """
    xp = xp_of(x)
    xw = _affine(x, weights.w_ih, weights.b_ih)
    trace = Trace(mode, reverse, x, weights)
    ys = xp.empty((x.shape[0], x.shape[1], h.shape[-1]), dtype=x.dtype)
    for t in _order(x.shape[0], reverse):
        h_new, c_new, step = _STEPS[mode](xw[t], h, c, weights, xp)
        trace.steps.append(step)
        if lengths is None:
            h, c = h_new, c_new
            ys[t] = h
            continue
        keep = (t < lengths)[:, None].astype(x.dtype)
        trace.masks.append(keep)
        ys[t] = h_new * keep
        h = h_new * keep + h * (1 - keep)
        c = None if c is None else c_new * keep + c * (1 - keep)
    return ys, h, c, trace


def _lstm_step(xw: Any, h: Any, c: Any, wt: Weights, xp: Any) -> tuple[Any, Any, tuple]:
    gates = xw + _affine(h, wt.w_hh, wt.b_hh)
    i, f, g, o = xp.split(gates, 4, axis=-1)
    i, f, o, g = _sigmoid(i, xp), _sigmoid(f, xp), _sigmoid(o, xp), xp.tanh(g)
    c_next = f * c + i * g
    tc = xp.tanh(c_next)
    h_full = o * tc
    h_next = h_full if wt.w_hr is None else h_full @ wt.w_hr.T
    return h_next, c_next, (h, c, i, f, g, o, tc, h_full)


def _gru_step(xw: Any, h: Any, c: Any, wt: Weights, xp: Any) -> tuple[Any, Any, tuple]:
    hw = _affine(h, wt.w_hh, wt.b_hh)
    xr, xz, xn = xp.split(xw, 3, axis=-1)
    hr, hz, hn = xp.split(hw, 3, axis=-1)
    r, z = _sigmoid(xr + hr, xp), _sigmoid(xz + hz, xp)
    n = xp.tanh(xn + r * hn)
    return (1 - z) * n + z * h, None, (h, r, z, n, hn)


def _tanh_step(xw: Any, h: Any, c: Any, wt: Weights, xp: Any) -> tuple[Any, Any, tuple]:
    h_next = xp.tanh(xw + _affine(h, wt.w_hh, wt.b_hh))
    return h_next, None, (h, h_next)


def _relu_step(xw: Any, h: Any, c: Any, wt: Weights, xp: Any) -> tuple[Any, Any, tuple]:
    h_next = xp.maximum(xw + _affine(h, wt.w_hh, wt.b_hh), 0)
    return h_next, None, (h, h_next)


_STEPS = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN_TANH": _tanh_step, "RNN_RELU": _relu_step}


def backward(trace: Trace, g_ys: Any, g_h: Any, g_c: Any) -> tuple[Any, Any, Any, Weights]:
    """Backpropagate through :func:`forward`.

    Args:
        trace: The forward pass's trace.
        g_ys: Gradient of ``ys``.
        g_h: Gradient of the final hidden state.
        g_c: Gradient of the final cell state (LSTM only; None otherwise).

    Returns:
        ``(g_x, g_h0, g_c0 or None, weight gradients)``.
    """
    xp = xp_of(g_ys)
    wt = trace.weights
    grads = Weights(xp.zeros_like(wt.w_ih), xp.zeros_like(wt.w_hh))
    if wt.w_hr is not None:
        grads.w_hr = xp.zeros_like(wt.w_hr)
    g_xw = xp.empty(g_ys.shape[:2] + (wt.w_ih.shape[0],), dtype=g_ys.dtype)
    order = reversed(list(_order(g_ys.shape[0], trace.reverse)))
    masks = reversed(trace.masks) if trace.masks else None
    for t, step in zip(order, reversed(trace.steps), strict=True):
        passed_h = passed_c = 0
        if masks is None:
            g_h = g_h + g_ys[t]
        else:  # entries past their length pass their state through and output zeros
            keep = next(masks)
            passed_h, g_h = g_h * (1 - keep), (g_h + g_ys[t]) * keep
            if g_c is not None:
                passed_c, g_c = g_c * (1 - keep), g_c * keep
        g_xw[t], g_hw, g_h, g_c = _STEP_BACKWARDS[trace.mode](step, g_h, g_c, wt, grads, xp)
        grads.w_hh += g_hw.T @ step[0]
        g_h = g_h + g_hw @ wt.w_hh + passed_h
        g_c = None if g_c is None else g_c + passed_c
    flat = g_xw.reshape(-1, g_xw.shape[-1])
    grads.w_ih = flat.T @ trace.x.reshape(-1, trace.x.shape[-1])
    if wt.b_ih is not None:
        grads.b_ih = flat.sum(0)
    return g_xw @ wt.w_ih, g_h, g_c, grads


def _lstm_backward(step: tuple, g_h: Any, g_c: Any, wt: Weights, grads: Weights, xp: Any) -> tuple:
    h, c, i, f, g, o, tc, h_full = step
    if wt.w_hr is not None:
        grads.w_hr += g_h.T @ h_full
        g_h = g_h @ wt.w_hr
    g_c = g_h * o * (1 - tc * tc) + (0 if g_c is None else g_c)
    g_gates = xp.concatenate(
        [g_c * g * i * (1 - i), g_c * c * f * (1 - f), g_c * i * (1 - g * g),
         g_h * tc * o * (1 - o)],
        axis=-1,
    )  # fmt: skip
    _bias_grad(grads, g_gates)
    return g_gates, g_gates, 0, g_c * f


def _gru_backward(step: tuple, g_h: Any, g_c: Any, wt: Weights, grads: Weights, xp: Any) -> tuple:
    h, r, z, n, hn = step
    g_n = g_h * (1 - z) * (1 - n * n)
    g_z = g_h * (h - n) * z * (1 - z)
    g_r = g_n * hn * r * (1 - r)
    g_xw = xp.concatenate([g_r, g_z, g_n], axis=-1)
    g_hw = xp.concatenate([g_r, g_z, g_n * r], axis=-1)
    _bias_grad(grads, g_hw)
    return g_xw, g_hw, g_h * z, None


def _tanh_backward(step: tuple, g_h: Any, g_c: Any, wt: Weights, grads: Weights, xp: Any) -> tuple:
    g_pre = g_h * (1 - step[1] * step[1])
    _bias_grad(grads, g_pre)
    return g_pre, g_pre, 0, None


def _relu_backward(step: tuple, g_h: Any, g_c: Any, wt: Weights, grads: Weights, xp: Any) -> tuple:
    g_pre = g_h * (step[1] > 0)
    _bias_grad(grads, g_pre)
    return g_pre, g_pre, 0, None


def _bias_grad(grads: Weights, g_hw: Any) -> None:
    grads.b_hh = g_hw.sum(0) if grads.b_hh is None else grads.b_hh + g_hw.sum(0)


_STEP_BACKWARDS = {
    "LSTM": _lstm_backward,
    "GRU": _gru_backward,
    "RNN_TANH": _tanh_backward,
    "RNN_RELU": _relu_backward,
}
