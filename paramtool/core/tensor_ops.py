"""The Tensor methods that compute: arithmetic operators, math, reductions, reshaping, indexing
and the in-place forms, bound to the differentiable functions of ``paramtool.core.ops``.

Every operation here needs values, so it makes its operands real first (except the in-place
fills ``fill_``/``zero_``/``uniform_``/``normal_``, which keep a deferred tensor deferred). An
in-place operation on a tensor that is part of a graph records itself like its out-of-place
form; on a leaf that requires grad it is PyTorch's error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import autograd, ops, recipes
from paramtool.core.device import to_device
from paramtool.core.ops_common import arr, constant, record, unbroadcast
from paramtool.core.ops_index import getitem, index_put
from paramtool.core.promotion import category, check_random_dtype, dtype_stem
from paramtool.core.recipes import Constant

_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
_LEAF_VIEW_INPLACE = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)


def _records(self: Any, args: tuple[Any, ...]) -> bool:
    if not autograd._enabled:
        return False
    return self._requires_grad or any(getattr(a, "_requires_grad", False) for a in args)


def adopt(self: Any, result: Any, args: tuple[Any, ...] = ()) -> Any:
    """Make ``self`` hold ``result``'s values (and, when recording, its place in the graph)."""
    if category(result.dtype) > category(self.dtype):
        raise RuntimeError(
            f"result type {dtype_stem(result.dtype)} can't be cast to the desired output type "
            f"{dtype_stem(self.dtype)}"
        )
    values = result._array()
    if values.shape != tuple(self.shape):
        raise RuntimeError(
            f"output with shape {list(self.shape)} doesn't match the broadcast shape "
            f"{list(values.shape)}"
        )
    if values.dtype != self.dtype:
        values = values.astype(self.dtype)
    if result.grad_fn is not None:  # part of a graph: take the new array and the node
        if self.grad_fn is None and self._requires_grad:
            raise RuntimeError(_LEAF_INPLACE)
        self._cell.array = values
        self.grad_fn, self._output_nr, self._requires_grad = result.grad_fn, result._output_nr, True
        return self
    self.materialize()
    self._cell.writable()[...] = values
    return self


def _inplace(fn: Any) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _records(self, args) and self.grad_fn is None and self._requires_grad:
            raise RuntimeError(_LEAF_INPLACE)
        return adopt(self, fn(self, *args, **kwargs), args)

    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In-place ``{fn.__name__}``; returns self."
    return method


def _reflected(fn: Any) -> Any:
    def method(self: Any, other: Any) -> Any:
        return fn(other, self)

    return method


def _radd(self: Any, other: Any) -> Any:
    return ops.add(self, other)


def _rmul(self: Any, other: Any) -> Any:
    return ops.mul(self, other)


_METHODS = [
    "abs", "absolute", "acos", "add", "addcdiv", "addcmul", "addmm", "all", "amax", "amin",
    "any", "argmax", "argmin", "argsort", "asin", "atan", "atan2", "baddbmm", "bmm",
    "broadcast_to", "ceil", "chunk", "clamp", "clamp_max", "clamp_min", "clip", "contiguous",
    "cos", "cosh", "count_nonzero", "cummax", "cumprod", "cumsum", "diag", "diagonal", "div",
    "divide", "dot", "eq", "erf", "erfc", "exp", "exp2", "expand", "expand_as", "expm1",
    "flatten", "flip", "float_power", "floor", "floor_divide", "fmod", "gather", "ge", "gt",
    "hypot", "index_add", "index_put", "index_select", "inner", "isfinite", "isinf", "isnan",
    "le", "lerp", "log", "log10", "log1p", "log2", "log_softmax", "logcumsumexp",
    "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp", "lt", "masked_fill",
    "masked_scatter", "masked_select", "matmul", "max", "maximum", "mean", "median", "min",
    "minimum", "mm", "moveaxis", "movedim", "mul", "multiply", "mv", "nan_to_num", "nanmean",
    "nansum", "narrow", "ne", "neg", "negative", "nonzero", "norm", "outer", "permute", "pow",
    "prod", "ravel", "reciprocal", "remainder", "repeat", "repeat_interleave", "reshape", "roll",
    "round", "rsqrt", "scatter", "scatter_add", "sigmoid", "sign", "signbit", "sin", "sinh",
    "softmax", "sort", "split", "sqrt", "square", "squeeze", "std", "sub", "subtract", "sum",
    "swapaxes", "swapdims", "t", "tan", "tanh", "tile", "topk", "transpose", "tril", "triu",
    "true_divide", "trunc", "unbind", "unflatten", "unique", "unsqueeze", "var", "view",
    "bitwise_and", "bitwise_or", "bitwise_not", "real", "imag", "hsplit", "aminmax", "relu",
    "isclose", "allclose", "equal", "take_along_dim",
]  # fmt: skip

_INPLACE = [
    "abs", "add", "addcdiv", "addcmul", "clamp", "clamp_max", "clamp_min", "clip", "cos", "div",
    "exp", "floor", "index_add", "index_put", "lerp", "log", "masked_fill", "masked_scatter",
    "mul", "neg", "pow", "reciprocal", "round", "rsqrt", "scatter", "scatter_add", "sigmoid",
    "sign", "sin", "sqrt", "square", "sub", "tanh", "tril", "triu", "trunc", "ceil",
    "nan_to_num", "log1p", "expm1", "remainder", "fmod", "floor_divide", "erf", "relu",
]  # fmt: skip


class TensorOps:
    """Mixin with the value-level operations of :class:`paramtool.Tensor`."""

    __add__, __radd__ = ops.add, _radd
    __sub__, __rsub__ = ops.sub, ops.ops_pointwise.rsub
    __mul__, __rmul__ = ops.mul, _rmul
    __truediv__, __rtruediv__ = ops.div, ops.ops_pointwise.rdiv
    __floordiv__, __rfloordiv__ = ops.floor_divide, _reflected(ops.floor_divide)
    __mod__, __rmod__ = ops.remainder, _reflected(ops.remainder)
    __pow__, __rpow__ = ops.pow, ops.ops_pointwise.rpow
    __matmul__, __rmatmul__ = ops.matmul, _reflected(ops.matmul)
    __and__, __or__, __xor__ = ops.bitwise_and, ops.bitwise_or, ops.logical_xor
    __rand__, __ror__ = ops.bitwise_and, ops.bitwise_or

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        """Elementwise ``==``; against something that is not a number or array (None, a
        string), False, as PyTorch answers."""
        return ops.eq(self, other) if _comparable(other) else False

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return ops.ne(self, other) if _comparable(other) else True

    __lt__, __le__, __gt__, __ge__ = ops.lt, ops.le, ops.gt, ops.ge
    __neg__, __abs__, __invert__ = ops.neg, ops.abs, ops.bitwise_not
    __getitem__ = getitem

    def _xp(self) -> Any:
        return self.device.xp  # type: ignore[attr-defined]

    @property
    def T(self) -> Any:  # noqa: N802 - torch's name
        """All dimensions reversed (the transpose of a matrix)."""
        return ops.permute(self, tuple(reversed(range(self.ndim))))  # type: ignore[attr-defined]

    @property
    def mT(self) -> Any:  # noqa: N802
        """The last two dimensions swapped."""
        return ops.transpose(self, -2, -1)

    def is_contiguous(self, memory_format: Any = None) -> bool:
        return self.is_deferred or self._array().flags.c_contiguous  # type: ignore[attr-defined]

    unfold = ops.ops_shape.unfold  # a method only (torch.unfold does not exist)

    def where(self, condition: Any, other: Any) -> Any:
        """``paramtool.where(condition, self, other)``."""
        return ops.where(condition, self, other)

    def select(self, dim: int, index: int) -> Any:
        """The slice at ``index`` of dimension ``dim``, without that dimension."""
        return getitem(self, (slice(None),) * (dim % self.ndim) + (index,))  # type: ignore[attr-defined]

    def split_with_sizes(self, split_sizes: Any, dim: int = 0) -> Any:
        return ops.split(self, list(split_sizes), dim)

    def stride(self, dim: int | None = None) -> Any:
        """Elements to step per dimension (C order while deferred)."""
        if self.is_deferred:  # type: ignore[attr-defined]
            strides, step = [], 1
            for n in reversed(self.shape):  # type: ignore[attr-defined]
                strides.insert(0, step)
                step *= n
        else:
            array = self._cell.array  # type: ignore[attr-defined]
            strides = [s // array.itemsize for s in array.strides]
        return tuple(strides) if dim is None else strides[dim]

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize  # type: ignore[attr-defined]

    def get_device(self) -> int:
        """The CUDA ordinal, or -1 on the cpu."""
        device = self.device  # type: ignore[attr-defined]
        return -1 if device.type == "cpu" else int(device.index or 0)

    def is_complex(self) -> bool:
        return self.dtype.kind == "c"  # type: ignore[attr-defined]

    def _new(self, fn: Any, size: Any, dtype: Any, device: Any, requires_grad: bool) -> Any:
        size = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else size
        return fn(*size, dtype=dtype or self.dtype, device=device or self.device,  # type: ignore[attr-defined]
                  requires_grad=requires_grad)  # fmt: skip

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Any:  # fmt: skip
        """Zeros of ``size`` with this tensor's dtype and device (unless given)."""
        from paramtool.core import factories  # noqa: PLC0415 - factories build on Tensor

        return self._new(factories.zeros, size, dtype, device, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Any:  # fmt: skip
        """Ones of ``size`` with this tensor's dtype and device (unless given)."""
        from paramtool.core import factories  # noqa: PLC0415

        return self._new(factories.ones, size, dtype, device, requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Any:  # fmt: skip
        """An uninitialised tensor of ``size`` with this tensor's dtype and device."""
        from paramtool.core import factories  # noqa: PLC0415

        return self._new(factories.empty, size, dtype, device, requires_grad)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Any:  # fmt: skip
        """``fill_value`` everywhere, with this tensor's dtype and device (unless given)."""
        from paramtool.core import factories  # noqa: PLC0415

        return factories.full(size, fill_value, dtype=dtype or self.dtype,  # type: ignore[attr-defined]
                              device=device or self.device, requires_grad=requires_grad)  # type: ignore[attr-defined] # fmt: skip

    def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Any:  # fmt: skip
        """A copy of ``data`` with this tensor's dtype and device (unless given)."""
        from paramtool.core import factories  # noqa: PLC0415

        return factories.tensor(data, dtype=dtype or self.dtype, device=device or self.device,  # type: ignore[attr-defined]
                                requires_grad=requires_grad)  # fmt: skip

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Any:
        """Fill with 1 (probability ``p``) or 0, from paramtool's random stream."""
        from paramtool.core import factories  # noqa: PLC0415

        uniform = factories.rand(*self.shape, dtype=np.float64, device=self.device,  # type: ignore[attr-defined]
                                 generator=generator)._array()  # fmt: skip
        with autograd.no_grad():
            return self.copy_(constant((uniform < arr(p)).astype(self.dtype)))  # type: ignore[attr-defined]

    def bernoulli(self, p: Any = None, *, generator: Any = None) -> Any:
        """0/1 draws with probabilities ``self`` (or ``p``)."""
        probabilities = self if p is None else p
        out = ops.mul(self.detach(), 0)  # type: ignore[attr-defined]
        return out.bernoulli_(probabilities, generator=generator)

    def to_sparse(self, *args: Any, **kwargs: Any) -> Any:
        """A copy of the values, held dense: paramtool has no sparse layouts (shape and dtype,
        what an inventory lists, are those of PyTorch's sparse tensor)."""
        return self.clone()

    def to_dense(self, *args: Any, **kwargs: Any) -> Any:
        """The tensor itself (paramtool's tensors are dense)."""
        return self

    def view_as(self, other: Any) -> Any:
        return ops.view(self, tuple(other.shape))

    def reshape_as(self, other: Any) -> Any:
        return ops.reshape(self, tuple(other.shape))

    def clone(self, *, memory_format: Any = None) -> Any:
        """A copy with its own storage, recorded in the graph. A deferred tensor's copy stays
        deferred (a model's constructor cloning a weight allocates nothing) and is a leaf."""
        if self.is_deferred:  # type: ignore[attr-defined]
            return self._clone_deferred()  # type: ignore[attr-defined]
        return record(self._array().copy(), (self,), lambda g: (g,), name="CloneBackward0")

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
        return iter(ops.unbind(self, 0)) if self.shape else iter(())  # type: ignore[attr-defined]

    # -- in place ------------------------------------------------------------------------------

    def __iadd__(self, other: Any) -> Any:
        return self.add_(other)  # type: ignore[attr-defined]

    def __isub__(self, other: Any) -> Any:
        return self.sub_(other)  # type: ignore[attr-defined]

    def __imul__(self, other: Any) -> Any:
        return self.mul_(other)  # type: ignore[attr-defined]

    def __itruediv__(self, other: Any) -> Any:
        return self.div_(other)  # type: ignore[attr-defined]

    def __setitem__(self, index: Any, value: Any) -> None:
        if _records(self, (value,)):
            if self.grad_fn is None and self._requires_grad:  # type: ignore[attr-defined]
                raise RuntimeError(_LEAF_VIEW_INPLACE)
            adopt(self, index_put(self, index, _on_device(self, value)))
            return
        self.materialize()  # type: ignore[attr-defined]
        value = arr(value)
        if hasattr(value, "shape") and getattr(value, "ndim", 0):  # an array: onto our device
            value = to_device(value, self.device)  # type: ignore[attr-defined]
        self._cell.writable()[ops.ops_index.index_array(index)] = value  # type: ignore[attr-defined]

    def fill_(self, value: Any) -> Any:
        if _records(self, (value,)):
            return _inplace(_copy_values)(self, value)
        return self._set_recipe(Constant(value.item() if hasattr(value, "_cell") else value))  # type: ignore[attr-defined]

    def zero_(self) -> Any:
        return self.fill_(0)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Any:
        check_random_dtype(self.dtype, "check_uniform_bounds")  # type: ignore[attr-defined]
        return self._set_recipe(recipes.uniform(a, b), generator)  # type: ignore[attr-defined]

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Any:
        check_random_dtype(self.dtype, "normal_kernel_cpu")  # type: ignore[attr-defined]
        return self._set_recipe(recipes.normal(mean, std), generator)  # type: ignore[attr-defined]

    def copy_(self, src: Any, non_blocking: bool = False) -> Any:
        """Copy ``src``'s values into this tensor, casting dtype and moving device."""
        if _records(self, (src,)):
            source = src.to(self.device) if hasattr(src, "_cell") else src  # type: ignore[attr-defined]
            return _inplace(_copy_values)(self, source)
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


def _comparable(value: Any) -> bool:
    return (
        hasattr(value, "_cell")
        or hasattr(value, "dtype")
        or isinstance(value, builtin_bool | int | float | complex | list | tuple)
    )


def _copy_values(self: Any, src: Any) -> Any:
    """``src`` broadcast to ``self``'s shape, with the gradient flowing to ``src`` only."""
    values = arr(src)
    out = self._xp().empty(self.shape, dtype=self.dtype)
    out[...] = values
    shape = tuple(getattr(values, "shape", ()))

    def backward(g: Any) -> tuple[None, Any]:
        grad = unbroadcast(g, shape)
        return None, (grad.astype(src.dtype, copy=False) if hasattr(src, "_cell") else None)

    return record(out, (self, src), backward, name="CopyBackwards")


def _on_device(tensor: Any, value: Any) -> Any:
    if hasattr(value, "_cell") and value.device != tensor.device:
        return value.to(tensor.device)
    return value


for _name in _METHODS:
    if not hasattr(TensorOps, _name) or _name in ("abs",):
        setattr(TensorOps, _name, getattr(ops, _name))
for _name in _INPLACE:
    setattr(TensorOps, _name + "_", _inplace(getattr(ops, _name)))
TensorOps.abs = ops.abs  # type: ignore[attr-defined]
del _name

builtin_bool = bool
