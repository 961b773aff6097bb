"""Elementwise arithmetic, comparisons, reductions, reshaping and indexing of Tensors.

Every operation here needs values, so it makes its operands real first. Arithmetic results take
the dtype PyTorch's type promotion gives (``paramtool.core.promotion``). Operations run on the
tensor's array module, numpy or cupy.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from paramtool.core import recipes
from paramtool.core.device import to_device
from paramtool.core.promotion import category, check_random_dtype, dtype_stem, result_type
from paramtool.core.recipes import Constant


def _wrap(array: Any) -> Any:
    from paramtool.core.tensor import from_array  # noqa: PLC0415 - tensor imports this module

    return from_array(array)


def _unwrap(value: Any) -> Any:
    if hasattr(value, "_cell"):
        return value._array()
    if isinstance(value, tuple):
        return tuple(_unwrap(v) for v in value)
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


_COMPARISONS = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge)


def _arithmetic_dtype(op: Any, *operands: Any) -> np.dtype | None:
    dtype = result_type(*operands)
    if op is operator.truediv and dtype is not None and category(dtype) < 2:
        return np.dtype(np.float32)
    return dtype


def _binary(op: Any, reflected: bool = False) -> Any:
    def method(self: Any, other: Any) -> Any:
        a, b = self._array(), _unwrap(other)
        result = op(b, a) if reflected else op(a, b)
        dtype = None if op in _COMPARISONS else _arithmetic_dtype(op, self, other)
        if dtype is not None and getattr(result, "dtype", dtype) != dtype:
            result = result.astype(dtype)
        return _wrap(result)

    return method


def _inplace(op: Any) -> Any:
    def method(self: Any, other: Any) -> Any:
        dtype = _arithmetic_dtype(op, self, other)
        if dtype is not None and category(dtype) > category(self.dtype):
            raise RuntimeError(
                f"result type {dtype_stem(dtype)} can't be cast to the desired output type "
                f"{dtype_stem(self.dtype)}"
            )
        self.materialize()
        array = self._cell.writable()
        array[...] = op(array, _unwrap(other))
        return self

    return method


def _unary(fn: Any) -> Any:
    def method(self: Any) -> Any:
        return _wrap(fn(self._array()))

    return method


class TensorOps:
    """Mixin with the value-level operations of :class:`paramtool.Tensor`."""

    __add__, __radd__ = _binary(operator.add), _binary(operator.add, True)
    __sub__, __rsub__ = _binary(operator.sub), _binary(operator.sub, True)
    __mul__, __rmul__ = _binary(operator.mul), _binary(operator.mul, True)
    __truediv__, __rtruediv__ = _binary(operator.truediv), _binary(operator.truediv, True)
    __floordiv__ = _binary(operator.floordiv)
    __mod__ = _binary(operator.mod)
    __pow__, __rpow__ = _binary(operator.pow), _binary(operator.pow, True)
    __matmul__, __rmatmul__ = _binary(operator.matmul), _binary(operator.matmul, True)
    __and__, __or__, __xor__ = _binary(operator.and_), _binary(operator.or_), _binary(operator.xor)
    __eq__, __ne__ = _binary(operator.eq), _binary(operator.ne)  # type: ignore[assignment]
    __lt__, __le__ = _binary(operator.lt), _binary(operator.le)
    __gt__, __ge__ = _binary(operator.gt), _binary(operator.ge)
    __iadd__, __isub__ = _inplace(operator.add), _inplace(operator.sub)
    __imul__, __itruediv__ = _inplace(operator.mul), _inplace(operator.truediv)
    add_, sub_, mul_, div_ = __iadd__, __isub__, __imul__, __itruediv__
    add, sub, mul, div = __add__, __sub__, __mul__, __truediv__
    __neg__ = neg = _unary(operator.neg)
    __abs__ = abs = _unary(abs)
    __invert__ = _unary(operator.invert)

    def sqrt(self) -> Any:
        return _wrap(self._xp().sqrt(self._array()))

    def exp(self) -> Any:
        return _wrap(self._xp().exp(self._array()))

    def log(self) -> Any:
        return _wrap(self._xp().log(self._array()))

    def clamp(self, min: float | None = None, max: float | None = None) -> Any:  # noqa: A002
        return _wrap(self._xp().clip(self._array(), min, max))

    clip = clamp

    def _xp(self) -> Any:
        return self.device.xp  # type: ignore[attr-defined]

    # -- conversions ---------------------------------------------------------------------------

    def float(self) -> Any:
        return self.to(np.float32)  # type: ignore[attr-defined]

    def double(self) -> Any:
        return self.to(np.float64)  # type: ignore[attr-defined]

    def half(self) -> Any:
        return self.to(np.float16)  # type: ignore[attr-defined]

    def bfloat16(self) -> Any:
        return self.to("bfloat16")  # type: ignore[attr-defined]

    def long(self) -> Any:
        return self.to(np.int64)  # type: ignore[attr-defined]

    def int(self) -> Any:
        return self.to(np.int32)  # type: ignore[attr-defined]

    def bool(self) -> Any:
        return self.to(np.bool_)  # type: ignore[attr-defined]

    def item(self) -> Any:
        array = self._array()
        if array.size != 1:
            raise RuntimeError(f"a Tensor with {array.size} elements cannot be converted to Scalar")
        return array.reshape(()).item()

    def tolist(self) -> Any:
        return np.asarray(self).tolist()

    def __bool__(self) -> bool:
        size = self.numel()  # type: ignore[attr-defined]
        if size != 1:
            amount = "no values" if size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {amount} is ambiguous")
        return builtin_bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        return int(self.item())

    def __len__(self) -> int:
        if not self.shape:  # type: ignore[attr-defined]
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]  # type: ignore[attr-defined]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    # -- reductions ----------------------------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _wrap(self._array().sum(axis=dim, keepdims=keepdim))

    def mean(self, dim: Any = None, keepdim: bool = False) -> Any:
        if not self.is_floating_point():  # type: ignore[attr-defined]
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {dtype_stem(self.dtype)}"  # type: ignore[attr-defined]
            )
        return _wrap(self._array().mean(axis=dim, keepdims=keepdim))

    def std(self, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
            correction: int | None = None) -> Any:  # fmt: skip
        ddof = (1 if unbiased else 0) if correction is None else correction
        _check_std_var(self)
        return _wrap(self._array().std(axis=dim, ddof=ddof, keepdims=keepdim))

    def var(self, dim: Any = None, unbiased: bool = True, keepdim: bool = False) -> Any:
        _check_std_var(self)
        return _wrap(self._array().var(axis=dim, ddof=1 if unbiased else 0, keepdims=keepdim))

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _reduce_pair(self, "min", dim, keepdim)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _reduce_pair(self, "max", dim, keepdim)

    def all(self) -> Any:
        return _wrap(self._array().all())

    def any(self) -> Any:
        return _wrap(self._array().any())

    # -- shape ---------------------------------------------------------------------------------

    def view(self, *shape: Any) -> Any:
        array = self._array()
        if len(shape) == 1 and not isinstance(shape[0], int):
            if not isinstance(shape[0], tuple | list):
                return _wrap(array.view(shape[0]))  # view(dtype)
            shape = tuple(shape[0])
        _check_shape(shape, array.size)
        view = array.view()
        try:
            view.shape = shape  # raises instead of copying when not viewable
        except AttributeError as exc:
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
            ) from exc
        return _wrap(view)

    def reshape(self, *shape: Any) -> Any:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        array = self._array()
        _check_shape(shape, array.size)
        return _wrap(array.reshape(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Any:
        dims = list(self.shape)  # type: ignore[attr-defined]
        if not dims:
            return self.reshape(1)
        end = end_dim % len(dims)
        merged = int(np.prod(dims[start_dim : end + 1], dtype=np.int64))
        return self.reshape(*dims[:start_dim], merged, *dims[end + 1 :])

    def t(self) -> Any:
        return _wrap(self._array().T)

    @property
    def T(self) -> Any:  # noqa: N802 - torch's name
        return _wrap(self._array().T)

    def transpose(self, dim0: int, dim1: int) -> Any:
        return _wrap(self._xp().swapaxes(self._array(), dim0, dim1))

    def permute(self, *dims: Any) -> Any:
        dims = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], int) else dims
        return _wrap(self._array().transpose(dims))

    def unsqueeze(self, dim: int) -> Any:
        return _wrap(self._xp().expand_dims(self._array(), dim))

    def squeeze(self, dim: int | None = None) -> Any:
        array = self._array()
        if dim is not None and array.shape[dim] != 1:
            return _wrap(array)
        return _wrap(array.squeeze(axis=dim))

    def contiguous(self) -> Any:
        array = self._array()
        return self if array.flags.c_contiguous else _wrap(self._xp().ascontiguousarray(array))

    def is_contiguous(self) -> bool:
        return self.is_deferred or self._array().flags.c_contiguous  # type: ignore[attr-defined]

    # -- indexing and in-place fills -------------------------------------------------------------

    def __getitem__(self, index: Any) -> Any:
        return _wrap(self._array()[_unwrap(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self.materialize()  # type: ignore[attr-defined]
        value = _unwrap(value)
        if hasattr(value, "shape") and getattr(value, "ndim", 0):  # an array: onto our device
            value = to_device(value, self.device)  # type: ignore[attr-defined]
        self._cell.writable()[_unwrap(index)] = value  # type: ignore[attr-defined]

    def fill_(self, value: Any) -> Any:
        return self._set_recipe(
            Constant(_unwrap(value).item() if hasattr(value, "_cell") else value)
        )  # type: ignore[attr-defined]

    def zero_(self) -> Any:
        return self.fill_(0)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Any:
        check_random_dtype(self.dtype, "check_uniform_bounds")  # type: ignore[attr-defined]
        return self._set_recipe(recipes.uniform(a, b), generator)  # type: ignore[attr-defined]

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Any:
        check_random_dtype(self.dtype, "normal_kernel_cpu")  # type: ignore[attr-defined]
        return self._set_recipe(recipes.normal(mean, std), generator)  # type: ignore[attr-defined]

    def copy_(self, src: Any) -> Any:
        """Copy ``src``'s values into this tensor, casting dtype and moving device."""
        values = src._array() if hasattr(src, "_cell") else src
        values = to_device(values, self.device)  # type: ignore[attr-defined]
        if tuple(values.shape) != tuple(self.shape) and values.size != 1:  # type: ignore[attr-defined]
            self._xp().broadcast_to(values, self.shape)  # raises on a true mismatch
        cell = self._cell  # type: ignore[attr-defined]
        if cell.array is None:
            cell.array = cell.empty()
            cell.recipe = cell.stream = None
        cell.writable()[...] = values.astype(cell.dtype, copy=False)
        return self


builtin_bool = bool


def _check_std_var(tensor: Any) -> None:
    if not tensor.is_floating_point():
        raise RuntimeError("std and var only support floating point and complex dtypes")


def _check_shape(shape: tuple[Any, ...], size: int) -> None:
    """PyTorch's errors for a ``view``/``reshape`` target that cannot hold ``size`` elements."""
    dims = [int(n) for n in shape]
    if dims.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for n in dims:
        if n < -1:
            raise RuntimeError(f"invalid shape dimension {n}")
    known = int(np.prod([n for n in dims if n != -1], dtype=np.int64))
    fits = size % known == 0 if -1 in dims and known else known == size
    if not fits:
        raise RuntimeError(f"shape '{dims}' is invalid for input of size {size}")


def _reduce_pair(tensor: Any, kind: str, dim: Any, keepdim: bool) -> Any:
    array = tensor._array()
    if dim is None:
        return _wrap(getattr(array, kind)())
    values = getattr(array, kind)(axis=dim, keepdims=keepdim)
    indices = getattr(array, "arg" + kind)(axis=dim, keepdims=keepdim)
    return _wrap(values), _wrap(indices)
