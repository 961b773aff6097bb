"""Activation functions (``torch.nn.functional``): values and gradients as PyTorch computes
them, including its choices at the kinks (``relu'(0) = 0``, ``hardtanh`` zero at its bounds).
The ``*_`` forms work in place."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from paramtool.core import ops
from paramtool.core.autograd import record
from paramtool.core.ops_common import along, arr, constant, needs, xp_of
from paramtool.core.ops_unary import _sigmoid
from paramtool.core.tensor_ops import adopt

__all__ = [
    "celu", "celu_", "elu", "elu_", "gelu", "glu", "gumbel_softmax", "hardshrink",
    "hardsigmoid", "hardswish", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_",
    "log_softmax", "logsigmoid", "mish", "prelu", "relu", "relu6", "relu_", "rrelu", "rrelu_",
    "selu", "selu_", "sigmoid", "silu", "softmax", "softmin", "softplus", "softshrink",
    "softsign", "tanh", "tanhshrink", "threshold", "threshold_",
]  # fmt: skip

Array = Any
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def pointwise(input: Any, forward: Callable[[Array, Any], Array],  # noqa: A002
              derivative: Callable[[Array, Array, Any], Array], name: str,
              inplace: bool = False) -> Any:  # fmt: skip
    """Apply an elementwise activation: ``forward(x, xp)``, ``derivative(x, y, xp)`` = dy/dx."""
    x = arr(input)
    xp = xp_of(input)
    y = forward(x, xp)
    if y.dtype != x.dtype:
        y = y.astype(x.dtype)
    if needs(input):
        result = record(y, (input,), lambda g: (g * derivative(x, y, xp),), name=name)
    else:
        result = constant(y)
    return adopt(input, result) if inplace else result


def relu(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """``max(x, 0)``."""
    result = ops.relu(input)
    return adopt(input, result) if inplace else result


def relu_(input: Any) -> Any:  # noqa: A002
    """In-place ``relu``."""
    return relu(input, True)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Any:  # noqa: A002
    """``clamp(x, min_val, max_val)``; zero gradient at and beyond the bounds."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return pointwise(input, lambda x, xp: xp.clip(x, min_val, max_val),
                     lambda x, y, xp: (x > min_val) & (x < max_val), "HardtanhBackward0", inplace)  # fmt: skip


def hardtanh_(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:  # noqa: A002
    """In-place ``hardtanh``."""
    return hardtanh(input, min_val, max_val, True)


def relu6(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """``min(max(x, 0), 6)``."""
    return hardtanh(input, 0.0, 6.0, inplace)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Any:  # noqa: A002
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)``."""
    return pointwise(input, lambda x, xp: xp.where(x > 0, x, alpha * xp.expm1(x)),
                     lambda x, y, xp: xp.where(x > 0, 1, y + alpha), "EluBackward0", inplace)  # fmt: skip


def elu_(input: Any, alpha: float = 1.0) -> Any:  # noqa: A002
    """In-place ``elu``."""
    return elu(input, alpha, True)


def selu(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """``scale * elu(x, alpha)`` with the self-normalising constants."""
    a, s = _SELU_ALPHA, _SELU_SCALE
    return pointwise(input, lambda x, xp: s * xp.where(x > 0, x, a * xp.expm1(x)),
                     lambda x, y, xp: xp.where(x > 0, s, y + s * a), "EluBackward0", inplace)  # fmt: skip


def selu_(input: Any) -> Any:  # noqa: A002
    """In-place ``selu``."""
    return selu(input, True)


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Any:  # noqa: A002
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return pointwise(input, lambda x, xp: xp.where(x > 0, x, alpha * xp.expm1(x / alpha)),
                     lambda x, y, xp: xp.where(x > 0, 1, xp.exp(x / alpha)), "CeluBackward0",
                     inplace)  # fmt: skip


def celu_(input: Any, alpha: float = 1.0) -> Any:  # noqa: A002
    """In-place ``celu``."""
    return celu(input, alpha, True)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Any:  # noqa: A002
    """``x`` for x > 0, else ``negative_slope * x``."""
    return pointwise(input, lambda x, xp: xp.where(x > 0, x, x * negative_slope),
                     lambda x, y, xp: xp.where(x > 0, 1, negative_slope), "LeakyReluBackward0",
                     inplace)  # fmt: skip


def leaky_relu_(input: Any, negative_slope: float = 0.01) -> Any:  # noqa: A002
    """In-place ``leaky_relu``."""
    return leaky_relu(input, negative_slope, True)


def threshold(input: Any, threshold: float, value: float, inplace: bool = False) -> Any:  # noqa: A002
    """``x`` where x > threshold, else ``value``."""
    return pointwise(input, lambda x, xp: xp.where(x > threshold, x, value),
                     lambda x, y, xp: x > threshold, "ThresholdBackward0", inplace)  # fmt: skip


def threshold_(input: Any, threshold: float, value: float) -> Any:  # noqa: A002
    """In-place ``threshold``."""
    return globals()["threshold"](input, threshold, value, True)


def gelu(input: Any, approximate: str = "none") -> Any:  # noqa: A002
    """``x * Phi(x)`` (exact, through erf) or its tanh approximation (``approximate="tanh"``)."""
    if approximate == "tanh":
        return pointwise(input, _gelu_tanh, _gelu_tanh_grad, "GeluBackward0")
    if approximate != "none":
        raise RuntimeError("approximate argument must be either none or tanh.")
    return pointwise(input, _gelu, _gelu_grad, "GeluBackward0")


_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_K = math.sqrt(2 / math.pi)


def _gelu(x: Array, xp: Any) -> Array:
    from paramtool.core.ops_unary import erf_array  # noqa: PLC0415

    return 0.5 * x * (1 + erf_array(x * _SQRT_HALF, xp))


def _gelu_grad(x: Array, y: Array, xp: Any) -> Array:
    from paramtool.core.ops_unary import erf_array  # noqa: PLC0415

    return 0.5 * (1 + erf_array(x * _SQRT_HALF, xp)) + x * _INV_SQRT_2PI * xp.exp(-0.5 * x * x)


def _gelu_tanh(x: Array, xp: Any) -> Array:
    # 0.5 x (1 + tanh(k (x + 0.044715 x^3))), computed in one buffer (a GPT MLP's widest tensor)
    out = x * x
    out *= 0.044715 * _K
    out += _K
    out *= x
    xp.tanh(out, out=out)
    out += 1
    out *= x
    out *= 0.5
    return out


def _gelu_tanh_grad(x: Array, y: Array, xp: Any) -> Array:
    t = xp.tanh(_K * (x + 0.044715 * x * x * x))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _K * (1 + 3 * 0.044715 * x * x)


def silu(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """``x * sigmoid(x)``."""

    def grad(x: Array, y: Array, xp: Any) -> Array:
        s = _sigmoid(x, xp)
        return s * (1 + x * (1 - s))

    return pointwise(input, lambda x, xp: x * _sigmoid(x, xp), grad, "SiluBackward0", inplace)


def _softplus(x: Array, xp: Any) -> Array:
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def mish(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """``x * tanh(softplus(x))``."""

    def grad(x: Array, y: Array, xp: Any) -> Array:
        t = xp.tanh(_softplus(x, xp))
        return t + x * _sigmoid(x, xp) * (1 - t * t)

    return pointwise(input, lambda x, xp: x * xp.tanh(_softplus(x, xp)), grad, "MishBackward0",
                     inplace)  # fmt: skip


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:  # noqa: A002
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""
    return pointwise(
        input,
        lambda x, xp: xp.where(x * beta > threshold, x, _softplus(x * beta, xp) / beta),
        lambda x, y, xp: xp.where(x * beta > threshold, 1, _sigmoid(x * beta, xp)),
        "SoftplusBackward0",
    )


def logsigmoid(input: Any) -> Any:  # noqa: A002
    """``log(sigmoid(x))``, computed without overflow."""
    return pointwise(input, lambda x, xp: -_softplus(-x, xp),
                     lambda x, y, xp: _sigmoid(-x, xp), "LogSigmoidBackward0")  # fmt: skip


def hardsigmoid(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """``relu6(x + 3) / 6``."""
    return pointwise(input, lambda x, xp: xp.clip(x + 3, 0, 6) / 6,
                     lambda x, y, xp: ((x > -3) & (x < 3)) / 6, "HardsigmoidBackward0", inplace)  # fmt: skip


def hardswish(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """``x * relu6(x + 3) / 6``."""
    return pointwise(
        input,
        lambda x, xp: x * xp.clip(x + 3, 0, 6) / 6,
        lambda x, y, xp: xp.where(x < -3, 0, xp.where(x <= 3, x / 3 + 0.5, 1)),
        "HardswishBackward0",
        inplace,
    )


def hardshrink(input: Any, lambd: float = 0.5) -> Any:  # noqa: A002
    """``x`` where ``|x| > lambd``, else 0."""
    return pointwise(input, lambda x, xp: xp.where(xp.abs(x) > lambd, x, 0),
                     lambda x, y, xp: xp.abs(x) > lambd, "HardshrinkBackward0")  # fmt: skip


def softshrink(input: Any, lambd: float = 0.5) -> Any:  # noqa: A002
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    return pointwise(input, lambda x, xp: xp.where(x > lambd, x - lambd,
                                                   xp.where(x < -lambd, x + lambd, 0)),
                     lambda x, y, xp: xp.abs(x) > lambd, "SoftshrinkBackward0")  # fmt: skip


def tanhshrink(input: Any) -> Any:  # noqa: A002
    """``x - tanh(x)``."""
    return pointwise(input, lambda x, xp: x - xp.tanh(x),
                     lambda x, y, xp: xp.tanh(x) ** 2, "SubBackward0")  # fmt: skip


def softsign(input: Any) -> Any:  # noqa: A002
    """``x / (1 + |x|)``."""
    return pointwise(input, lambda x, xp: x / (1 + xp.abs(x)),
                     lambda x, y, xp: 1 / (1 + xp.abs(x)) ** 2, "DivBackward0")  # fmt: skip


def tanh(input: Any) -> Any:  # noqa: A002
    """Hyperbolic tangent."""
    return ops.tanh(input)


def sigmoid(input: Any) -> Any:  # noqa: A002
    """The logistic function."""
    return ops.sigmoid(input)


def glu(input: Any, dim: int = -1) -> Any:  # noqa: A002
    """Gated linear unit: ``a * sigmoid(b)`` for the two halves of ``dim``."""
    n = arr(input).shape[dim]
    if n % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {dim % arr(input).ndim} is size {n}"
        )
    a, b = ops.chunk(input, 2, dim)
    return ops.mul(a, ops.sigmoid(b))


def prelu(input: Any, weight: Any) -> Any:  # noqa: A002
    """``x`` for x > 0, else ``weight * x`` with one weight per channel (dimension 1)."""
    x = arr(input)
    w = weight
    if arr(weight).size > 1 and x.ndim > 1:
        w = ops.reshape(weight, (-1,) + (1,) * (x.ndim - 2))
    return ops.where(ops.gt(input, 0), input, ops.mul(w, input))


def rrelu(input: Any, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,  # noqa: A002
          inplace: bool = False) -> Any:  # fmt: skip
    """Leaky ReLU with a random slope in ``[lower, upper]`` when training, else their mean."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    from paramtool.core import factories  # noqa: PLC0415

    x = arr(input)
    slopes = factories.rand(*x.shape, dtype=x.dtype, device=input.device)._array()
    slopes = lower + slopes * (upper - lower)
    return pointwise(input, lambda x, xp: xp.where(x >= 0, x, x * slopes),
                     lambda x, y, xp: xp.where(x >= 0, 1, slopes), "RreluWithNoiseBackward0",
                     inplace)  # fmt: skip


def rrelu_(
    input: Any, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False
) -> Any:  # noqa: A002
    """In-place ``rrelu``."""
    return rrelu(input, lower, upper, training, True)


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Any:  # noqa: A002
    """``exp(x) / sum(exp(x))`` along ``dim``."""
    return ops.softmax(input, dim, dtype)


def softmin(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Any:  # noqa: A002
    """``softmax(-x)``."""
    return ops.softmax(ops.neg(input), dim, dtype)


def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Any:  # noqa: A002
    """``log(softmax(x))`` along ``dim``, computed stably."""
    return ops.log_softmax(input, dim, dtype)


def gumbel_softmax(logits: Any, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Any:  # fmt: skip
    """Softmax of ``(logits + Gumbel noise) / tau``; one-hot forward with ``hard=True``
    (straight-through gradient)."""
    from paramtool.core import factories  # noqa: PLC0415

    x = arr(logits)
    xp = xp_of(logits)
    uniform = factories.rand(*x.shape, dtype=np.float64, device=logits.device)._array()
    noise = -xp.log(-xp.log(1 - uniform)).astype(x.dtype)  # Gumbel(0, 1)
    soft = ops.softmax(ops.div(ops.add(logits, constant(noise)), tau), dim)
    if not hard:
        return soft
    s = arr(soft)
    xp = xp_of(logits)
    index = s.argmax(axis=dim)
    one_hot = xp.zeros_like(s)
    one_hot[along(xp.expand_dims(index, dim), dim)] = 1
    return ops.add(ops.sub(constant(one_hot), soft.detach()), soft)
