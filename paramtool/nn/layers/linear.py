"""Identity, Linear, Bilinear: ``torch.nn.modules.linear``'s layers."""

from __future__ import annotations

import math
from typing import Any

from paramtool.nn import functional as F  # noqa: N812 - PyTorch's name
from paramtool.nn import init
from paramtool.nn.layers._utils import Layer, add_weight_and_bias, fan_in_uniform_


class Identity(Layer):
    """A placeholder that returns its input; its arguments are ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        """Return ``input`` unchanged."""
        return input


class Linear(Layer):
    r"""A dense layer :math:`y = xA^T + b`: ``weight (out, in)``, ``bias (out,)``.

    Default init (PyTorch's): weight :math:`\mathcal{U}(-1/\sqrt{in}, 1/\sqrt{in})` through
    ``kaiming_uniform_(a=sqrt(5))``, bias the same bound.

    Args:
        in_features: Size of each input sample.
        out_features: Size of each output sample.
        bias: Whether to learn an additive bias.
        device: Device of the parameters.
        dtype: dtype of the parameters (default float32).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        add_weight_and_bias(self, (out_features, in_features), (out_features,), bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias from PyTorch's default distribution."""
        fan_in_uniform_(self.weight, self.bias)

    def forward(self, input: Any) -> Any:
        """``input @ weight.T + bias``."""
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class NonDynamicallyQuantizableLinear(Linear):
    """The Linear that MultiheadAttention uses as ``out_proj`` (PyTorch's name, kept for repr)."""


class Bilinear(Layer):
    r"""A bilinear layer :math:`y = x_1^T A x_2 + b`: ``weight (out, in1, in2)``, ``bias (out,)``.

    Default init (PyTorch's): weight and bias :math:`\mathcal{U}(-1/\sqrt{in1}, 1/\sqrt{in1})`.

    Args:
        in1_features: Size of each first input sample.
        in2_features: Size of each second input sample.
        out_features: Size of each output sample.
        bias: Whether to learn an additive bias.
        device: Device of the parameters.
        dtype: dtype of the parameters (default float32).
    """

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        weight_shape = (out_features, in1_features, in2_features)
        add_weight_and_bias(self, weight_shape, (out_features,), bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias from U(-1/sqrt(in1), 1/sqrt(in1)).

        Raises:
            ValueError: ``in1_features`` is not positive (PyTorch's message).
        """
        if self.in1_features <= 0:
            raise ValueError(
                f"in1_features must be > 0, but got (in1_features={self.in1_features})"
            )
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Any, input2: Any) -> Any:
        """``input1^T weight input2 + bias`` per output feature."""
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )
