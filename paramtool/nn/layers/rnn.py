"""Recurrent layers: RNN, LSTM, GRU over whole sequences (``torch.nn.modules.rnn``).

Parameter names follow PyTorch: ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}`` and, for an LSTM with ``proj_size``, ``weight_hr_l{k}``; the reverse direction
adds ``_reverse``. Every parameter starts U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)). The
one-step cells are :mod:`paramtool.nn.layers.rnn_cells`.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

from paramtool.core import factories
from paramtool.nn.functional import rnn as recurrent
from paramtool.nn.layers._utils import empty_parameter
from paramtool.nn.layers.rnn_cells import _RecurrentLayer

#: Gates per mode: rows of weight_ih / weight_hh are ``gates * hidden_size``.
_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _check_rnn_args(
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bias: bool,
    batch_first: bool,
    dropout: float,
    proj_size: int,
) -> None:
    """Raise PyTorch's ValueError/TypeError for invalid RNN arguments; warn like PyTorch."""
    if (
        not isinstance(dropout, numbers.Number)
        or isinstance(dropout, bool)
        or not 0 <= dropout <= 1
    ):
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an "
            "element being zeroed"
        )
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
            f"expects num_layers greater than 1, but got dropout={dropout} and "
            f"num_layers={num_layers}",
            stacklevel=3,
        )
    for name, value, kind in (
        ("bias", bias, bool),
        ("batch_first", batch_first, bool),
        ("input_size", input_size, int),
        ("hidden_size", hidden_size, int),
    ):
        if not isinstance(value, kind):
            raise TypeError(
                f"{name} should be of type {kind.__name__}, got: {type(value).__name__}"
            )
    if input_size <= 0:
        raise ValueError("input_size must be greater than zero")
    if hidden_size <= 0:
        raise ValueError("hidden_size must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


class RNNBase(_RecurrentLayer):
    """What RNN, LSTM and GRU share: the per-layer, per-direction parameters and their init."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        _check_rnn_args(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(2 if bidirectional else 1):
                self._add_layer(layer, direction, device, dtype)
        self.reset_parameters()

    def _add_layer(self, layer: int, direction: int, device: Any, dtype: Any) -> None:
        """Register the parameters of one layer and direction, in PyTorch's order."""
        gate_size = _GATES[self.mode] * self.hidden_size
        real_hidden_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        num_directions = 2 if self.bidirectional else 1
        layer_input = self.input_size if layer == 0 else real_hidden_size * num_directions
        shapes = {"weight_ih": (gate_size, layer_input), "weight_hh": (gate_size, real_hidden_size)}
        if self.bias:
            shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
        if self.proj_size > 0:
            shapes["weight_hr"] = (self.proj_size, self.hidden_size)
        suffix = "_reverse" if direction == 1 else ""
        names = []
        for stem, shape in shapes.items():
            name = f"{stem}_l{layer}{suffix}"
            setattr(self, name, empty_parameter(*shape, device=device, dtype=dtype))
            names.append(name)
        self._flat_weights_names.extend(names)
        self._all_weights.append(names)

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:  # noqa: A002
        """Run the layers over a sequence.

        Args:
            input: ``(T, B, input_size)`` (``(B, T, input_size)`` with ``batch_first``) or
                unbatched ``(T, input_size)``.
            hx: Initial hidden state ``(num_layers * directions, B, H_out)`` (for an LSTM the
                pair ``(h_0, c_0)``); zeros when None.

        Returns:
            ``(output, h_n)``; for an LSTM ``(output, (h_n, c_n))``.
        """
        from paramtool.nn.utils import rnn as packing  # noqa: PLC0415 - utils import layers

        if isinstance(input, packing.PackedSequence):
            return self._packed_forward(input, hx, packing)
        name = type(self).__name__
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {input.shape[-1]}"
            )
        h0, c0 = self._initial_state(input, hx)
        output, h_n, c_n = self._run(input, h0, c0, self.batch_first)
        return (output, (h_n, c_n)) if self.mode == "LSTM" else (output, h_n)

    def _run(self, input: Any, h0: Any, c0: Any, batch_first: bool,
             lengths: Any = None) -> tuple[Any, Any, Any]:  # noqa: A002  # fmt: skip
        stack = recurrent.Stack(self.mode, self.num_layers, self.bidirectional, self.bias,
                                self.proj_size > 0)  # fmt: skip
        return recurrent.recurrent(
            stack, input, h0, c0, self._flat_weights, dropout=self.dropout,
            train=self.training, batch_first=batch_first, lengths=lengths,
        )  # fmt: skip

    def _packed_forward(self, packed: Any, hx: Any, packing: Any) -> tuple[Any, Any]:
        """Run a PackedSequence: padded in its sorted order, each entry stopping at its length;
        the output packed again and the final states in the caller's batch order."""
        if packed.data.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {packed.data.shape[-1]}"
            )
        padded, lengths = packing.pad_packed_sequence(packing.PackedSequence(*packed[:2]))
        order = packed.sorted_indices
        if hx is not None and order is not None:  # the caller's order -> the packed order
            states = tuple(hx) if self.mode == "LSTM" else (hx,)
            states = tuple(packing.reorder(s, order, 1) for s in states)
            hx = states if self.mode == "LSTM" else states[0]
        h0, c0 = self._initial_state(padded, hx, batch_first=False)
        output, h_n, c_n = self._run(padded, h0, c0, False, lengths.numpy())
        data = packing.pack_padded_sequence(output, lengths).data
        output = packing.PackedSequence(data, *packed[1:])
        if packed.unsorted_indices is not None:
            h_n = packing.reorder(h_n, packed.unsorted_indices, 1)
            c_n = None if c_n is None else packing.reorder(c_n, packed.unsorted_indices, 1)
        return (output, (h_n, c_n)) if self.mode == "LSTM" else (output, h_n)

    def _initial_state(
        self, input: Any, hx: Any, batch_first: bool | None = None
    ) -> tuple[Any, Any]:  # noqa: A002
        """``(h_0, c_0)`` checked against PyTorch's expected shapes (zeros where not given)."""
        batch_first = self.batch_first if batch_first is None else batch_first
        unbatched = input.dim() == 2
        batch = () if unbatched else (input.shape[0 if batch_first else 1],)
        layers = self.num_layers * (2 if self.bidirectional else 1)
        h_shape = (layers, *batch, self.proj_size or self.hidden_size)
        c_shape = (layers, *batch, self.hidden_size)
        if hx is None:
            h0 = factories.zeros(*h_shape, dtype=input.dtype, device=input.device)
            c0 = factories.zeros(*c_shape, dtype=input.dtype, device=input.device)
            return h0, (c0 if self.mode == "LSTM" else None)
        states = tuple(hx) if self.mode == "LSTM" else (hx,)
        want = 2 if unbatched else 3
        if any(s.dim() != want for s in states):
            kind, pair = ("unbatched 2-D", "2-D") if unbatched else ("batched 3-D", "3-D")
            dims = ", ".join(f"{s.dim()}-D" for s in states)
            if self.mode == "LSTM":
                raise RuntimeError(
                    f"For {kind} input, hx and cx should also be {pair} but got ({dims}) tensors"
                )
            raise RuntimeError(f"For {kind} input, hx should also be {pair} but got {dims} tensor")
        labels = ("hidden[0]", "hidden[1]") if self.mode == "LSTM" else ("hidden",)
        for state, shape, label in zip(states, (h_shape, c_shape), labels, strict=False):
            if tuple(state.shape) != shape:
                raise RuntimeError(f"Expected {label} size {shape}, got {list(state.shape)}")
        return states[0], (states[1] if self.mode == "LSTM" else None)

    def flatten_parameters(self) -> None:
        """Nothing to do: PyTorch packs the weights for cuDNN here; paramtool reads them as
        they are."""

    @property
    def _flat_weights(self) -> list[Any]:
        """The parameters in PyTorch's flat order (``weight_ih_l0, weight_hh_l0, ...``)."""
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Any]]:
        """The parameters, one list per layer and direction."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN with tanh or ReLU; PyTorch's signature (``nonlinearity`` is 4th).

    Raises:
        ValueError: an unknown ``nonlinearity`` (PyTorch's message).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(
            modes[nonlinearity], input_size, hidden_size, num_layers, bias, batch_first,
            dropout, bidirectional, device=device, dtype=dtype,
        )  # fmt: skip
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; ``proj_size > 0`` adds ``weight_hr_l{k}`` projections."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, device=device, dtype=dtype,
        )  # fmt: skip


class GRU(RNNBase):
    """Gated recurrent unit; three gates per layer."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, device=device, dtype=dtype,
        )  # fmt: skip
