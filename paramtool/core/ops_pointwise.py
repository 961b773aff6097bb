"""Elementwise operations of two operands with gradients: broadcasting arithmetic, ``pow``,
``maximum``/``minimum``, comparisons and ``where``. Results take PyTorch's promoted dtype.
Functions of one tensor (``exp``, ``tanh``, ``clamp``, ...) are in ``ops_unary``."""

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
    "add", "div", "divide", "eq", "floor_divide", "fmod", "ge", "gt", "le", "lerp", "logical_and",
    "logical_not", "logical_or", "lt", "maximum", "minimum", "mul", "multiply", "ne", "pow",
    "remainder", "rsub", "sub", "subtract", "true_divide", "where", "isnan", "isinf", "isfinite",
    "atan2", "addcmul", "isclose", "allclose", "equal", "addcdiv", "logical_xor", "bitwise_and",
    "bitwise_or", "bitwise_not", "signbit", "float_power", "hypot",
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
