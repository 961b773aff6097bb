"""Recurrent computations: multi-layer, bidirectional RNN/LSTM/GRU over a sequence, and the
single-step cells (what ``torch.lstm``, ``torch.gru``, ``torch.lstm_cell``, ... compute).

A whole recurrent layer stack is one recorded op whose backward pass runs through time and
back down the layers (``_rnn_arrays``). ``torch.nn.functional`` has no public recurrent
functions, so this module exports nothing into it; the layers call it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paramtool.core import factories
from paramtool.core.autograd import record, record_multi
from paramtool.core.device import device_of
from paramtool.nn.functional import _rnn_arrays as arrays
from paramtool.nn.functional._im2col import xp_of

__all__: list[str] = []


class Stack:
    """A recurrent stack's shape: mode, layers, directions, and its flat weight list's layout.

    ``weights`` holds per layer and direction ``w_ih, w_hh[, b_ih, b_hh][, w_hr]`` (PyTorch's
    ``_flat_weights`` order).
    """

    def __init__(self, mode: str, num_layers: int, bidirectional: bool, has_biases: bool,
                 has_projections: bool) -> None:  # fmt: skip
        self.mode = mode
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        self.has_biases = has_biases
        self.per_layer = 2 + 2 * has_biases + has_projections
        self.has_projections = has_projections

    def weights(self, flat: Sequence[Any], layer: int, direction: int) -> arrays.Weights:
        """The arrays of one layer and direction."""
        start = (layer * self.directions + direction) * self.per_layer
        chunk = list(flat[start : start + self.per_layer])
        w_ih, w_hh = chunk[:2]
        b_ih, b_hh = chunk[2:4] if self.has_biases else (None, None)
        w_hr = chunk[-1] if self.has_projections else None
        return arrays.Weights(w_ih, w_hh, b_ih, b_hh, w_hr)

    def weight_grads(self, grads: arrays.Weights) -> list[Any]:
        """One layer and direction's gradients in flat order."""
        out = [grads.w_ih, grads.w_hh]
        if self.has_biases:
            out += [grads.b_ih, grads.b_hh]
        if self.has_projections:
            out.append(grads.w_hr)
        return out


def recurrent(stack: Stack, input: Any, hx: Any, cx: Any, weights: Sequence[Any], *,
              dropout: float = 0.0, train: bool = False, batch_first: bool = False,
              lengths: Any = None) -> tuple[Any, Any, Any]:  # noqa: A002  # fmt: skip
    """Run a recurrent stack over a sequence.

    Args:
        stack: The stack's mode and layout.
        input: ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``) or unbatched ``(T, I)``.
        hx: Initial hidden states ``(layers * directions, B, H_out)`` (``(L*D, H_out)``
            unbatched).
        cx: Initial cell states (LSTM; ``(L*D, B, H)``), else None.
        weights: The flat weight tensors (see :class:`Stack`).
        dropout: Dropout probability on every layer's output but the last (in training).
        train: Whether dropout applies.
        batch_first: Whether the batch axis comes first.
        lengths: Per batch entry, how many steps it runs (a padded batch of packed sequences,
            decreasing lengths); its outputs past them are zero.

    Returns:
        ``(output, h_n, c_n)``; ``c_n`` is None except for an LSTM.
    """
    unbatched = input.dim() == 2
    x = input._array()
    x = x[:, None] if unbatched else (x.swapaxes(0, 1) if batch_first else x)
    h0, c0 = _state(hx, unbatched), _state(cx, unbatched)
    w = [t._array() for t in weights]
    masks = _dropout_masks(stack, x, w, dropout if train else 0.0)
    if lengths is not None:
        lengths = xp_of(x).asarray(lengths)
    out, h_n, c_n, traces = _forward(stack, x, h0, c0, w, masks, lengths)

    def backward(grads: list[Any]) -> list[Any]:
        g_out = _to_stack_layout(grads[0], unbatched, batch_first)
        g_h, g_c = _state_grad(grads[1], unbatched), _state_grad(grads[2], unbatched)
        g_x, g_h0, g_c0, g_w = _backward(stack, traces, masks, g_out, g_h, g_c)
        g_x = g_x[:, 0] if unbatched else (g_x.swapaxes(0, 1) if batch_first else g_x)
        return [g_x, _unstate(g_h0, unbatched), _unstate(g_c0, unbatched), *g_w]

    out = out[:, 0] if unbatched else (out.swapaxes(0, 1) if batch_first else out)
    outputs = [out, h_n[:, 0] if unbatched else h_n]
    inputs = [input, hx, cx, *weights]
    if stack.mode == "LSTM":
        outputs.append(c_n[:, 0] if unbatched else c_n)
        result = record_multi(outputs, inputs, backward, name="MkldnnRnnLayerBackward0")
        return result[0], result[1], result[2]
    result = record_multi(outputs, inputs, lambda g: backward([*g, None]), name="RnnBackward0")
    return result[0], result[1], None


def _state(state: Any, unbatched: bool) -> Any:
    if state is None:
        return None
    array = state._array()
    return array[:, None] if unbatched else array


def _state_grad(grad: Any, unbatched: bool) -> Any:
    return None if grad is None else (grad[:, None] if unbatched else grad)


def _unstate(grad: Any, unbatched: bool) -> Any:
    return None if grad is None else (grad[:, 0] if unbatched else grad)


def _to_stack_layout(grad: Any, unbatched: bool, batch_first: bool) -> Any:
    return grad[:, None] if unbatched else (grad.swapaxes(0, 1) if batch_first else grad)


def _dropout_masks(stack: Stack, x: Any, w: list[Any], p: float) -> list[Any]:
    """A scaled keep-mask for every layer output but the last (empty when ``p`` is 0)."""
    if p == 0 or stack.num_layers == 1:
        return []
    hidden = w[1].shape[1] * stack.directions
    shape = (x.shape[0], x.shape[1], hidden)
    masks = []
    for _ in range(stack.num_layers - 1):
        if p == 1:
            masks.append(xp_of(x).zeros(shape, dtype=x.dtype))
            continue
        u = factories.rand(*shape, dtype=x.dtype, device=device_of(x))._array()
        masks.append(xp_of(x).asarray((u >= p) / (1 - p), dtype=x.dtype))
    return masks


def _forward(stack: Stack, x: Any, h0: Any, c0: Any, w: list[Any], masks: list[Any],
             lengths: Any) -> tuple[Any, Any, Any, list[list[arrays.Trace]]]:  # fmt: skip
    xp = xp_of(x)
    h_n, c_n, traces = [], [], []
    for layer in range(stack.num_layers):
        outs, layer_traces = [], []
        for direction in range(stack.directions):
            index = layer * stack.directions + direction
            c = c0[index] if c0 is not None else None
            ys, h, c, trace = arrays.forward(
                stack.mode,
                x,
                h0[index],
                c,
                stack.weights(w, layer, direction),
                direction == 1,
                lengths,
            )
            outs.append(ys)
            h_n.append(h)
            c_n.append(c)
            layer_traces.append(trace)
        traces.append(layer_traces)
        x = outs[0] if len(outs) == 1 else xp.concatenate(outs, axis=-1)
        if layer < len(masks):
            x = x * masks[layer]
    cells = xp.stack(c_n) if stack.mode == "LSTM" else None
    return x, xp.stack(h_n), cells, traces


def _backward(stack: Stack, traces: list[list[arrays.Trace]], masks: list[Any], g_out: Any,
              g_h: Any, g_c: Any) -> tuple[Any, Any, Any, list[Any]]:  # fmt: skip
    xp = xp_of(g_out)
    g_h0: list[Any] = [None] * len(traces) * stack.directions
    g_c0: list[Any] = list(g_h0)
    g_w: list[Any] = []
    for layer in reversed(range(stack.num_layers)):
        if layer < len(masks):
            g_out = g_out * masks[layer]
        splits = xp.split(g_out, stack.directions, axis=-1)
        g_x = None
        layer_grads = []
        for direction, trace in enumerate(traces[layer]):
            index = layer * stack.directions + direction
            gc = g_c[index] if stack.mode == "LSTM" else None
            gx, g_h0[index], g_c0[index], grads = arrays.backward(trace, splits[direction],
                                                                  g_h[index], gc)  # fmt: skip
            g_x = gx if g_x is None else g_x + gx
            layer_grads += stack.weight_grads(grads)
        g_w = layer_grads + g_w
        g_out = g_x
    cells = xp.stack(g_c0) if stack.mode == "LSTM" else None
    return g_out, xp.stack(g_h0), cells, g_w


# -- cells ---------------------------------------------------------------------------------------


def cell(mode: str, input: Any, hx: Any, cx: Any, w_ih: Any, w_hh: Any, b_ih: Any = None,
         b_hh: Any = None) -> tuple[Any, Any]:  # noqa: A002  # fmt: skip
    """One step of a cell: ``input (B, I)`` or unbatched ``(I,)``; returns ``(h', c')`` (c'
    None except for an LSTM)."""
    stack = Stack(mode, 1, False, b_ih is not None, False)
    weights = [w_ih, w_hh] + ([b_ih, b_hh] if b_ih is not None else [])
    seq = _unsqueeze0(input)
    h = _unsqueeze0(hx)
    c = _unsqueeze0(cx) if cx is not None else None
    _, h_n, c_n = recurrent(stack, seq, h, c, weights)
    return _squeeze0(h_n), (_squeeze0(c_n) if c_n is not None else None)


def _unsqueeze0(tensor: Any) -> Any:
    shape = tensor.shape
    return record(tensor._array()[None], [tensor], lambda g: (g.reshape(shape),),
                  name="UnsqueezeBackward0")  # fmt: skip


def _squeeze0(tensor: Any) -> Any:
    shape = tensor.shape
    return record(tensor._array()[0], [tensor], lambda g: (g.reshape(shape),),
                  name="SqueezeBackward1")  # fmt: skip
