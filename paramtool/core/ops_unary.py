"""Elementwise functions of one tensor with gradients: exponentials and logarithms, roots,
trigonometric and hyperbolic functions, ``sigmoid``, ``erf``, ``relu``, ``abs``, rounding and
``clamp``. Integer inputs of the floating functions give float32, as in PyTorch."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core.ops_common import arr, cast, category, constant, needs, record
from paramtool.core.ops_pointwise import _xp

__all__ = [
    "abs", "absolute", "clamp", "clamp_max", "clamp_min", "clip", "cos", "cosh", "erf", "erfc",
    "exp", "exp2", "expm1", "log", "log10", "log1p", "log2", "neg", "negative", "reciprocal",
    "rsqrt", "sigmoid", "sign", "sin", "sinh", "sqrt", "square", "tan", "tanh", "ceil", "floor",
    "round", "trunc", "relu", "nan_to_num", "asin", "acos", "atan",
]  # fmt: skip


def _unary(name: str, forward: Any, derivative: Any, floats: bool = True) -> Any:
    """A differentiable elementwise function; ``derivative(x, y, xp)`` is dy/dx."""

    def op(input: Any) -> Any:  # noqa: A002
        x = arr(input)
        xp = _xp(x)
        if floats and category(x.dtype) < 2:
            x = x.astype(np.float32)
        y = forward(x, xp)
        if not needs(input):
            return constant(y)

        def backward(g: Any) -> tuple[Any]:
            return (g * derivative(x, y, xp),)

        return record(y, (input,), backward, name=name)

    return op


def _named(op: Any, name: str, doc: str) -> Any:
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


exp = _named(_unary("ExpBackward0", lambda x, xp: xp.exp(x), lambda x, y, xp: y), "exp",
             "Elementwise ``e ** x``.")  # fmt: skip
exp2 = _named(_unary("Exp2Backward0", lambda x, xp: xp.exp2(x), lambda x, y, xp: y * np.log(2)),
              "exp2", "Elementwise ``2 ** x``.")  # fmt: skip
expm1 = _named(_unary("Expm1Backward0", lambda x, xp: xp.expm1(x), lambda x, y, xp: y + 1),
               "expm1", "Elementwise ``exp(x) - 1``.")  # fmt: skip
log = _named(_unary("LogBackward0", lambda x, xp: xp.log(x), lambda x, y, xp: 1 / x), "log",
             "Natural logarithm.")  # fmt: skip
log2 = _named(_unary("Log2Backward0", lambda x, xp: xp.log2(x),
                     lambda x, y, xp: 1 / (x * np.log(2))), "log2", "Base-2 logarithm.")  # fmt: skip
log10 = _named(_unary("Log10Backward0", lambda x, xp: xp.log10(x),
                      lambda x, y, xp: 1 / (x * np.log(10))), "log10", "Base-10 logarithm.")  # fmt: skip
log1p = _named(_unary("Log1PBackward0", lambda x, xp: xp.log1p(x), lambda x, y, xp: 1 / (x + 1)),
               "log1p", "``log(1 + x)``.")  # fmt: skip
sqrt = _named(_unary("SqrtBackward0", lambda x, xp: xp.sqrt(x), lambda x, y, xp: 0.5 / y),
              "sqrt", "Square root.")  # fmt: skip
rsqrt = _named(_unary("RsqrtBackward0", lambda x, xp: 1 / xp.sqrt(x),
                      lambda x, y, xp: -0.5 * y * y * y), "rsqrt", "``1 / sqrt(x)``.")  # fmt: skip
reciprocal = _named(_unary("ReciprocalBackward0", lambda x, xp: 1 / x, lambda x, y, xp: -y * y),
                    "reciprocal", "``1 / x``.")  # fmt: skip
sin = _named(_unary("SinBackward0", lambda x, xp: xp.sin(x), lambda x, y, xp: xp.cos(x)), "sin",
             "Sine.")  # fmt: skip
cos = _named(_unary("CosBackward0", lambda x, xp: xp.cos(x), lambda x, y, xp: -xp.sin(x)), "cos",
             "Cosine.")  # fmt: skip
tan = _named(_unary("TanBackward0", lambda x, xp: xp.tan(x), lambda x, y, xp: 1 + y * y), "tan",
             "Tangent.")  # fmt: skip
asin = _named(_unary("AsinBackward0", lambda x, xp: xp.arcsin(x),
                     lambda x, y, xp: 1 / xp.sqrt(1 - x * x)), "asin", "Arcsine.")  # fmt: skip
acos = _named(_unary("AcosBackward0", lambda x, xp: xp.arccos(x),
                     lambda x, y, xp: -1 / xp.sqrt(1 - x * x)), "acos", "Arccosine.")  # fmt: skip
atan = _named(_unary("AtanBackward0", lambda x, xp: xp.arctan(x), lambda x, y, xp: 1 / (1 + x * x)),
              "atan", "Arctangent.")  # fmt: skip
sinh = _named(_unary("SinhBackward0", lambda x, xp: xp.sinh(x), lambda x, y, xp: xp.cosh(x)),
              "sinh", "Hyperbolic sine.")  # fmt: skip
cosh = _named(_unary("CoshBackward0", lambda x, xp: xp.cosh(x), lambda x, y, xp: xp.sinh(x)),
              "cosh", "Hyperbolic cosine.")  # fmt: skip
tanh = _named(_unary("TanhBackward0", lambda x, xp: xp.tanh(x), lambda x, y, xp: 1 - y * y),
              "tanh", "Hyperbolic tangent.")  # fmt: skip
square = _named(_unary("PowBackward0", lambda x, xp: x * x, lambda x, y, xp: 2 * x, False),
                "square", "``x * x``.")  # fmt: skip


def _sigmoid(x: Any, xp: Any) -> Any:
    # exp of a non-positive number only: no overflow for large |x|
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


sigmoid = _named(_unary("SigmoidBackward0", _sigmoid, lambda x, y, xp: y * (1 - y)), "sigmoid",
                 "The logistic function ``1 / (1 + exp(-x))``.")  # fmt: skip

_TWO_OVER_SQRT_PI = 1.1283791670955126


def erf_array(x: Any, xp: Any) -> Any:
    """The error function of an array, to float32 precision (no scipy needed).

    Small arguments use the Maclaurin series (relative error < 1e-8 for |x| < 0.5); larger
    ones the Chebyshev fit of erfc from Numerical Recipes (fractional error < 1.2e-7).
    """
    a = xp.abs(x)
    x2 = x * x
    series = (
        x
        * _TWO_OVER_SQRT_PI
        * (1 + x2 * (-1 / 3 + x2 * (1 / 10 + x2 * (-1 / 42 + x2 * (1 / 216 - x2 / 1320)))))
    )
    t = 1 / (1 + 0.5 * a)
    poly = -a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))  # fmt: skip
    tail = xp.sign(x) * (1 - t * xp.exp(poly))
    return xp.where(a < 0.5, series, tail).astype(x.dtype, copy=False)


erf = _named(_unary("ErfBackward0", erf_array,
                    lambda x, y, xp: _TWO_OVER_SQRT_PI * xp.exp(-x * x)), "erf",
             "The error function.")  # fmt: skip
erfc = _named(_unary("ErfcBackward0", lambda x, xp: 1 - erf_array(x, xp),
                     lambda x, y, xp: -_TWO_OVER_SQRT_PI * xp.exp(-x * x)), "erfc",
              "``1 - erf(x)``.")  # fmt: skip


def _zero_grad_unary(name: str, method: str, floats: bool = False) -> Any:
    return _named(_unary(name, lambda x, xp: getattr(xp, method)(x), lambda x, y, xp: 0 * x,
                         floats), method, f"Elementwise ``{method}`` (zero gradient).")  # fmt: skip


sign = _zero_grad_unary("SignBackward0", "sign")
ceil = _zero_grad_unary("CeilBackward0", "ceil")
floor = _zero_grad_unary("FloorBackward0", "floor")
trunc = _zero_grad_unary("TruncBackward0", "trunc")


def relu(input: Any) -> Any:  # noqa: A002
    """``max(x, 0)``; zero gradient at 0, as PyTorch."""
    x = arr(input)
    y = _xp(x).maximum(x, 0).astype(x.dtype, copy=False)
    return record(y, (input,), lambda g: (g * (y > 0),), name="ReluBackward0")


def round(input: Any, *, decimals: int = 0) -> Any:  # noqa: A001, A002
    """Round half to even, like PyTorch."""
    x = arr(input)
    y = _xp(x).round(x, decimals)
    return record(y, (input,), lambda g: (g * 0,), name="RoundBackward0")


def abs(input: Any) -> Any:  # noqa: A001, A002
    """Absolute value (gradient ``sign(x)``, 0 at 0)."""
    x = arr(input)
    xp = _xp(x)
    return record(xp.abs(x), (input,), lambda g: (g * xp.sign(x),), name="AbsBackward0")


absolute = abs


def neg(input: Any) -> Any:  # noqa: A002
    """``-input``."""
    return record(-arr(input), (input,), lambda g: (-g,), name="NegBackward0")


negative = neg


def clamp(input: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A001, A002
    """Limit values to ``[min, max]``; the gradient passes where ``min <= x <= max``."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    x = arr(input)
    xp = _xp(x)
    lo, hi = arr(min), arr(max)
    y = x
    if lo is not None:
        y = xp.maximum(y, lo)
    if hi is not None:
        y = xp.minimum(y, hi)
    dtype = _clamp_dtype(input, min, max)
    y = cast(y, dtype)

    def backward(g: Any) -> tuple[Any, ...]:
        keep = xp.ones(x.shape, dtype=bool)
        if lo is not None:
            keep &= x >= lo
        if hi is not None:
            keep &= x <= hi
        return (g * keep, None, None)

    return record(y, (input, min, max), backward, name="ClampBackward1")


def _clamp_dtype(input: Any, lo: Any, hi: Any) -> Any:  # noqa: A002
    from paramtool.core.promotion import result_type  # noqa: PLC0415

    return result_type(*(v for v in (input, lo, hi) if v is not None))


def clamp_min(input: Any, min: Any) -> Any:  # noqa: A001, A002
    """``clamp(input, min=min)``."""
    return clamp(input, min, None)


def clamp_max(input: Any, max: Any) -> Any:  # noqa: A001, A002
    """``clamp(input, max=max)``."""
    return clamp(input, None, max)


clip = clamp


def nan_to_num(input: Any, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Any:  # noqa: A002 # fmt: skip
    """Replace NaN and infinities with finite numbers."""
    x = arr(input)
    xp = _xp(x)
    y = xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)
    return record(y, (input,), lambda g: (g * xp.isfinite(x),), name="NanToNumBackward0")
