"""Recurrent cells: RNNCell, LSTMCell, GRUCell, one time step each (``torch.nn.modules.rnn``).

Parameters follow PyTorch: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, with
``gates * hidden_size`` rows. Every parameter starts U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)),
as in the multi-layer RNN, LSTM and GRU of :mod:`paramtool.nn.layers.rnn`, which share
:class:`_RecurrentLayer`'s init.
"""

from __future__ import annotations

import math
from typing import Any

from paramtool.core import factories
from paramtool.nn import init
from paramtool.nn.functional import rnn as recurrent
from paramtool.nn.layers._utils import Layer, empty_parameter


class _RecurrentLayer(Layer):
    """PyTorch's init of recurrent layers and cells, from their ``hidden_size``."""

    def reset_parameters(self) -> None:
        """Re-draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)


class RNNCellBase(_RecurrentLayer):
    """One step of a recurrent layer: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = num_chunks * hidden_size
        self.weight_ih = empty_parameter(rows, input_size, device=device, dtype=dtype)
        self.weight_hh = empty_parameter(rows, hidden_size, device=device, dtype=dtype)
        if bias:
            self.bias_ih = empty_parameter(rows, device=device, dtype=dtype)
            self.bias_hh = empty_parameter(rows, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    _mode = ""

    def forward(self, input: Any, hx: Any = None) -> Any:  # noqa: A002
        """One step: ``input (B, input_size)`` or unbatched ``(input_size,)``; ``hx`` the state
        (for an LSTMCell the pair ``(h, c)``), zeros when None. Returns ``h'`` (LSTMCell:
        ``(h', c')``)."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.shape[-1]} expected "
                f"{self.input_size}"
            )
        shape = (*input.shape[:-1], self.hidden_size)
        if hx is None:
            hx = factories.zeros(*shape, dtype=input.dtype, device=input.device)
            if self._mode == "LSTM":
                hx = (hx, hx)
        states = tuple(hx) if self._mode == "LSTM" else (hx,)
        for i, state in enumerate(states):
            if input.dim() == 2 and state.shape[0] != input.shape[0]:
                raise RuntimeError(
                    f"Input batch size {input.shape[0]} doesn't match hidden{i} batch size "
                    f"{state.shape[0]}"
                )
            if state.shape[-1] != self.hidden_size:
                raise RuntimeError(
                    f"hidden{i} has inconsistent hidden_size: got {state.shape[-1]}, expected "
                    f"{self.hidden_size}"
                )
        c = states[1] if self._mode == "LSTM" else None
        h, c = recurrent.cell(self._mode, input, states[0], c, self.weight_ih, self.weight_hh,
                              self.bias_ih, self.bias_hh)  # fmt: skip
        return (h, c) if self._mode == "LSTM" else h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """An Elman RNN cell with tanh or ReLU."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


class _GatedCell(RNNCellBase):
    """A cell of ``_num_chunks`` gates with PyTorch's LSTMCell/GRUCell signature."""

    _num_chunks: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, num_chunks=self._num_chunks, device=device, dtype=dtype
        )


class LSTMCell(_GatedCell):
    """An LSTM cell (four gates)."""

    _num_chunks = 4
    _mode = "LSTM"


class GRUCell(_GatedCell):
    """A GRU cell (three gates)."""

    _num_chunks = 3
    _mode = "GRU"
