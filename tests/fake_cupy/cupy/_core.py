"""The stand-in's device array: numpy memory tagged with a device id, behind cupy's rules.

It is not a numpy subclass, so ``isinstance(x, numpy.ndarray)`` is False as for a real cupy
array, and it enforces what real cupy enforces at the host/device boundary:

* ``numpy.asarray(x)`` raises TypeError (cupy's ``__array__``: "Implicit conversion to a NumPy
  array is not allowed"); only ``x.get()`` copies to the host.
* a numpy array as a ufunc operand raises ``TypeError: Unsupported type <class
  'numpy.ndarray'>`` (cupy ``_kernel._preprocess_arg``); numpy scalars are fine.
* ``x[...] = host_array`` with a non-scalar numpy array raises ValueError("non-scalar
  numpy.ndarray cannot be used for fill"): cupy routes basic-index assignment of a non-cupy value
  through ``ndarray.fill``.
* only cupy 13's dtypes ``?bhilqBHILQefdFD`` exist: creating, casting to or copying in anything
  else (bfloat16, the float8 family) raises ValueError("Unsupported dtype ..."). cupy 14 also
  accepts ``ml_dtypes.bfloat16``; the float8 formats are refused by both.
* a kernel run on an array that lives on another device than the current one warns
  ``PerformanceWarning`` (cupy ``_check_peer_access``), which tests turn into an error.
* indexing one element and reductions return 0-d device arrays, not Python or numpy scalars.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

SUPPORTED_CHARS = "?bhilqBHILQefdFD"


class PerformanceWarning(RuntimeWarning):
    """cupy's ``cupy._util.PerformanceWarning``."""


_local = threading.local()


def current_device_id() -> int:
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else 0


def push_device(index: int) -> None:
    if not hasattr(_local, "stack"):
        _local.stack = []
    _local.stack.append(index)


def pop_device() -> None:
    _local.stack.pop()


def check_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.char not in SUPPORTED_CHARS:
        raise ValueError(f"Unsupported dtype {dtype}")
    return dtype


class _Memory:
    """``ndarray.data``: the pointer and the device of the memory."""

    def __init__(self, array: np.ndarray, device_id: int) -> None:
        self.ptr = int(array.__array_interface__["data"][0])
        self.device_id = device_id


def _check_peer(array: ndarray) -> None:
    here = current_device_id()
    if array._device_id != here:
        warnings.warn(
            f"The device where the array resides ({array._device_id}) is different from the "
            f"current device ({here}). Peer access has been activated automatically.",
            PerformanceWarning,
            stacklevel=3,
        )


def _is_advanced(key: Any) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return any(isinstance(p, ndarray | np.ndarray | list) for p in parts)


def unwrap_operand(value: Any) -> Any:
    """A kernel argument: a device array (checked for its device) or a scalar; never host data."""
    if isinstance(value, ndarray):
        _check_peer(value)
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)}")
    if isinstance(value, list | tuple):
        return type(value)(unwrap_operand(v) for v in value)
    return value


def _unwrap_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_unwrap_key(k) for k in key)
    if isinstance(key, ndarray):
        _check_peer(key)
        return key._a
    return key


def wrap(value: Any, device_id: int | None = None) -> Any:
    """A numpy result as a device array (numpy scalars become 0-d arrays, as cupy returns)."""
    device_id = current_device_id() if device_id is None else device_id
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value) if isinstance(value, np.generic) else value
        check_dtype(array.dtype)
        return ndarray._of(array, device_id)
    if isinstance(value, tuple):
        return tuple(wrap(v, device_id) for v in value)
    return value


class _Flags:
    def __init__(self, array: np.ndarray) -> None:
        self.c_contiguous = bool(array.flags.c_contiguous)
        self.f_contiguous = bool(array.flags.f_contiguous)
        self.owndata = bool(array.flags.owndata)


class ndarray(np.lib.mixins.NDArrayOperatorsMixin):  # noqa: N801 - cupy's name
    """A device array: numpy memory tagged with the id of the device it lives on."""

    __slots__ = ("_a", "_device_id")

    def __init__(self, shape: Any, dtype: Any = float) -> None:
        self._a = np.empty(shape, check_dtype(dtype))
        self._device_id = current_device_id()

    @classmethod
    def _of(cls, array: np.ndarray, device_id: int) -> ndarray:
        out = cls.__new__(cls)
        out._a, out._device_id = array, device_id
        return out

    # -- the host boundary -----------------------------------------------------------------

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly."
        )

    def get(self) -> np.ndarray:
        """A host copy (``cupy.ndarray.get``)."""
        return self._a.copy()

    def item(self) -> Any:
        return self._a.item()

    def tolist(self) -> Any:
        return self._a.tolist()

    # -- metadata --------------------------------------------------------------------------

    @property
    def device(self) -> Any:
        from cupy.cuda import Device  # noqa: PLC0415

        return Device(self._device_id)

    @property
    def data(self) -> _Memory:
        return _Memory(self._a, self._device_id)

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    ndim = property(lambda self: self._a.ndim)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a))
    T = property(lambda self: ndarray._of(self._a.T, self._device_id))

    def __len__(self) -> int:
        return len(self._a)

    def __repr__(self) -> str:
        return repr(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    # -- views, copies, casts --------------------------------------------------------------

    def _view(self, array: np.ndarray) -> ndarray:
        return ndarray._of(array, self._device_id)

    def reshape(self, *shape: Any, order: str = "C") -> ndarray:
        return self._view(self._a.reshape(*shape, order=order))

    def ravel(self, order: str = "C") -> ndarray:
        return self._view(self._a.ravel(order))

    def transpose(self, *axes: Any) -> ndarray:
        return self._view(self._a.transpose(*axes))

    def swapaxes(self, a: int, b: int) -> ndarray:
        return self._view(self._a.swapaxes(a, b))

    def squeeze(self, axis: Any = None) -> ndarray:
        return self._view(self._a.squeeze(axis))

    def view(self, dtype: Any = None) -> ndarray:
        if dtype is None:
            return self._view(self._a.view())
        return self._view(self._a.view(check_dtype(dtype)))

    def copy(self, order: str = "C") -> ndarray:
        _check_peer(self)
        return ndarray._of(self._a.copy(order), current_device_id())

    def astype(self, dtype: Any, order: str = "K", copy: bool = True, **_: Any) -> ndarray:
        dtype = check_dtype(dtype)
        if not copy and dtype == self.dtype:
            return self
        _check_peer(self)
        return ndarray._of(self._a.astype(dtype, order=order), self._device_id)

    def fill(self, value: Any) -> None:
        if isinstance(value, np.ndarray):
            if value.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = value.item()
        _check_peer(self)
        self._a.fill(value)

    # -- indexing --------------------------------------------------------------------------

    def __getitem__(self, key: Any) -> ndarray:
        result = self._a[_unwrap_key(key)]
        return wrap(result, self._device_id)

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, np.ndarray) and not _is_advanced(key):
            view = self[key]
            view.fill(value)  # cupy: a non-cupy value goes through fill()
            return
        _check_peer(self)
        if isinstance(value, np.ndarray):
            value = value.astype(self.dtype)  # advanced indexing copies host values in
        self._a[_unwrap_key(key)] = unwrap_operand(value)

    # -- arithmetic: every operator is a ufunc call ----------------------------------------

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        args = [unwrap_operand(x) for x in inputs]
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(unwrap_operand(o) for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return wrap(result)

    # -- reductions (cupy returns 0-d device arrays) ---------------------------------------

    def _reduce(self, name: str, *args: Any, **kwargs: Any) -> ndarray:
        _check_peer(self)
        return wrap(getattr(self._a, name)(*args, **kwargs), self._device_id)

    def sum(self, *a: Any, **k: Any) -> ndarray:
        return self._reduce("sum", *a, **k)

    def mean(self, *a: Any, **k: Any) -> ndarray:
        return self._reduce("mean", *a, **k)

    def std(self, *a: Any, **k: Any) -> ndarray:
        return self._reduce("std", *a, **k)

    def var(self, *a: Any, **k: Any) -> ndarray:
        return self._reduce("var", *a, **k)

    def min(self, *a: Any, **k: Any) -> ndarray:
        return self._reduce("min", *a, **k)

    def max(self, *a: Any, **k: Any) -> ndarray:
        return self._reduce("max", *a, **k)

    def any(self, *a: Any, **k: Any) -> ndarray:
        return self._reduce("any", *a, **k)

    def all(self, *a: Any, **k: Any) -> ndarray:
        return self._reduce("all", *a, **k)


def _array_function(self: ndarray, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    """cupy's ``__array_function__``: numpy's function runs as cupy's namesake, when it has one."""
    import cupy  # noqa: PLC0415

    module = cupy
    for part in func.__module__.split(".")[1:]:
        if part in ("_core", "core") or part.startswith("_"):
            continue
        module = getattr(module, part, None)
        if module is None:
            return NotImplemented
    implementation = getattr(module, func.__name__, None)
    if implementation is None:
        return NotImplemented
    return implementation(*args, **kwargs)


ndarray.__array_function__ = _array_function  # type: ignore[attr-defined]


def _on_device(func: Any) -> Any:
    """A cupy routine: device arrays (or scalars) in, device arrays out on the current device."""

    def routine(*args: Any, **kwargs: Any) -> Any:
        args = tuple(unwrap_operand(a) for a in args)
        if "out" in kwargs and kwargs["out"] is not None:
            out = kwargs["out"]
            kwargs["out"] = unwrap_operand(out)
            func(*args, **kwargs)
            return out
        return wrap(func(*args, **kwargs))

    routine.__name__ = func.__name__
    return routine
