"""The few top-level torch functions that are settings, queries or decorators, not tensor math.

Tensor math (``torch.arange``, ``torch.outer``, ...) is paramtool's own, bound by name in
:mod:`paramtool.torch`; what lives here is what a model file calls to configure PyTorch
(``torch.compile``, ``torch.set_float32_matmul_precision``) or to ask about types.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from paramtool.core import dtypes
from paramtool.core.tensor import Tensor

#: torch's constants.
pi, e, inf, nan = math.pi, math.e, math.inf, math.nan


class _Named:
    """A named marker (``torch.strided``, ``torch.channels_last``) compared by identity."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


strided, sparse_coo = _Named("strided"), _Named("sparse_coo")
contiguous_format, channels_last = _Named("contiguous_format"), _Named("channels_last")
preserve_format = _Named("preserve_format")


def set_num_threads(count: int) -> None:
    """``torch.set_num_threads``: a file's speed setting, not applied to paramtool's own threads."""


def set_printoptions(*args: Any, **kwargs: Any) -> None:
    """``torch.set_printoptions``: accepted; paramtool prints tensors as PyTorch's defaults do."""


def set_anomaly_enabled(mode: bool, check_nan: bool = True) -> None:
    """``torch.set_anomaly_enabled``: a debugging switch; accepted."""


def is_autocast_enabled(*args: Any) -> bool:
    """Autocast never changes paramtool's dtypes."""
    return False


def compile(model: Any = None, **options: Any) -> Any:  # noqa: A001 - torch's name
    """``torch.compile``: returns the model (or function) itself; compiling changes no parameter.

    Works as ``torch.compile(model)``, ``@torch.compile`` and ``@torch.compile(mode=...)``.
    """
    if model is None:
        return lambda fn: fn
    return model


def finfo(dtype: Any = None) -> Any:
    """``torch.finfo``: eps, max, min, tiny, bits of a floating dtype (default float32)."""
    import ml_dtypes  # noqa: PLC0415 - loaded only when asked (bfloat16/float8 support)

    return ml_dtypes.finfo(dtypes.as_dtype(dtype if dtype is not None else "float32"))


def iinfo(dtype: Any) -> np.iinfo:
    """``torch.iinfo``: max, min, bits of an integer dtype."""
    return np.iinfo(dtypes.as_dtype(dtype))


def get_default_dtype() -> np.dtype:
    """``torch.get_default_dtype``: float32, the dtype paramtool's factories create."""
    return dtypes.float32


def set_default_dtype(dtype: Any) -> None:
    """``torch.set_default_dtype``: float32 only (paramtool's factories create float32).

    Raises:
        NotImplementedError: for any other dtype.
    """
    if dtypes.as_dtype(dtype) != dtypes.float32:
        raise NotImplementedError(f"torch.set_default_dtype({dtype}): only float32 is supported")


def is_tensor(obj: Any) -> bool:
    """``torch.is_tensor``."""
    return isinstance(obj, Tensor)


def is_floating_point(tensor: Tensor) -> bool:
    """``torch.is_floating_point``."""
    return tensor.is_floating_point()


def numel(tensor: Tensor) -> int:
    """``torch.numel``."""
    return tensor.numel()


def set_float32_matmul_precision(precision: str) -> None:
    """``torch.set_float32_matmul_precision``: a speed setting; no effect on parameters."""


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms``: paramtool's values are always deterministic."""


def pass_through(fn: Callable[..., Any] | None = None, /, *args: Any, **kwargs: Any) -> Any:
    """A decorator that returns what it decorates, usable with or without arguments."""
    if fn is None or not callable(fn):
        return lambda inner: inner
    return fn


class _TypedTensorMeta(type):
    """``isinstance(t, torch.FloatTensor)``: a tensor of that dtype."""

    _dtype: str

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Tensor) and instance.dtype == dtypes.as_dtype(cls._dtype)


def _typed_tensor(name: str, dtype: str) -> type:
    """A legacy tensor type (``torch.FloatTensor``): called with sizes or with data."""

    def new(cls: type, *args: Any) -> Tensor:
        from paramtool.core import factories  # noqa: PLC0415

        if len(args) == 1 and not isinstance(args[0], int):
            return factories.tensor(args[0], dtype=dtypes.as_dtype(dtype))
        return factories.empty(*args, dtype=dtypes.as_dtype(dtype))

    return _TypedTensorMeta(name, (), {"_dtype": dtype, "__new__": new})


FloatTensor = _typed_tensor("FloatTensor", "float32")
DoubleTensor = _typed_tensor("DoubleTensor", "float64")
HalfTensor = _typed_tensor("HalfTensor", "float16")
LongTensor = _typed_tensor("LongTensor", "int64")
IntTensor = _typed_tensor("IntTensor", "int32")
ShortTensor = _typed_tensor("ShortTensor", "int16")
ByteTensor = _typed_tensor("ByteTensor", "uint8")
CharTensor = _typed_tensor("CharTensor", "int8")
BoolTensor = _typed_tensor("BoolTensor", "bool")
