"""A restricted unpickler for ``torch.save`` files: data only, never code.

A pickle is a small program: ``GLOBAL module name`` fetches any importable object and ``REDUCE``
calls it, which is how a hostile checkpoint runs ``os.system``. This unpickler resolves globals
from a fixed table of its own stand-ins and refuses every other name before anything is called:
nothing is imported and no function named by the file runs. The table holds what a state dict
needs (the facts follow PyTorch's ``weights_only`` allow-list):

- tensor rebuilders (``torch._utils._rebuild_tensor``, ``_v2``, ``_v3``, ``_rebuild_parameter``,
  ``_rebuild_parameter_with_state``, ``torch._tensor._rebuild_from_type_v2``), which here only
  record a :class:`TensorRef` (storage, offset, shape, strides) after checking its bounds;
- storage types (``torch.FloatStorage``, ... ``torch.UntypedStorage``) and dtypes
  (``torch.float32``, ...), which name a numpy dtype;
- ``collections.OrderedDict``, ``collections.Counter``, ``torch.Size``, ``torch.device``,
  ``builtins.set``, ``builtins.frozenset``, ``builtins.complex``, ``builtins.bytearray`` and
  ``_codecs.encode`` (how protocol-2 pickles spell bytes), each accepting plain data only.

Storages arrive as persistent ids; the format module turns them into :class:`StorageRef` and,
later, into memory-mapped arrays.
"""

from __future__ import annotations

import _compat_pickle
import collections
import contextlib
import dataclasses
import functools
import io
import math
import pickle
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

from paramtool.core.dtypes import as_dtype
from paramtool.errors import CheckpointError, DTypeError

#: numpy's limit on an array's dimensions.
MAX_NDIM = 64
#: More elements than any array can hold (a view repeating one element, stride 0, could
#: otherwise claim any size).
MAX_ELEMENTS = 2**62

#: torch storage class -> element dtype name (``UntypedStorage`` holds bytes).
STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "UntypedStorage": "uint8",
}

#: torch's dtype aliases -> canonical names.
DTYPE_ALIASES: dict[str, str] = {
    "float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
    "short": "int16", "cfloat": "complex64", "cdouble": "complex128",
}  # fmt: skip
_COMPLEX = ("complex64", "complex128")


def torch_dtype(name: str) -> np.dtype:
    """The numpy dtype of a torch dtype name (bfloat16 and float8 load ml_dtypes on first use)."""
    name = DTYPE_ALIASES.get(name, name)
    return np.dtype(name) if name in _COMPLEX else as_dtype(name)


@dataclass(frozen=True)
class StorageType:
    """A storage class or dtype named by the pickle: it stands for a dtype.

    Attributes:
        name: torch's name (``FloatStorage``, ``bfloat16``).
        dtype_name: The element dtype's canonical name.
    """

    name: str
    dtype_name: str

    @property
    def dtype(self) -> np.dtype:
        """The element dtype."""
        return torch_dtype(self.dtype_name)


@dataclass(frozen=True)
class StorageRef:
    """One storage: its key in the file, element dtype and size in elements.

    Attributes:
        key: The storage's key (``"0"``; the zip entry ``data/0``).
        dtype: Element dtype.
        numel: Number of elements.
        offset: First element within the stored record (legacy storage views), else 0.
    """

    key: str
    dtype: np.dtype
    numel: int
    offset: int = 0


@dataclass(frozen=True, eq=False)
class TensorRef:
    """A tensor as the pickle describes it: a view of a storage.

    Attributes:
        storage: The storage it views.
        dtype: Element dtype (the storage's, or the dtype ``_rebuild_tensor_v3`` names).
        offset: First element, in elements of ``dtype``.
        shape: The shape.
        stride: Strides in elements.
        requires_grad: As saved.
        parameter: True when saved as an ``nn.Parameter``.
    """

    storage: StorageRef
    dtype: np.dtype
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    requires_grad: bool = False
    parameter: bool = False

    @property
    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the view's elements."""
        return self.numel * self.dtype.itemsize


class Refused(CheckpointError):
    """The pickle names a global that is not data (a function or class that could run code)."""


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) > MAX_NDIM:
        raise CheckpointError(f"tensor {what} must be a tuple of at most {MAX_NDIM} integers")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise CheckpointError(f"tensor {what} {value!r} must hold non-negative integers")
    return tuple(value)


def _view(storage: Any, offset: Any, size: Any, stride: Any, dtype: np.dtype | None) -> TensorRef:
    """A checked :class:`TensorRef`: every element it reaches lies inside the storage."""
    if not isinstance(storage, StorageRef):
        raise CheckpointError("a tensor is rebuilt from something that is not a storage")
    shape, strides = _ints(size, "size"), _ints(stride, "stride")
    (start,) = _ints((offset,), "storage offset")
    if len(strides) != len(shape):
        raise CheckpointError(f"tensor size {shape} and stride {strides} differ in length")
    dtype = storage.dtype if dtype is None else dtype
    capacity = storage.numel * storage.dtype.itemsize // dtype.itemsize
    if math.prod(shape) >= MAX_ELEMENTS:
        raise CheckpointError(f"tensor of size {list(shape)} has too many elements to hold")
    if math.prod(shape):
        last = start + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        if last >= capacity:
            raise CheckpointError(
                f"tensor of size {list(shape)}, stride {list(strides)} at offset {start} reaches "
                f"element {last}, past its storage of {capacity}"
            )
    return TensorRef(storage, dtype, start, shape, strides)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> TensorRef:
    return _view(storage, offset, size, stride, None)


def _rebuild_tensor_v2(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    _hooks: Any = None,
    _metadata: Any = None,
) -> TensorRef:
    ref = _view(storage, offset, size, stride, None)
    return _with(ref, requires_grad=bool(requires_grad))


def _rebuild_tensor_v3(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    _hooks: Any,
    dtype: Any,
    _metadata: Any = None,
) -> TensorRef:
    if not isinstance(dtype, StorageType):
        raise CheckpointError(f"_rebuild_tensor_v3 names {dtype!r}, not a dtype")
    ref = _view(storage, offset, size, stride, dtype.dtype)
    return _with(ref, requires_grad=bool(requires_grad))


def _rebuild_parameter(data: Any, requires_grad: Any, _hooks: Any = None, *_: Any) -> TensorRef:
    if not isinstance(data, TensorRef):
        raise CheckpointError("a parameter is rebuilt from something that is not a tensor")
    return _with(data, requires_grad=bool(requires_grad), parameter=True)


def _rebuild_from_type(func: Any, new_type: Any, args: Any, _state: Any = None) -> Any:
    if func not in _REBUILDERS.values() or not isinstance(args, tuple):
        raise CheckpointError("_rebuild_from_type_v2 names no tensor rebuild function")
    if new_type not in (_TENSOR, _PARAMETER):
        raise CheckpointError("tensor subclasses are not supported")
    return func(*args)


def _with(ref: TensorRef, **changes: Any) -> TensorRef:
    return dataclasses.replace(ref, **changes)


def _size(values: Any = ()) -> tuple[int, ...]:
    return _ints(tuple(values), "size")


def _device(*args: Any) -> str:
    if not args or not all(isinstance(a, (str, int)) for a in args):
        raise CheckpointError(f"torch.device{args!r} is not a device name")
    return ":".join(str(a) for a in args)


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode``, as protocol-2 pickles use it to spell bytes: str in, bytes out."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise CheckpointError("_codecs.encode is allowed only to turn text into bytes")
    return text.encode(encoding)


def _bytearray(value: Any = b"") -> bytearray:
    if not isinstance(value, (bytes, bytearray)):
        raise CheckpointError("bytearray is allowed only from bytes")
    return bytearray(value)


def _complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
    if not all(isinstance(v, (int, float)) for v in (real, imag)):
        raise CheckpointError("complex is allowed only from numbers")
    return complex(real, imag)


class _Marker:
    """``torch.Tensor`` and ``torch.nn.Parameter``, as ``_rebuild_from_type_v2`` names them."""


_TENSOR, _PARAMETER = _Marker(), _Marker()
_REBUILDERS: dict[str, Callable[..., Any]] = {
    "_rebuild_tensor": _rebuild_tensor,
    "_rebuild_tensor_v2": _rebuild_tensor_v2,
    "_rebuild_tensor_v3": _rebuild_tensor_v3,
    "_rebuild_parameter": _rebuild_parameter,
    "_rebuild_parameter_with_state": _rebuild_parameter,
}


@functools.cache
def allowed() -> dict[tuple[str, str], Any]:
    """Every global a checkpoint may name -> the stand-in used for it."""
    table: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("collections", "Counter"): collections.Counter,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "complex"): _complex,
        ("builtins", "bytearray"): _bytearray,
        ("_codecs", "encode"): _encode,
        ("torch", "Size"): _size,
        ("torch", "device"): _device,
        ("torch", "Tensor"): _TENSOR,
        ("torch.nn.parameter", "Parameter"): _PARAMETER,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    }
    table.update({("torch._utils", name): func for name, func in _REBUILDERS.items()})
    for name, dtype_name in STORAGE_DTYPES.items():
        kind = StorageType(name, dtype_name)
        table[("torch", name)] = table[("torch.storage", name)] = kind
    return table


def _dtype_global(module: str, name: str) -> StorageType | None:
    """``torch.float32`` and the other dtypes (and torch's aliases), as a :class:`StorageType`."""
    if module != "torch" or not name.replace("_", "").isalnum():
        return None
    canonical = DTYPE_ALIASES.get(name, name)
    try:
        torch_dtype(canonical)
    except DTypeError:
        return None
    return StorageType(name, canonical)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, persistent: Callable[[Any], Any]) -> None:
        super().__init__(file, encoding="utf-8")
        self._persistent = persistent

    def find_class(self, module: str, name: str) -> Any:
        module, name = python3_name(module, name)
        found = allowed().get((module, name)) or _dtype_global(module, name)
        if found is None:
            raise Refused(f"refused global '{module}.{name}': {_why(module, name)}")
        return found

    def persistent_load(self, pid: Any) -> Any:
        return self._persistent(pid)


def python3_name(module: str, name: str) -> tuple[str, str]:
    """The Python 3 spelling of a global that a protocol-2 pickle writes the Python 2 way
    (``__builtin__.set`` is ``builtins.set``), as ``pickle`` itself maps them."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _why(module: str, name: str) -> str:
    if module.startswith("torch"):
        return (
            "not a plain tensor, storage or dtype (tensor subclasses and custom types are not read)"
        )
    return "only tensors, dtypes and plain containers are read; a checkpoint never runs code"


def load_pickle(
    source: bytes | io.BufferedIOBase | Any, persistent: Callable[[Any], Any], where: object
) -> Any:
    """Unpickle one object with the restricted table.

    Args:
        source: The pickle bytes, or a binary file positioned at it (left after its end).
        persistent: Resolves a persistent id (a storage) to a :class:`StorageRef`.
        where: The file, for messages.

    Returns:
        The object, tensors in it replaced by :class:`TensorRef`.

    Raises:
        CheckpointError: a refused global, a malformed pickle, or a tensor outside its
            storage; the message names the file.
    """
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    size = _remaining(stream)
    try:
        # A BYTEARRAY8 of 2**40 bytes fails to allocate, and CPython 3.11 may then print a
        # spurious 'SystemError: deallocated bytearray' line while unpickling: kept off stderr.
        with contextlib.redirect_stderr(io.StringIO()), _address_space(size):
            return _Unpickler(stream, persistent).load()
    except CheckpointError as exc:
        raise type(exc)(f"{where}: {exc}") from None
    except RecursionError:
        raise CheckpointError(f"{where}: pickle is nested too deeply") from None
    except MemoryError:
        raise CheckpointError(
            f"{where}: not a valid pickle (it asks for more memory than {size} bytes of pickle "
            "can describe)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any failure of hostile bytes is a format error
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{where}: not a valid pickle ({reason})") from None


#: Memory unpickling may take beyond what the process holds: this, plus
#: :data:`PICKLE_MEMORY_FACTOR` times the pickle's bytes. Without a cap, a LONG_BINPUT of
#: index 2**28 in a pickle of 20 bytes makes the unpickler's memo 4 GB (it grows to twice the
#: largest index), and 2**30 more than most machines hold.
PICKLE_MEMORY_BASE = 1 << 30
PICKLE_MEMORY_FACTOR = 32


def _remaining(stream: Any) -> int | None:
    """Bytes from the stream's position to its end (a BytesIO or a memory map), else None."""
    try:
        if isinstance(stream, io.BytesIO):
            return len(stream.getbuffer()) - stream.tell()
        return len(stream) - stream.tell()
    except (TypeError, ValueError, OSError):
        return None


@contextlib.contextmanager
def _address_space(size: int | None) -> Iterator[None]:
    """Cap the process's address space while a pickle of ``size`` bytes is read (Linux): a
    hostile one then fails with MemoryError instead of taking the machine's memory."""
    limit = _address_space_limit(size)
    if limit is None:
        yield
        return
    previous = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, previous[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, previous)


def _address_space_limit(size: int | None) -> int | None:
    """The cap for a pickle of ``size`` bytes, or None where none is set (not Linux, unknown
    size, or a lower limit already in place)."""
    if size is None or resource is None or not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/self/statm", "rb") as f:
            in_use = int(f.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return None
    limit = in_use + PICKLE_MEMORY_BASE + PICKLE_MEMORY_FACTOR * size
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    infinite = resource.RLIM_INFINITY
    if (soft != infinite and soft <= limit) or (hard != infinite and hard < limit):
        return None
    return limit
