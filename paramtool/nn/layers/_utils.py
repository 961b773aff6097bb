"""Small helpers shared by the layers: argument tuples, factory kwargs, the forward stub."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from paramtool.core import factories
from paramtool.nn import init
from paramtool.nn.init.fan import fan_in_and_fan_out
from paramtool.nn.module import Module
from paramtool.nn.parameter import Parameter


def _ntuple(n: int, name: str) -> Any:
    def parse(x: Any) -> tuple[Any, ...]:
        if isinstance(x, Iterable) and not isinstance(x, str):
            return tuple(x)
        return (x,) * n

    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")


def empty_parameter(*shape: int, device: Any = None, dtype: Any = None) -> Parameter:
    """A deferred, uninitialised Parameter of ``shape`` (``Parameter(torch.empty(...))``)."""
    return Parameter(factories.empty(*shape, device=device, dtype=dtype))


def add_weight_and_bias(
    module: Module,
    weight_shape: tuple[int, ...],
    bias_shape: tuple[int, ...],
    bias: bool,
    device: Any = None,
    dtype: Any = None,
) -> None:
    """Register ``weight`` and then ``bias`` (None when ``bias`` is False) on ``module``.

    Args:
        module: The layer to register them on.
        weight_shape: Shape of the weight.
        bias_shape: Shape of the bias.
        bias: Whether there is a bias.
        device: Device of the parameters.
        dtype: dtype of the parameters.
    """
    module.weight = empty_parameter(*weight_shape, device=device, dtype=dtype)
    if bias:
        module.bias = empty_parameter(*bias_shape, device=device, dtype=dtype)
    else:
        module.register_parameter("bias", None)


def fan_in_uniform_(weight: Any, bias: Any | None) -> None:
    """PyTorch's default init of Linear and Conv layers (``reset_parameters``).

    The weight gets ``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    and the bias the same bound computed from the weight's fan_in (0 when fan_in is 0).
    """
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = fan_in_and_fan_out(weight.shape)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


def inplace_suffix(inplace: bool, first: bool = False) -> str:
    """``", inplace=True"`` (or ``"inplace=True"`` when it is the only item) if ``inplace``."""
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


def functional() -> Any:
    """``paramtool.nn.functional``, imported on first use (it is built beside the layers)."""
    from paramtool.nn import functional as module  # noqa: PLC0415

    return module


class Layer(Module):
    """Base of paramtool's built-in layers: PyTorch's parameters and init, no computation yet."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Not available: paramtool's layers describe parameters; they do not compute.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError(
            f"{type(self).__name__}.forward is not implemented: paramtool's built-in layers "
            "hold parameters and their initialisation, not the computation"
        )
