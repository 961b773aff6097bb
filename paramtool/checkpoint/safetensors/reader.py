"""Reading safetensors files by memory map: zero-copy arrays and Tensors.

The whole file is mapped copy-on-write: arrays are views of the mapping, cost no memory until
read, and writing to one changes only this process's copy, never the file.
"""

from __future__ import annotations

import mmap
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from paramtool.checkpoint.safetensors.format import (
    _NUMPY,
    Header,
    TensorInfo,
    header_from_bytes,
    numpy_dtype,
    parse_header,
)
from paramtool.errors import SafetensorsError

#: numpy's limits on an array's shape: dimensions, and the largest size of one dimension.
MAX_NDIM = 64
_MAX_DIM = 2**63 - 1


def map_file(path: str | os.PathLike[str]) -> tuple[mmap.mmap, Header]:
    """Map a file copy-on-write and validate its header.

    Returns:
        ``(mapping, header)``; arrays made with :func:`array_from` are views of the mapping.

    Raises:
        SafetensorsError: the file cannot be opened or breaks the format.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            length = parse_header(f.read(8), size, path)
            mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except OSError as exc:
        raise SafetensorsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # mmap of an empty or special file
        raise SafetensorsError(f"{path}: cannot map: {exc}") from None
    header = header_from_bytes(mapping[8 : 8 + length], size, path)
    return mapping, header


def native(array: np.ndarray) -> np.ndarray:
    """Values stored little-endian, in the host's byte order (a copy on big-endian hosts)."""
    if sys.byteorder == "big" and array.dtype.itemsize > 1:
        return array.byteswap()
    return array


def array_from(mapping: Any, header: Header, info: TensorInfo, path: object) -> np.ndarray:
    """The array of one tensor, a zero-copy view of ``mapping``.

    Raises:
        SafetensorsError: the tensor's dtype (F4, F6_*) or shape (more than 64 dimensions, a
            dimension of 2**63 or more) cannot be held by numpy.
    """
    shape = info.shape
    dtype = _NUMPY.get(info.dtype)  # the message is only written when something is wrong
    if dtype is None:
        dtype = numpy_dtype(info.dtype, _where(path, info))
    if len(shape) > MAX_NDIM or max(shape, default=0) > _MAX_DIM:
        raise SafetensorsError(
            f"{_where(path, info)}: numpy cannot hold a shape of {len(shape)} dimensions, the "
            f"largest {max(shape)} (at most {MAX_NDIM} dimensions, each below 2**63)"
        )
    if info.nbytes == 0:
        return np.empty(shape, dtype)
    flat = np.frombuffer(mapping, dtype, info.numel, header.data_start + info.begin)
    return flat.reshape(shape) if _LITTLE else native(flat.reshape(shape))


def _where(path: object, info: TensorInfo) -> str:
    return f"{path}: tensor {info.name!r}"


#: Stored bytes are already in the host's order.
_LITTLE = sys.byteorder == "little"


def load_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Load every tensor of a file as numpy arrays backed by a memory map (no copy).

    Args:
        path: A ``.safetensors`` file.

    Returns:
        Name -> array, in file order. Arrays are writable; writes never reach the file.

    Raises:
        SafetensorsError: the file breaks the format, or holds a dtype numpy cannot hold.
    """
    mapping, header = map_file(path)
    return {info.name: array_from(mapping, header, info, path) for info in header.tensors}


def wrap(array: Any, device: object = "cpu") -> Any:
    """A paramtool Tensor around ``array``, copied to ``device`` when it is not the cpu."""
    from paramtool.core.device import as_device, to_device  # noqa: PLC0415 - tensor imports us
    from paramtool.core.tensor import from_array  # noqa: PLC0415

    target = as_device(device)
    if target.type != "cpu":
        array = to_device(array, target)
    return from_array(array)


def load_file(path: str | os.PathLike[str], device: object = "cpu") -> dict[str, Any]:
    """Load every tensor of a file as paramtool Tensors.

    On the cpu the Tensors are backed by the memory-mapped file (zero-copy, copy-on-write);
    ``device="cuda"`` copies each tensor to the GPU in turn.

    Args:
        path: A ``.safetensors`` file.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a Device.

    Returns:
        Name -> Tensor, in file order.

    Raises:
        SafetensorsError: the file breaks the format.
        DeviceError: the device is not available.
        DTypeError: the device cannot hold a tensor's dtype (cupy has no float8 arrays, and
            no bfloat16 ones before cupy 14).
    """
    return {name: wrap(array, device) for name, array in load_arrays(path).items()}
