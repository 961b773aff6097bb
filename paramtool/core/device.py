"""Devices and the array module (``xp``) behind them.

``cpu`` is numpy; ``cuda``/``cuda:N`` is cupy. cupy is imported here and nowhere else, lazily,
the first time a CUDA device is used. Code above this module asks a tensor's device for its
``xp`` and writes numpy-style code once (the approach of Chainer's ``backend``).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from paramtool.errors import DeviceError, DTypeError

_CUDA_HINT = "install cupy with: pip install 'paramtool[cuda]'"


@functools.lru_cache(maxsize=1)
def _cupy() -> ModuleType | None:
    try:
        import cupy  # noqa: PLC0415 - lazy by design: the one place cupy is imported
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None
    return cupy


def cuda_available() -> bool:
    """True when cupy imports and sees at least one GPU."""
    cp = _cupy()
    if cp is None:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def cuda_device_count() -> int:
    """Number of visible CUDA devices (0 without cupy or a GPU)."""
    return _cupy().cuda.runtime.getDeviceCount() if cuda_available() else 0


@dataclass(frozen=True)
class Device:
    """A device: ``Device("cpu")`` or ``Device("cuda", 0)``.

    Attributes:
        type: ``"cpu"`` or ``"cuda"``.
        index: The CUDA device ordinal (None for cpu).
    """

    type: str
    index: int | None = None

    def __post_init__(self) -> None:
        kind, _, index = str(self.type).strip().partition(":")
        if kind not in ("cpu", "cuda") or (index and not index.isdigit()):
            raise DeviceError(f"unknown device {self.type!r}; expected 'cpu', 'cuda' or 'cuda:N'")
        if index and self.index is not None:
            raise DeviceError(f"device {self.type!r} given an index twice")
        object.__setattr__(self, "type", kind)
        if index:
            object.__setattr__(self, "index", int(index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = as_device(other)
            except DeviceError:
                return False
        if not isinstance(other, Device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __enter__(self) -> Device:
        """``with torch.device(...):`` in a model file: accepted, changing nothing.

        In PyTorch the block's factories default to the device; paramtool's tensors are deferred
        and placed when they are made real, so names, shapes and dtypes are the same.
        """
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @property
    def xp(self) -> ModuleType:
        """The array module for this device: numpy, or cupy (imported on first use)."""
        if self.type == "cpu":
            return np
        cp = _cupy()
        if cp is None:
            raise DeviceError(f"device '{self}' needs cupy, which is not installed; {_CUDA_HINT}")
        if not cuda_available():
            raise DeviceError(f"device '{self}' asked for, but no CUDA GPU is visible")
        index = self.index or 0
        if index >= cuda_device_count():
            raise DeviceError(f"device '{self}' asked for, but only {cuda_device_count()} GPU(s)")
        return cp

    def use(self) -> Any:
        """A context manager making this the current device for allocations (no-op on cpu)."""
        if self.type == "cpu":
            return contextlib.nullcontext()
        self.xp  # noqa: B018 - raises a clear DeviceError when unavailable
        return _cupy().cuda.Device(self.index or 0)


CPU = Device("cpu")


def as_device(value: object = None) -> Device:
    """Parse ``"cpu"``, ``"cuda"``, ``"cuda:1"``, an int (a CUDA ordinal) or a Device.

    Raises:
        DeviceError: the value names no device type paramtool knows.
    """
    if value is None:
        return CPU
    if isinstance(value, Device):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Device("cuda", value)
    if isinstance(value, str):
        return Device(value)
    raise DeviceError(f"unknown device {value!r}; expected 'cpu', 'cuda' or 'cuda:N'")


def device_of(array: Any) -> Device:
    """The device holding an array (numpy -> cpu, cupy -> cuda:N)."""
    if isinstance(array, np.ndarray | np.generic):
        return CPU
    dev = getattr(array, "device", None)
    if dev is not None and hasattr(dev, "id"):
        return Device("cuda", int(dev.id))
    return CPU


@functools.lru_cache(maxsize=64)
def _cupy_holds(cp: ModuleType, dtype: np.dtype) -> bool:
    # cupy holds only the dtypes of its kernels: '?bhilqBHILQefdFD' up to cupy 13, plus
    # ml_dtypes.bfloat16 from cupy 14; never the float8 family. Copying a host array of any
    # other dtype raises ValueError("Unsupported dtype ..."), while cupy 13's ``empty`` accepts
    # it and fails later, inside a kernel. So ask the installed cupy with a one-element copy.
    try:
        cp.asarray(np.zeros(1, dtype))
    except (ValueError, TypeError, NotImplementedError):
        return False
    return True


def check_dtype(device: Device, dtype: Any) -> None:
    """Raise a clear error when ``device`` cannot hold arrays of ``dtype``.

    Raises:
        DeviceError: the device is not available.
        DTypeError: the installed cupy has no arrays of this dtype (e.g. float8, or bfloat16
            before cupy 14).
    """
    if device.type == "cpu":
        return
    cp = device.xp
    dtype = np.dtype(dtype)
    with device.use():
        if _cupy_holds(cp, dtype):
            return
    raise DTypeError(
        f"dtype {dtype.name} cannot live on '{device}': cupy {getattr(cp, '__version__', '?')} "
        "has no such arrays (bfloat16 needs cupy 14 or later; no float8 format is supported); "
        "keep such tensors on the cpu"
    )


def to_host(array: Any) -> np.ndarray:
    """The values of an array as a numpy array: the one way arrays come to the host.

    A numpy array (or scalar) is returned as it is; a cupy array is copied from its GPU; any
    other array-like goes through ``numpy.asarray``.
    """
    if isinstance(array, np.ndarray | np.generic):
        return array
    if device_of(array).type == "cuda":
        return array.get()
    return np.asarray(array)


def to_device(array: Any, device: Device) -> Any:
    """Copy an array to ``device`` (no copy when it is already there).

    Raises:
        DeviceError: the device is not available.
        DTypeError: the device cannot hold the array's dtype.
    """
    source = device_of(array)
    if source == device:
        return array
    if device.type == "cpu":
        return to_host(array)
    check_dtype(device, array.dtype)
    xp = device.xp
    # cupy.asarray copies to the *current* device (a host array, or one on another GPU), so
    # the target device is made current for the copy.
    with device.use():
        return xp.asarray(array)
