"""Elementwise operations with gradients: broadcasting arithmetic, the usual math functions,
comparisons, ``where`` and ``clamp``. Results take PyTorch's promoted dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core.ops_common import (
    arr,
    cast,
    category,
    constant,
    float_dtype,
    needs,
    operands,
    record,
    shape_of,
    unbroadcast,
)

__all__ = [
    "abs", "absolute", "add", "clamp", "clamp_max", "clamp_min", "clip", "cos", "cosh", "div",
    "divide", "eq", "erf", "erfc", "exp", "exp2", "expm1", "floor_divide", "fmod", "ge", "gt",
    "le", "lerp", "log", "log10", "log1p", "log2", "logical_and", "logical_not", "logical_or",
    "lt", "maximum", "minimum", "mul", "multiply", "ne", "neg", "negative", "pow", "reciprocal",
    "remainder", "rsqrt", "rsub", "sigmoid", "sign", "sin", "sinh", "sqrt", "square", "sub", "subtract",
    "tan", "tanh", "true_divide", "where", "ceil", "floor", "round", "trunc", "isnan", "isinf",
    "isfinite", "atan2", "addcmul", "relu", "isclose", "allclose", "equal", "addcdiv", "logical_xor", "bitwise_and", "bitwise_or",
    "bitwise_not", "nan_to_num", "signbit", "asin", "acos", "atan", "float_power", "hypot",
]  # fmt: skip


# -- binary arithmetic -------------------------------------------------------------------------


def _binary(name: str, fn: Any, grads: Any, input: Any, other: Any, float_result: bool = False,
            out: Any = None) -> Any:  # noqa: A002 # fmt: skip
    a, b, dtype = operands(input, other)
    if float_result and dtype is not None:
        dtype = float_dtype(dtype)
    result = cast(fn(a, b), dtype)
    need_a, need_b = needs(input), needs(other)

    def backward(g: Any) -> tuple[Any, Any]:
        ga, gb = grads(g, a, b, result, need_a, need_b)
        return (
            unbroadcast(ga, shape_of(a)) if need_a and ga is not None else None,
            unbroadcast(gb, shape_of(b)) if need_b and gb is not None else None,
        )

    return _out(record(result, (input, other), backward, name=name), out)


def _out(result: Any, out: Any) -> Any:
    if out is None:
        return result
    out.copy_(result)
    return out


def add(input: Any, other: Any, *, alpha: float = 1, out: Any = None) -> Any:  # noqa: A002
    """``input + alpha * other``, broadcasting."""
    if alpha != 1:
        other = mul(other, alpha)
    return _binary("AddBackward0", lambda a, b: a + b, lambda g, *_: (g, g), input, other, out=out)


def sub(input: Any, other: Any, *, alpha: float = 1, out: Any = None) -> Any:  # noqa: A002
    """``input - alpha * other``, broadcasting."""
    if alpha != 1:
        other = mul(other, alpha)
    return _binary("SubBackward0", lambda a, b: a - b, lambda g, *_: (g, -g), input, other, out=out)


def rsub(input: Any, other: Any) -> Any:  # noqa: A002
    """``other - input`` (the reflected ``-``)."""
    return _binary("RsubBackward1", lambda a, b: b - a, lambda g, *_: (-g, g), input, other)


def mul(input: Any, other: Any, *, out: Any = None) -> Any:  # noqa: A002
    """``input * other``, broadcasting."""

    def grads(g: Any, a: Any, b: Any, r: Any, na: bool, nb: bool) -> tuple[Any, Any]:
        return (g * b if na else None), (g * a if nb else None)

    return _binary("MulBackward0", lambda a, b: a * b, grads, input, other, out=out)


def div(input: Any, other: Any, *, rounding_mode: str | None = None, out: Any = None) -> Any:  # noqa: A002
    """``input / other`` (true division unless ``rounding_mode`` is "trunc" or "floor")."""
    if rounding_mode is not None:
        fn = np.floor_divide if rounding_mode == "floor" else _trunc_div
        return _binary("DivBackward1", fn, lambda g, *_: (g * 0, g * 0), input, other)

    def grads(g: Any, a: Any, b: Any, r: Any, na: bool, nb: bool) -> tuple[Any, Any]:
        return (g / b if na else None), (-g * r / b if nb else None)

    return _binary("DivBackward0", lambda a, b: a / b, grads, input, other, True, out=out)


def rdiv(input: Any, other: Any) -> Any:  # noqa: A002
    """``other / input`` (the reflected ``/``)."""
    return div(_scalar_tensor(other, input), input)


def _scalar_tensor(value: Any, like: Any) -> Any:
    from paramtool.core.ops_common import tensor_of  # noqa: PLC0415

    return tensor_of(value, like)


def _trunc_div(a: Any, b: Any) -> Any:
    q = a / b
    xp = np if isinstance(q, np.ndarray | float | int) else _xp(q)
    return xp.trunc(q) if category(np.result_type(q)) == 2 else q


def _xp(array: Any) -> Any:
    from paramtool.core.device import device_of  # noqa: PLC0415

    return device_of(array).xp


def floor_divide(input: Any, other: Any) -> Any:  # noqa: A002
    """Elementwise floor of ``input / other``."""
    return div(input, other, rounding_mode="floor")


def remainder(input: Any, other: Any) -> Any:  # noqa: A002
    """Python-style modulus (the sign of ``other``)."""

    def grads(g: Any, a: Any, b: Any, r: Any, na: bool, nb: bool) -> tuple[Any, Any]:
        return g, (-g * np.floor_divide(a, b) if nb else None)

    return _binary("RemainderBackward0", lambda a, b: a % b, grads, input, other)


def fmod(input: Any, other: Any) -> Any:  # noqa: A002
    """C-style modulus (the sign of ``input``)."""
    return _binary("FmodBackward0", lambda a, b: _xp_fmod(a, b), lambda g, *_: (g, None),
                   input, other)  # fmt: skip


def _xp_fmod(a: Any, b: Any) -> Any:
    xp = _xp(a) if hasattr(a, "shape") else (_xp(b) if hasattr(b, "shape") else np)
    return xp.fmod(a, b)


def pow(input: Any, exponent: Any) -> Any:  # noqa: A002
    """``input ** exponent``; either may be a scalar."""

    def grads(g: Any, a: Any, b: Any, r: Any, na: bool, nb: bool) -> tuple[Any, Any]:
        ga = g * b * a ** (b - 1) if na else None
        if nb:
            xp = _xp(r)
            gb = g * r * xp.log(xp.where(a > 0, a, 1)) * (a > 0)
        else:
            gb = None
        return ga, gb

    return _binary("PowBackward0", lambda a, b: a**b, grads, input, exponent)


def rpow(input: Any, other: Any) -> Any:  # noqa: A002
    """``other ** input`` (the reflected ``**``)."""
    return pow(_scalar_tensor(other, input), input)


def float_power(input: Any, exponent: Any) -> Any:  # noqa: A002
    """``pow`` in float64."""
    return pow(_to(input, np.float64), _to(exponent, np.float64))


def _to(value: Any, dtype: Any) -> Any:
    return value.to(dtype) if hasattr(value, "_cell") else value


def maximum(input: Any, other: Any) -> Any:  # noqa: A002
    """Elementwise maximum (a tie splits the gradient in half, as in PyTorch)."""
    return _binary("MaximumBackward0", lambda a, b: _xp(a).maximum(a, b), _split(True),
                   input, other)  # fmt: skip


def minimum(input: Any, other: Any) -> Any:  # noqa: A002
    """Elementwise minimum."""
    return _binary("MinimumBackward0", lambda a, b: _xp(a).minimum(a, b), _split(False),
                   input, other)  # fmt: skip


def _split(larger: bool) -> Any:
    def grads(g: Any, a: Any, b: Any, r: Any, na: bool, nb: bool) -> tuple[Any, Any]:
        wins = (a > b) if larger else (a < b)
        tie = (a == b) * 0.5
        return g * (wins + tie), g * ((~wins) & (a != b)) + g * tie

    return grads


def atan2(input: Any, other: Any) -> Any:  # noqa: A002
    """Elementwise ``atan2(input, other)``."""

    def grads(g: Any, a: Any, b: Any, r: Any, na: bool, nb: bool) -> tuple[Any, Any]:
        denom = a * a + b * b
        return g * b / denom, -g * a / denom

    return _binary("Atan2Backward0", lambda a, b: _xp(a).arctan2(a, b), grads, input, other)


def hypot(input: Any, other: Any) -> Any:  # noqa: A002
    """Elementwise ``sqrt(input**2 + other**2)``."""

    def grads(g: Any, a: Any, b: Any, r: Any, na: bool, nb: bool) -> tuple[Any, Any]:
        return g * a / r, g * b / r

    return _binary("HypotBackward0", lambda a, b: _xp(a).hypot(a, b), grads, input, other)


def lerp(input: Any, end: Any, weight: Any) -> Any:  # noqa: A002
    """``input + weight * (end - input)``."""
    return add(input, mul(weight, sub(end, input)))


def addcmul(input: Any, tensor1: Any, tensor2: Any, *, value: float = 1) -> Any:  # noqa: A002
    """``input + value * tensor1 * tensor2``."""
    return add(input, mul(mul(tensor1, tensor2), value))


def addcdiv(input: Any, tensor1: Any, tensor2: Any, *, value: float = 1) -> Any:  # noqa: A002
    """``input + value * tensor1 / tensor2``."""
    return add(input, mul(div(tensor1, tensor2), value))


multiply, subtract, divide, true_divide = mul, sub, div, div


# -- comparisons and logic (no gradient) -------------------------------------------------------


def _compare(fn: Any) -> Any:
    def compare(input: Any, other: Any) -> Any:  # noqa: A002
        return constant(fn(arr(input), arr(other)))

    compare.__name__ = fn.__name__
    compare.__doc__ = f"Elementwise ``{fn.__name__}`` as a bool tensor."
    return compare


eq, ne = _compare(np.equal), _compare(np.not_equal)
lt, le, gt, ge = (
    _compare(np.less),
    _compare(np.less_equal),
    _compare(np.greater),
    _compare(np.greater_equal),
)
logical_and, logical_or = _compare(np.logical_and), _compare(np.logical_or)
logical_xor = _compare(np.logical_xor)
bitwise_and, bitwise_or = _compare(np.bitwise_and), _compare(np.bitwise_or)


def logical_not(input: Any) -> Any:  # noqa: A002
    """Elementwise logical not (a bool tensor)."""
    return constant(~arr(input).astype(bool))


def bitwise_not(input: Any) -> Any:  # noqa: A002
    """Elementwise bitwise not (logical not for bool)."""
    return constant(~arr(input))


def _test(method: str) -> Any:
    def test(input: Any) -> Any:  # noqa: A002
        a = arr(input)
        return constant(getattr(_xp(a), method)(a))

    test.__name__ = method
    test.__doc__ = f"Elementwise ``{method}`` as a bool tensor."
    return test


isnan, isinf, isfinite, signbit = (
    _test("isnan"),
    _test("isinf"),
    _test("isfinite"),
    _test("signbit"),
)


# -- unary math --------------------------------------------------------------------------------


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
    op.__name__, op.__doc__ = name, doc
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


def isclose(input: Any, other: Any, rtol: float = 1e-5, atol: float = 1e-8,  # noqa: A002
            equal_nan: bool = False) -> Any:  # fmt: skip
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (a bool tensor)."""
    a, b = arr(input), arr(other)
    return constant(_xp(a).isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input: Any, other: Any, rtol: float = 1e-5, atol: float = 1e-8,  # noqa: A002
             equal_nan: bool = False) -> bool:  # fmt: skip
    """Whether every element is close (see ``isclose``)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def equal(input: Any, other: Any) -> bool:  # noqa: A002
    """Whether both tensors have the same shape and elements."""
    a, b = arr(input), arr(other)
    return tuple(a.shape) == tuple(b.shape) and bool((a == b).all())


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


def where(condition: Any, input: Any = None, other: Any = None) -> Any:  # noqa: A002
    """Elements of ``input`` where ``condition`` holds, else of ``other`` (broadcasting).

    With only ``condition``: the indices of its non-zero elements, as ``nonzero(as_tuple=True)``.
    """
    if input is None and other is None:
        from paramtool.core.ops_index import nonzero  # noqa: PLC0415

        return nonzero(condition, as_tuple=True)
    c, a, b = arr(condition), arr(input), arr(other)
    xp = _xp(c) if hasattr(c, "shape") else np
    from paramtool.core.promotion import result_type  # noqa: PLC0415

    y = cast(xp.where(c, a, b), result_type(input, other))
    need_a, need_b = needs(input), needs(other)

    def backward(g: Any) -> tuple[Any, ...]:
        ga = unbroadcast(xp.where(c, g, 0), shape_of(a)) if need_a else None
        gb = unbroadcast(xp.where(c, 0, g), shape_of(b)) if need_b else None
        return (None, ga, gb)

    return record(y, (condition, input, other), backward, name="WhereBackward0")
