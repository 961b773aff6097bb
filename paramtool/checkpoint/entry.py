"""What every checkpoint format gives: entries (name, shape, numpy dtype, size, file) and parts.

A :class:`Part` is one file of a checkpoint, opened by its format module (safetensors, a
``torch.save`` zip or legacy pickle). Everything above the format modules sees only parts and
entries, never a format's own codes or structures.
"""

from __future__ import annotations

import math
import mmap
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from paramtool.core.dtypes import dtype_name

#: The name of an entry (or header record), at C speed over millions of them.
name_of = operator.attrgetter("name")


class Entry(NamedTuple):
    """One stored tensor (a named tuple: a checkpoint may hold millions).

    Attributes:
        name: The tensor's name.
        shape: Its shape.
        dtype: Its numpy dtype; a format's own code (``"F4"``) for the sub-byte dtypes numpy
            cannot hold.
        nbytes: Bytes of data.
        file: The file holding it.
    """

    name: str
    shape: tuple[int, ...]
    dtype: Any
    nbytes: int
    file: Path

    @property
    def dtype_name(self) -> str:
        """The PyTorch-style dtype name (``"bfloat16"``), or the format's code."""
        return dtype_label(self.dtype)

    @property
    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


def dtype_label(dtype: Any) -> str:
    """The name an entry's dtype is shown by: PyTorch's (``"bfloat16"``), or the format's code
    for a dtype numpy cannot hold (``"F4"``)."""
    return dtype_name(dtype) if isinstance(dtype, np.dtype) else str(dtype)


#: Names, shapes, dtypes and sizes of stored tensors, column by column (see :meth:`Part.columns`).
Columns = tuple[list[str], list[tuple[int, ...]], list[Any], list[int]]


@dataclass
class Part:
    """One opened file of a checkpoint.

    Attributes:
        file: The file.
        entries: Its stored tensors, in file order.
        metadata: String metadata it records (safetensors ``__metadata__``; a torch file's
            plain non-tensor entries as JSON).
        tied: Dropped name -> kept name, for names the file stores as one tensor.
        overlapping: Groups of names of distinct tensors viewing one storage.
        contents: Top-level key -> what it holds, for a file holding more than a state dict.
        key: The top-level key whose tensors were read, if any.
    """

    file: Path
    entries: list[Entry]
    metadata: dict[str, str] = field(default_factory=dict)
    tied: dict[str, str] = field(default_factory=dict)
    overlapping: list[list[str]] = field(default_factory=list)
    contents: dict[str, str] = field(default_factory=dict)
    key: str | None = None

    mapping: Any = field(default=None, repr=False)

    def __contains__(self, name: object) -> bool:
        """Whether this file stores a tensor of this name (names tied to one excluded)."""
        return name in self._name_set

    @cached_property
    def _name_set(self) -> set[str]:
        return set(self.names())

    def names(self) -> list[str]:
        """Names of the stored tensors, in file order."""
        return list(map(name_of, self.entries))

    def columns(self) -> Columns:
        """Names, shapes, dtypes and sizes of the stored tensors, in file order, column by
        column (what a listing of millions of tensors is built from)."""
        entries = self.entries
        return (
            self.names(),
            list(map(operator.attrgetter("shape"), entries)),
            list(map(operator.attrgetter("dtype"), entries)),
            list(map(operator.attrgetter("nbytes"), entries)),
        )

    def array(self, name: str) -> np.ndarray:
        """The values of a stored tensor, a view of the mapped file (no copy)."""
        raise NotImplementedError

    def stacked(self, names: Sequence[str]) -> np.ndarray:
        """The values of stored tensors of one dtype and one size, one flattened tensor a row
        (a copy: a 2-D array of ``len(names)`` rows)."""
        return np.stack([self.array(name).reshape(-1) for name in names])

    def release(self) -> None:
        """Let go of the mapped pages read so far (they are read again from the file if used).

        Streaming a large file through its mapping keeps every page read in memory until the
        mapping is closed; releasing after each tensor keeps memory at one tensor.
        """
        if self.mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            self.mapping.madvise(mmap.MADV_DONTNEED)
