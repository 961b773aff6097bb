"""The safetensors format: dtype table, header parsing and validation.

A file is an 8-byte little-endian header length ``N``, ``N`` bytes of UTF-8 JSON, then the data
section. The JSON maps each tensor name to ``{"dtype", "shape", "data_offsets"}`` (offsets
relative to the data section) and may hold ``"__metadata__"``, a string-to-string map.
Specification: https://github.com/huggingface/safetensors#format.

Validation is at least as strict as the reference reader (header cap, contiguous offsets with no
gap or overlap, data fully covered, byte size = numel x item size, no integer overflow,
string-only metadata) and also enforces the rules it skips: no duplicate keys, the header starts
with ``{``, only the three known fields per tensor.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from paramtool.checkpoint.safetensors.header_json import METADATA_KEY, parse_json
from paramtool.core.collection import collection_paused
from paramtool.core.dtypes import DTypeTable
from paramtool.errors import SafetensorsError

#: Largest header the reference reader accepts (``MAX_HEADER_SIZE``).
MAX_HEADER_SIZE = 100_000_000
_U64 = 2**64

#: Every dtype code of the format, in the order of the reference's ``Dtype`` enum. The writer
#: sorts tensors by this rank (highest first), then by name, as the reference writer does.
FORMAT_DTYPES: tuple[str, ...] = (
    "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
    "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64",
    "F64", "I64", "U64",
)  # fmt: skip

#: Size in bits of the codes numpy cannot hold as whole bytes.
SUB_BYTE_BITS: dict[str, int] = {"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}

#: safetensors code -> numpy dtype, for every code numpy + ml_dtypes can hold (ml_dtypes is
#: imported only when a bfloat16 or float8 code is looked up).
DTYPES = DTypeTable({
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "F8_E5M2": "float8_e5m2",
    "F8_E4M3": "float8_e4m3fn", "F8_E8M0": "float8_e8m0fnu", "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz", "I16": "int16", "U16": "uint16", "F16": "float16",
    "BF16": "bfloat16", "I32": "int32", "U32": "uint32", "F32": "float32", "C64": "complex64",
    "F64": "float64", "I64": "int64", "U64": "uint64",
})  # fmt: skip

_RANK: dict[str, int] = {code: i for i, code in enumerate(FORMAT_DTYPES)}

#: Size in bits of one element of every code, as the format defines it.
_BITS: dict[str, int] = {
    **dict.fromkeys(("BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0"), 8),
    **dict.fromkeys(("F8_E4M3FNUZ", "F8_E5M2FNUZ"), 8),
    **dict.fromkeys(("I16", "U16", "F16", "BF16"), 16),
    **dict.fromkeys(("I32", "U32", "F32"), 32),
    **dict.fromkeys(("C64", "F64", "I64", "U64"), 64),
    **SUB_BYTE_BITS,
}
_FIELDS = frozenset(("dtype", "shape", "data_offsets"))


def dtype_bits(code: str) -> int:
    """Size in bits of one element of a format dtype code."""
    return _BITS[code]


def dtype_rank(code: str) -> int:
    """Position of a dtype code in the reference's enum (the writer's sort key)."""
    return _RANK[code]


def code_of(dtype: object, where: str = "tensor") -> str:
    """The safetensors code for a numpy dtype (any byte order).

    Raises:
        SafetensorsError: the dtype has no safetensors code.
    """
    dt = np.dtype(dtype)
    code = DTYPES.code_of(dt.newbyteorder("=") if dt.byteorder in "<>" else dt)
    if code is None:
        raise SafetensorsError(f"{where}: dtype {dt} cannot be stored in safetensors")
    return code


def numpy_dtype(code: str, where: str) -> np.dtype:
    """The numpy dtype for a code, refusing the sub-byte codes numpy cannot hold.

    Raises:
        SafetensorsError: the code is a sub-byte dtype (F4, F6_*).
    """
    dtype = _NUMPY.get(code)
    if dtype is None:
        if code not in DTYPES:
            raise SafetensorsError(
                f"{where}: dtype {code} ({dtype_bits(code)}-bit) is listed but its data cannot "
                "be read: numpy has no sub-byte dtypes"
            )
        dtype = _NUMPY[code] = DTYPES[code]
    return dtype


#: The numpy dtypes looked up so far (one lookup per code, not per tensor read).
_NUMPY: dict[str, np.dtype] = {}


class TensorInfo(NamedTuple):
    """One tensor's header entry (a named tuple: a header may hold millions).

    Attributes:
        name: The tensor's name.
        dtype: The format's dtype code (``"F32"``, ``"BF16"``, ...).
        shape: The shape.
        begin: First byte, relative to the data section.
        end: One past the last byte, relative to the data section.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        """Bytes of data."""
        return self.end - self.begin

    @property
    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


#: The fields of a header record, column by column (see :class:`Header`).
Columns = tuple[list[str], list[str], list[tuple[int, ...]], list[int], list[int]]


@dataclass(frozen=True)
class Header:
    """A parsed, validated header, its entries held column by column (a header may list
    millions: a record object each is made only when asked for).

    Attributes:
        names: Tensor names in header order (the writer's order: by dtype, then name).
        codes: Their dtype codes.
        shapes: Their shapes.
        begins: Their first bytes, relative to the data section.
        ends: One past their last bytes.
        metadata: The ``__metadata__`` map (empty when absent).
        data_start: Absolute offset of the data section (8 + header length).
        file_size: Size of the file in bytes.
    """

    names: list[str]
    codes: list[str]
    shapes: list[tuple[int, ...]]
    begins: list[int]
    ends: list[int]
    metadata: dict[str, str]
    data_start: int
    file_size: int

    @cached_property
    def tensors(self) -> tuple[TensorInfo, ...]:
        """Every entry as a record, in header order."""
        columns = (self.names, self.codes, self.shapes, self.begins, self.ends)
        return tuple(map(_new_info, zip(*columns, strict=True)))

    def info(self, index: int) -> TensorInfo:
        """The record of the entry at ``index`` in header order."""
        columns = (self.names, self.codes, self.shapes, self.begins, self.ends)
        return _new_info(column[index] for column in columns)


#: ``TensorInfo._make`` without its Python-level length check.
_new_info = partial(tuple.__new__, TensorInfo)


def _fail(path: object, rule: str, tensor: str | None = None) -> SafetensorsError:
    where = f"{path}" if tensor is None else f"{path}: tensor {tensor!r}"
    return SafetensorsError(f"{where}: {rule}")


def _uints(values: object) -> bool:
    """True for a list of integers in [0, 2**64) (bools excluded)."""
    if type(values) is not list:
        return False
    for value in values:  # noqa: SIM110 - a loop is 3x faster than all() on short shapes
        if type(value) is not int or not 0 <= value < _U64:
            return False
    return True


def _metadata(value: object, path: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(path, f"{METADATA_KEY} must be an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _fail(path, f"{METADATA_KEY} value of {key!r} must be a string")
    return value  # type: ignore[return-value]


def _checked_numel(shape: list[int]) -> int:
    """The product of ``shape``, or ``_U64`` as soon as a partial product reaches 2**64.

    Multiplies left to right and stops at the first overflow, as the reference reader does, so
    a header of millions of huge dimensions costs linear time, not quadratic big-int products.
    """
    numel = 1
    for dim in shape:
        numel *= dim
        if numel >= _U64:
            return _U64
    return numel


def _entry(name: str, value: object, path: object) -> TensorInfo:
    """The entry of one tensor: a well-formed one is checked in one pass (a header may hold
    millions); anything else goes rule by rule, to name the rule it breaks."""
    if type(value) is dict and len(value) == 3:
        code, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
        if type(code) is str and type(offsets) is list and len(offsets) == 2:
            bits = _BITS.get(code)
            begin, end = offsets
            if (
                bits is not None
                and type(begin) is int
                and type(end) is int
                and 0 <= begin <= end < _U64
                and _uints(shape)
                # equal sizes also rule out overflow and sub-byte remainders
                and (end - begin) * 8 == _checked_numel(shape) * bits  # type: ignore[arg-type]
            ):
                return TensorInfo(name, code, tuple(shape), begin, end)  # type: ignore[arg-type]
    return _checked_entry(name, value, path)


def _checked_entry(name: str, value: object, path: object) -> TensorInfo:
    if type(value) is not dict or value.keys() != _FIELDS:
        raise _fail(path, "entry must have exactly dtype, shape and data_offsets", name)
    code, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if type(code) is not str or code not in _RANK:
        raise _fail(path, f"unknown dtype {code!r}", name)
    if not _uints(shape):
        raise _fail(path, "shape must be a list of non-negative integers below 2**64", name)
    if not (_uints(offsets) and len(offsets) == 2):
        raise _fail(path, "data_offsets must be two non-negative integers", name)
    begin, end = offsets
    if end < begin:
        raise _fail(path, f"data_offsets [{begin}, {end}] end before they begin", name)
    bits = _checked_numel(shape) * dtype_bits(code)
    if bits >= _U64 * 8:
        raise _fail(path, "byte size of shape x dtype overflows 64 bits", name)
    if bits % 8:
        raise _fail(path, f"{code} shape {shape} does not fill whole bytes", name)
    if end - begin != bits // 8:
        raise _fail(
            path,
            f"data_offsets span {end - begin} bytes but shape {shape} of {code} needs {bits // 8}",
            name,
        )
    return TensorInfo(name, code, tuple(shape), begin, end)


#: The three fields of a tensor entry, each read at C speed from millions of entries.
_FIELD_ORDER = ("dtype", "shape", "data_offsets")
#: Offsets and dimensions below this (and element counts below ``2**56``) keep every product of
#: :func:`_well_formed` exact in int64.
_BULK_LIMIT = 2**62


def _small_uints(values: list[object]) -> bool:
    """True for integers (bools excluded) in ``[0, _BULK_LIMIT)``, or no values."""
    return not values or (
        set(map(type, values)) == {int} and min(values) >= 0 and max(values) < _BULK_LIMIT  # type: ignore[operator]
    )


def _prefix_fits(shape: list[int]) -> bool:
    """True when the dimensions before a shape's first zero multiply to below ``2**64`` (the
    reference multiplies left to right and fails on overflow, zero or not)."""
    return math.prod(shape[: shape.index(0)]) < _U64


def _well_formed(names: list[str], values: list[object], data_size: int) -> Columns | None:
    """The entries of a well-formed header, every rule checked on whole columns at C speed.

    The rules are those of :func:`_checked_entry` and of the data layout in :func:`validate`:
    three known fields, a known dtype, non-negative integer dimensions and offsets, a byte span
    equal to numel x dtype size, and spans that tile the data section in offset order. Returns
    None as soon as anything is unusual (a rule broken, or sizes too large for int64); the
    rule-by-rule check then decides, and names what is wrong.
    """
    if not values or set(map(type, values)) != {dict} or set(map(len, values)) != {3}:
        return None
    try:
        codes, shapes, offsets = (list(map(itemgetter(key), values)) for key in _FIELD_ORDER)
    except KeyError:
        return None
    if set(map(type, codes)) != {str} or not set(codes) <= _BITS.keys():
        return None
    if set(map(type, shapes)) != {list} or max(map(len, shapes)) > 64:
        return None
    if set(map(type, offsets)) != {list} or set(map(len, offsets)) != {2}:
        return None
    bounds = list(chain.from_iterable(offsets))
    if not (_small_uints(list(chain.from_iterable(shapes))) and _small_uints(bounds)):
        return None
    numel = list(map(math.prod, shapes))  # at most 64 factors each: no runaway products
    if max(numel) >= 2**56:
        return None
    if numel.count(0) and not all(_prefix_fits(shape) for shape in shapes if 0 in shape):
        return None
    begins, ends = bounds[0::2], bounds[1::2]
    begin, end = np.array(begins, np.int64), np.array(ends, np.int64)
    bits = np.fromiter(map(_BITS.__getitem__, codes), np.int64, len(codes))
    if not np.array_equal((end - begin) * 8, np.array(numel, np.int64) * bits):
        return None
    order = np.lexsort((end, begin))
    begin, end = begin[order], end[order]
    if begin[0] != 0 or not np.array_equal(begin[1:], end[:-1]) or end[-1] != data_size:
        return None
    return names, codes, list(map(tuple, shapes)), begins, ends


def validate(parsed: dict[str, object], data_size: int, path: object) -> list[TensorInfo]:
    """Check every entry and that the data section is covered exactly, in offset order.

    Args:
        parsed: The header JSON object.
        data_size: Bytes after the header.
        path: The file, for messages.

    Returns:
        The entries in header order.

    Raises:
        SafetensorsError: naming the tensor and the rule broken.
    """
    names, values = _tensor_entries(parsed)
    columns = _well_formed(names, values, data_size) or _checked(names, values, data_size, path)
    return list(map(_new_info, zip(*columns, strict=True)))


def _tensor_entries(parsed: dict[str, object]) -> tuple[list[str], list[object]]:
    """The names and entries of a header object's tensors (``__metadata__`` left out)."""
    names, values = list(parsed), list(parsed.values())
    if METADATA_KEY in parsed:
        at = names.index(METADATA_KEY)
        del names[at], values[at]
    return names, values


def _checked(names: list[str], values: list[object], data_size: int, path: object) -> Columns:
    """The entries checked rule by rule, and the data layout, naming the first rule broken."""
    entries = list(map(_entry, names, values, repeat(path, len(names))))
    ordered = sorted(entries, key=itemgetter(3, 4))  # (begin, end)
    position = 0
    for entry in ordered:
        if entry.begin > position:
            raise _fail(
                path, f"gap: bytes {position}..{entry.begin} belong to no tensor", entry.name
            )
        if entry.begin < position:
            raise _fail(path, f"data overlaps the previous tensor (starts at {entry.begin} < {position})", entry.name)  # fmt: skip
        position = entry.end
    if position > data_size:
        last = ordered[-1].name
        raise _fail(path, f"data_offsets end at {position}, past the data section ({data_size} bytes)", last)  # fmt: skip
    if position < data_size:
        raise _fail(path, f"{data_size - position} trailing bytes after the last tensor")
    if not entries:
        return [], [], [], [], []
    return tuple(map(list, zip(*entries, strict=True)))  # type: ignore[return-value]


def parse_header(prefix: bytes, file_size: int, path: object) -> int:
    """Read the header length from the first 8 bytes and check it against the file size.

    Returns:
        The header length ``N``.

    Raises:
        SafetensorsError: file too small, header over the cap, length past the end.
    """
    if len(prefix) < 8 or file_size < 8:
        raise _fail(path, f"file is {file_size} bytes, too small for the 8-byte header length")
    length = int.from_bytes(prefix[:8], "little")
    if length > MAX_HEADER_SIZE:
        raise _fail(path, f"header length {length} is over the {MAX_HEADER_SIZE}-byte cap")
    if 8 + length > file_size:
        raise _fail(path, f"header length {length} runs past the end of the {file_size}-byte file")
    if length < 2:
        raise _fail(path, f"header length {length} is too small for a JSON object")
    return length


def read_header(path: str | os.PathLike[str]) -> Header:
    """Read and validate a file's header, touching nothing after it.

    Args:
        path: A ``.safetensors`` file.

    Returns:
        The validated header.

    Raises:
        SafetensorsError: the file cannot be opened or breaks the format (the message names the
            file, the tensor and the rule).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            length = parse_header(f.read(8), size, path)
            raw = f.read(length)
    except OSError as exc:
        raise SafetensorsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return header_from_bytes(raw, size, path)


def header_from_bytes(raw: bytes, file_size: int, path: object) -> Header:
    """Parse and validate the JSON header bytes of a file of ``file_size`` bytes.

    A header is first parsed fast and checked column by column; one that is not accepted so
    is parsed again by the standard parser and judged rule by rule, to name what is wrong.
    """
    with collection_paused():  # a header of a million entries holds no cycles
        data_start = 8 + len(raw)
        parsed = parse_json(raw, path, fast=True)
        # the fast parse differs only in integers beyond 64 bits, which no message shows here
        metadata = _metadata(parsed.get(METADATA_KEY, {}), path)
        columns = _well_formed(*_tensor_entries(parsed), file_size - data_start)
        if columns is None:
            parsed = parse_json(raw, path)
            columns = _checked(*_tensor_entries(parsed), file_size - data_start, path)
        return Header(*columns, dict(metadata), data_start, file_size)
