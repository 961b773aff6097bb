"""Opening one checkpoint file as a :class:`Part`, its format told by content, not by name.

- ``PK\\x03\\x04``: a ``torch.save`` zip archive (PyTorch 1.6+).
- an 8-byte length then ``{``: safetensors (a ``.safetensors`` name is always read as one, so
  a damaged file gets the format's own diagnosis).
- a pickle (``\\x80`` and a protocol number): a legacy ``torch.save`` file.

Only regular files are read: a FIFO or a device is refused before it is opened, and files are
opened non-blocking, so nothing can hang on a special file.
"""

from __future__ import annotations

import itertools
import mmap
import operator
import os
import stat
from collections.abc import Sequence
from functools import cached_property, partial
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from paramtool.checkpoint.entry import Columns, Entry, Part
from paramtool.checkpoint.safetensors.format import DTYPES, Header, read_header
from paramtool.checkpoint.safetensors.reader import MAX_NDIM, array_from, native
from paramtool.checkpoint.torch_legacy import LegacyFile
from paramtool.checkpoint.torch_state import TorchPart
from paramtool.checkpoint.torch_zip import ZIP_MAGIC, ZipArchive
from paramtool.core.collection import collection_paused
from paramtool.errors import CheckpointError

SAFETENSORS, TORCH_ZIP, TORCH_LEGACY = "safetensors", "torch zip", "torch legacy"


def check_regular(path: Path) -> os.stat_result:
    """The file's status, refusing anything but a regular file (without opening it).

    Raises:
        CheckpointError: missing, unreadable, or a FIFO, device, socket or folder.
    """
    try:
        status = os.stat(path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(status.st_mode):
        kind = "a folder" if stat.S_ISDIR(status.st_mode) else "not a regular file"
        raise CheckpointError(f"{path}: {kind}; only regular files are read as checkpoints")
    return status


def open_file(path: Path) -> Any:
    """Open a regular file for reading without ever blocking on it."""
    check_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return os.fdopen(fd, "rb")


def sniff(path: Path) -> str:
    """The format of a checkpoint file, from its first bytes.

    Raises:
        CheckpointError: no format paramtool reads.
    """
    if path.suffix == ".safetensors":
        return SAFETENSORS
    with open_file(path) as f:
        head = f.read(9)
        size = os.fstat(f.fileno()).st_size
    if head.startswith(ZIP_MAGIC):
        return TORCH_ZIP
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8:
        return SAFETENSORS
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return TORCH_LEGACY
    raise CheckpointError(
        f"{path}: not a checkpoint paramtool reads (safetensors, a torch.save zip or legacy "
        "pickle, or an index .json)"
    )


class SafetensorsPart(Part):
    """A ``.safetensors`` file: entries from its validated header, data mapped on demand."""

    def __init__(self, file: Path, header: Header) -> None:
        self.header = header
        super().__init__(file, None, metadata=dict(header.metadata))  # type: ignore[arg-type]

    @property  # type: ignore[override]
    def entries(self) -> list[Entry]:
        """The stored tensors, made from the header's columns when first asked for (listing
        and statistics read the columns, and never need them)."""
        if self._entries is None:
            with collection_paused():  # millions of entries, no cycles
                columns = self.columns()
                self._entries = list(map(_new_entry, zip(*columns, repeat(self.file))))  # noqa: B905
        return self._entries

    @entries.setter
    def entries(self, entries: list[Entry] | None) -> None:
        self._entries = entries

    def columns(self) -> Columns:
        """Names, shapes, dtypes and sizes, read from the header's columns."""
        header = self.header
        dtypes = {code: DTYPES.get(code, code) for code in set(header.codes)}
        sizes = list(map(operator.sub, header.ends, header.begins))
        return header.names, header.shapes, list(map(dtypes.__getitem__, header.codes)), sizes

    def names(self) -> list[str]:
        """Names of the stored tensors, in header order."""
        return self.header.names

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @cached_property
    def _index(self) -> dict[str, int]:
        """Name -> position in the header, made when first needed."""
        with collection_paused():
            return dict(zip(self.header.names, itertools.count()))

    def array(self, name: str) -> np.ndarray:
        """The tensor's values: a zero-copy view of the mapped file."""
        info = self.header.info(self._index[name])
        return array_from(self._mapped(), self.header, info, self.file)

    def stacked(self, names: Sequence[str]) -> np.ndarray:
        """The values of stored tensors of one dtype and size as the rows of a 2-D array,
        gathered from the mapped file by one index operation (no array per tensor)."""
        rows = np.fromiter(map(self._index.__getitem__, names), np.int64, len(names))
        column = self._arrays
        if column["ndim"][rows].max() > MAX_NDIM:
            return super().stacked(names)  # refused there, as each array alone would be
        first = self.header.info(int(rows[0]))
        dtype = array_from(self._mapped(), self.header, first, self.file).dtype
        same = (column["code"][rows] == column["code"][rows[0]]) & (column["size"][rows] == first.nbytes)  # fmt: skip
        if not same.all():
            raise ValueError(f"{self.file}: stacked tensors must share one dtype and size")
        starts = column["begin"][rows] + self.header.data_start
        data = np.frombuffer(self._mapped(), np.uint8)
        return native(data[starts[:, None] + np.arange(first.nbytes)].view(dtype))

    @cached_property
    def _arrays(self) -> dict[str, np.ndarray]:
        """Header columns as arrays (begin, size, code number, ndim), made when first needed."""
        header = self.header
        begin = np.array(header.begins, np.int64)  # offsets are below the file's size
        numbers = {code: i for i, code in enumerate(set(header.codes))}
        return {
            "begin": begin,
            "size": np.array(header.ends, np.int64) - begin,
            "code": np.fromiter(map(numbers.__getitem__, header.codes), np.int64, len(begin)),
            "ndim": np.fromiter(map(len, header.shapes), np.int64, len(begin)),
        }

    def _mapped(self) -> Any:
        if self.mapping is None:
            self.mapping = map_copy(self.file)
        return self.mapping


#: ``Entry._make`` without its Python-level length check.
_new_entry = partial(tuple.__new__, Entry)


def map_copy(path: Path) -> mmap.mmap:
    """Map a whole regular file copy-on-write (writes to arrays never reach the file)."""
    with open_file(path) as f:
        try:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        except (OSError, ValueError) as exc:  # empty or unmappable
            raise CheckpointError(f"{path}: cannot map: {exc}") from None


def open_part(path: Path, key: str | None = None) -> Part:
    """Open one checkpoint file of any format paramtool reads.

    Args:
        path: The file.
        key: For a ``torch.save`` file nesting its state dict: the top-level key to read.

    Raises:
        CheckpointError: a special file, an unknown format, a malformed file, or a pickle
            naming anything but data.
    """
    kind = sniff(path)
    if kind == SAFETENSORS:
        if key is not None:
            raise CheckpointError(f"{path}: --key applies to torch.save files, not safetensors")
        check_regular(path)
        return SafetensorsPart(path, read_header(path))
    mapping = map_copy(path)
    found = ZipArchive(path, mapping) if kind == TORCH_ZIP else LegacyFile(path, mapping)
    return TorchPart(path, found.obj, found.storages, mapping, key)
