"""Converting any checkpoint paramtool reads into safetensors, streaming.

:class:`CheckpointSource` is a checkpoint opened by content (safetensors, a ``torch.save`` zip
or legacy file, either index kind) as an export :class:`~paramtool.export.source.Source`: the
plan comes from its headers, and each tensor is read from the mapped file when its turn comes,
cast if asked, written, and its pages let go, so memory holds about one tensor whatever the
checkpoint's size. Ties are stored once with ``{dropped: kept}`` records; a ``torch.save``
file's plain non-tensor entries (epoch, hyper-parameters) travel in ``__metadata__`` as JSON.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from paramtool.checkpoint.checkpoint import Checkpoint, open_checkpoint
from paramtool.checkpoint.safetensors.writer import Progress
from paramtool.core.dtypes import is_floating_point
from paramtool.errors import CheckpointError
from paramtool.export.model import float_dtype
from paramtool.export.source import TensorSpec, digest
from paramtool.export.write import write_checkpoint

#: Bytes read from a mapped checkpoint between two releases of its pages.
RELEASE_EVERY = 64 << 20


class CheckpointSource:
    """A checkpoint file, index or folder as a source. Pickles as its path and options.

    Args:
        path: What :func:`~paramtool.checkpoint.open_checkpoint` accepts.
        key: For a ``torch.save`` file nesting its state dict: the top-level key to read.
        follow_links: Read shards linked from outside the checkpoint's folder.
        dtype: Cast floating-point tensors to this dtype (integer and bool tensors are kept).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: str | None = None,
        follow_links: bool = False,
        dtype: str | None = None,
    ) -> None:
        self.path = str(Path(path).absolute())
        self.key = key
        self.follow_links = follow_links
        self.dtype = float_dtype(dtype) if dtype is not None else None
        self._checkpoint: Checkpoint | None = None
        self._unreleased = 0  # bytes read since the mapped pages were last let go

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "_checkpoint"} | {"_checkpoint": None}

    @property
    def checkpoint(self) -> Checkpoint:
        """The opened checkpoint (opened on first use in each process)."""
        if self._checkpoint is None:
            self._checkpoint = open_checkpoint(self.path, self.key, self.follow_links)
        return self._checkpoint

    def _target(self, dtype: Any) -> np.dtype:
        if not isinstance(dtype, np.dtype):
            raise CheckpointError(f"{self.path}: dtype {dtype} has no numpy dtype to convert")
        if self.dtype is not None and is_floating_point(dtype):
            return self.dtype
        return dtype

    def entries(self) -> list[TensorSpec]:
        """The stored tensors in file order, each tied tensor once (its kept name)."""
        return [TensorSpec(e.name, e.shape, self._target(e.dtype)) for e in self.checkpoint.entries]

    def ties(self) -> dict[str, str]:
        """Dropped name -> kept name, as the checkpoint records or shares them."""
        return dict(self.checkpoint.tied)

    def metadata(self) -> dict[str, str]:
        """The checkpoint's own metadata (a torch file's plain entries, as JSON)."""
        return dict(self.checkpoint.metadata)

    def fingerprint(self) -> str:
        """Changes with the files' sizes and times, the key and the dtype."""
        files = [(str(f), os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in self.checkpoint.files]  # fmt: skip
        return digest(self.path, self.key, str(self.dtype), files)

    def values(self, name: str) -> np.ndarray:
        """The values of ``name`` read from the mapped file (cast when asked).

        Pages read for earlier tensors are let go once they add up to :data:`RELEASE_EVERY`
        bytes, so streaming a checkpoint larger than memory holds about one tensor (or that
        many bytes of small ones) at a time, and a million tiny tensors cost no system call
        each.
        """
        checkpoint = self.checkpoint
        if self._unreleased >= RELEASE_EVERY:
            checkpoint.release()
            self._unreleased = 0
        array = checkpoint.array(name)
        self._unreleased += array.nbytes
        target = self._target(array.dtype)
        try:  # a strided view (a transposed weight, an expanded vector) is copied here
            return np.asarray(array, dtype=target, order="C")
        except MemoryError:
            raise CheckpointError(
                f"{self.path}: tensor {name!r} needs {array.size * target.itemsize} bytes, "
                "more than this machine can hold"
            ) from None


def convert(
    source: CheckpointSource | str | os.PathLike[str],
    out: str | os.PathLike[str],
    max_shard_size: int | str | None = None,
    *,
    key: str | None = None,
    dtype: str | None = None,
    follow_links: bool = False,
    metadata: dict[str, str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Convert a checkpoint to safetensors: one file, or a sharded folder.

    Args:
        source: A checkpoint of any format paramtool reads, or a :class:`CheckpointSource`
            (``key``, ``dtype`` and ``follow_links`` are then its own).
        out: A ``.safetensors`` file, or a folder (Hugging Face layout).
        max_shard_size: Bytes per shard (``"5GB"``); None: one file.
        key: For a ``torch.save`` file nesting its state dict: the top-level key to read.
        dtype: Cast floating-point tensors to this dtype.
        follow_links: Read shards linked from outside the checkpoint's folder.
        metadata: Extra metadata for every file.
        workers: Write shards with this many local processes (Dask).
        scheduler: Write shards on the Dask cluster at this address.
        progress: Called as ``progress(name, nbytes)`` as tensors are written.

    Returns:
        The files written.

    Raises:
        CheckpointError: the source cannot be read; ExportError or SafetensorsError: the
            output cannot be written (an old checkpoint there is then untouched).
    """
    reader = source
    if not isinstance(reader, CheckpointSource):
        reader = CheckpointSource(source, key, follow_links, dtype)
    return write_checkpoint(
        reader, out, max_shard_size, metadata=metadata, workers=workers,
        scheduler=scheduler, progress=progress,
    )  # fmt: skip
