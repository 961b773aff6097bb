"""Activation layers (``torch.nn.modules.activation``); MultiheadAttention lives in attention.py.

Only PReLU holds a parameter. Each class keeps PyTorch's constructor and ``extra_repr``; its
``forward`` is the matching ``nn.functional`` function (``_fn``).
"""

from __future__ import annotations

from typing import Any

from paramtool.nn import functional as F  # noqa: N812 - PyTorch's name
from paramtool.nn import init
from paramtool.nn.layers._utils import Layer, empty_parameter, inplace_suffix


class _Stateless(Layer):
    """An activation with no arguments (PyTorch accepts and ignores any)."""

    _fn: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return type(self)._fn(input)


class _InplaceOnly(Layer):
    """An activation whose only argument is ``inplace``."""

    _fn: Any

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Any) -> Any:
        return type(self)._fn(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return inplace_suffix(self.inplace, first=True)


class _Dim(Layer):
    """An activation along one dimension (``dim``)."""

    _fn: Any

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Any:
        return type(self)._fn(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Sigmoid(_Stateless):
    """Logistic sigmoid."""

    _fn = staticmethod(F.sigmoid)


class Tanh(_Stateless):
    """Hyperbolic tangent."""

    _fn = staticmethod(F.tanh)


class LogSigmoid(_Stateless):
    """log(sigmoid(x))."""

    _fn = staticmethod(F.logsigmoid)


class Softsign(_Stateless):
    """x / (1 + |x|)."""

    _fn = staticmethod(F.softsign)


class Tanhshrink(_Stateless):
    """x - tanh(x)."""

    _fn = staticmethod(F.tanhshrink)


class Softmax2d(_Stateless):
    """Softmax over channels at every spatial location."""

    def forward(self, input: Any) -> Any:
        if input.dim() not in (3, 4):
            raise ValueError(
                f"Softmax2d: expected input to be 3D or 4D, got {input.dim()}D instead"
            )
        return F.softmax(input, -3)


class ReLU(_InplaceOnly):
    """max(0, x)."""

    _fn = staticmethod(F.relu)


class ReLU6(_InplaceOnly):
    """min(max(0, x), 6)."""

    _fn = staticmethod(F.relu6)


class SiLU(_InplaceOnly):
    """x * sigmoid(x) (swish)."""

    _fn = staticmethod(F.silu)


class Mish(_InplaceOnly):
    """x * tanh(softplus(x))."""

    _fn = staticmethod(F.mish)


class SELU(_InplaceOnly):
    """Scaled ELU (Klambauer et al., 2017)."""

    _fn = staticmethod(F.selu)


class Hardswish(_InplaceOnly):
    """x * relu6(x + 3) / 6; no extra_repr in PyTorch."""

    _fn = staticmethod(F.hardswish)

    def extra_repr(self) -> str:
        return ""


class Hardsigmoid(_InplaceOnly):
    """relu6(x + 3) / 6; no extra_repr in PyTorch."""

    _fn = staticmethod(F.hardsigmoid)

    def extra_repr(self) -> str:
        return ""


class Softmax(_Dim):
    """Softmax along ``dim``."""

    _fn = staticmethod(F.softmax)


class Softmin(_Dim):
    """Softmin along ``dim``."""

    _fn = staticmethod(F.softmin)


class LogSoftmax(_Dim):
    """log(softmax(x)) along ``dim``."""

    _fn = staticmethod(F.log_softmax)


class GLU(Layer):
    """Gated linear unit: splits ``dim`` in halves a, b and returns a * sigmoid(b)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Any:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GELU(Layer):
    """Gaussian error linear unit; ``approximate`` is ``'none'`` or ``'tanh'``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Any) -> Any:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class LeakyReLU(Layer):
    """max(0, x) + negative_slope * min(0, x)."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Any) -> Any:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{inplace_suffix(self.inplace)}"


class ELU(Layer):
    """Exponential linear unit."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Any) -> Any:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{inplace_suffix(self.inplace)}"


class CELU(ELU):
    """Continuously differentiable ELU."""

    def forward(self, input: Any) -> Any:
        return F.celu(input, self.alpha, self.inplace)


class Threshold(Layer):
    """x if x > threshold else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: Any) -> Any:
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}{inplace_suffix(self.inplace)}"


class Hardtanh(Layer):
    """x clipped to [min_val, max_val].

    Raises:
        ValueError: ``max_val`` not greater than ``min_val``.
    """

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None:
        super().__init__()
        self.min_val = min_val if min_value is None else min_value
        self.max_val = max_val if max_value is None else max_value
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise ValueError(
                f"max_val ({self.max_val}) must be greater than min_val ({self.min_val})"
            )

    def forward(self, input: Any) -> Any:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{inplace_suffix(self.inplace)}"


class RReLU(Layer):
    """Randomised leaky ReLU; slope drawn from U(lower, upper) in training."""

    def __init__(
        self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False
    ) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input: Any) -> Any:
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}{inplace_suffix(self.inplace)}"


class Softplus(Layer):
    """log(1 + exp(beta * x)) / beta, linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Any) -> Any:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardshrink(Layer):
    """x if |x| > lambd else 0."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Any) -> Any:
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """x - lambd * sign(x) if |x| > lambd else 0."""

    def forward(self, input: Any) -> Any:
        return F.softshrink(input, self.lambd)


class PReLU(Layer):
    """Leaky ReLU with a learnt slope: ``weight (num_parameters,)``, every element ``init``.

    Args:
        num_parameters: 1, or the number of channels.
        init: The initial slope (PyTorch's default 0.25).
        device: Device of the weight.
        dtype: dtype of the weight (default float32).
    """

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = empty_parameter(num_parameters, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every slope back to ``init``."""
        init.constant_(self.weight, self.init)

    def forward(self, input: Any) -> Any:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
