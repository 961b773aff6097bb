"""How a :class:`paramtool.Tensor` leaves its current form: ``numpy()``, device and dtype
conversion (``to``, ``cpu``, ``cuda``, ``type``, ``type_as``; recorded in the graph when the
tensor requires grad) and its printed form (``repr``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from paramtool.core import autograd as _autograd
from paramtool.core.device import (
    CPU,
    Device,
    as_device,
    check_dtype,
    device_of,
    to_device,
    to_host,
)
from paramtool.core.dtypes import as_dtype, dtype_name, is_floating_point
from paramtool.core.tensor_str import values_str, with_suffixes
from paramtool.core.type_names import legacy_type_name, parse_legacy_type_name

if TYPE_CHECKING:
    from paramtool.core.tensor import Tensor


class TensorConvert:
    """Mixin with the conversion and printing methods of :class:`paramtool.Tensor`."""

    # -- conversion --------------------------------------------------------------------------

    def numpy(self) -> np.ndarray:
        """The values as a numpy array sharing memory with the tensor (cpu only)."""
        if self.device.type != "cpu":
            raise TypeError(
                f"can't convert {self.device} device type tensor to numpy. "
                "Use Tensor.cpu() to copy the tensor to host memory first."
            )
        return self._array()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.cpu().numpy()
        return array if dtype is None else array.astype(dtype)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Convert device and/or dtype: ``to(device)``, ``to(dtype)``, ``to(other)``,
        ``to(device, dtype)``; returns self when nothing changes."""
        from paramtool.core.tensor import Tensor, _Cell  # noqa: PLC0415 - tensor imports us

        device, dtype = parse_to_args(*args, **kwargs)
        device = self.device if device is None else device
        dtype = self.dtype if dtype is None else dtype
        if device == self.device and dtype == self.dtype and not kwargs.get("copy"):
            return self
        if self._requires_grad and _autograd._enabled and not self.is_deferred:
            return _to_recorded(self, device, dtype)
        cell = _Cell(self.shape, dtype, device)
        if self.is_deferred:
            check_dtype(device, dtype)  # fail now, with a clear message, if it cannot live there
            cell.recipe, cell.stream = self._cell.recipe, self._cell.stream
        else:
            array = self._cell.array
            if dtype != array.dtype:
                array = (
                    array.astype(dtype) if device_of(array) == CPU else _astype_gpu(array, dtype)
                )
            cell.array = to_device(array, device)
        return Tensor._from_cell(cell, self.requires_grad and is_floating_point(dtype))

    def cpu(self) -> Tensor:
        """This tensor on the cpu."""
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Tensor:
        """This tensor on a CUDA device."""
        return self.to(as_device(device if device is not None else "cuda"))

    def type(self, dtype: Any = None, non_blocking: bool = False) -> str | Tensor:
        """The legacy type name (``"paramtool.FloatTensor"``), or this tensor converted.

        Args:
            dtype: None for the name; else a dtype, or a legacy name (which sets the device
                too: ``"paramtool.cuda.HalfTensor"``). Returns self when nothing changes.
            non_blocking: Accepted for PyTorch compatibility; copies are synchronous.

        Raises:
            DTypeError: ``dtype`` names no dtype, or a string is not a legacy type name.
        """
        if dtype is None:
            return legacy_type_name(self.dtype, self.device)
        if isinstance(dtype, str):
            device, dtype = parse_legacy_type_name(dtype)
            return self.to(device, dtype)
        return self.to(as_dtype(dtype))

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor converted to ``other``'s dtype."""
        return self.to(other.dtype)

    # -- printing ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        return _format(self, "tensor(")


def _astype_gpu(array: Any, dtype: np.dtype) -> Any:
    return to_device(to_host(array).astype(dtype), device_of(array))


def _to_recorded(tensor: Tensor, device: Device, dtype: np.dtype) -> Tensor:
    """``tensor.to(device, dtype)`` as a graph node (the gradient goes back cast and moved)."""
    source_device, source_dtype = tensor.device, tensor.dtype
    array = tensor._array()
    if dtype != array.dtype:
        array = array.astype(dtype) if device_of(array) == CPU else _astype_gpu(array, dtype)
    array = to_device(array, device)

    def backward(grad: Any) -> tuple[Any]:
        grad = to_device(grad, source_device)
        return (grad.astype(source_dtype, copy=False),)

    result = _autograd.record(array, (tensor,), backward, name="ToCopyBackward0")
    if not is_floating_point(dtype):
        result.detach_()
    return result


def _names_device(arg: Any) -> bool:
    if isinstance(arg, str):
        return arg.split(":")[0] in ("cpu", "cuda")
    return isinstance(arg, Device) or (isinstance(arg, int) and not isinstance(arg, bool))


def parse_to_args(*args: Any, **kwargs: Any) -> tuple[Device | None, np.dtype | None]:
    """Parse torch's ``to(...)`` forms into (device or None, dtype or None)."""
    from paramtool.core.tensor import Tensor  # noqa: PLC0415 - tensor imports us

    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif _names_device(arg):
            device = arg
        else:
            dtype = arg
    return (None if device is None else as_device(device)), (
        None if dtype is None else as_dtype(dtype)
    )


def _format(tensor: Tensor, prefix: str) -> str:
    array = tensor._array()
    host = to_host(array)
    if host.size == 0:
        body = f"[], size={tuple(tensor.shape)}" if host.ndim > 1 else "[]"
    else:
        body = values_str(host, len(prefix))
    extras = []
    if tensor.device.type != "cpu":
        extras.append(f"device='{tensor.device}'")
    if tensor.dtype not in (np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.bool_)):
        extras.append(f"dtype=paramtool.{dtype_name(tensor.dtype)}")
    if tensor.grad_fn is not None:
        extras.append(f"grad_fn=<{tensor.grad_fn.name()}>")
    elif tensor.requires_grad:
        extras.append("requires_grad=True")
    return with_suffixes(prefix + body, extras, len(prefix))
