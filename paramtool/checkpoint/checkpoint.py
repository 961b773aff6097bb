"""A checkpoint: one ``.safetensors`` file, or shards listed by a Hugging Face index.

:func:`open_checkpoint` reads headers only, so listing a checkpoint of any size is instant; data
is mapped on demand. Names dropped because they were tied to another tensor (recorded in
``__metadata__`` as ``{dropped: kept}``, the reference ``save_model`` convention) are resolved
back to the kept tensor, and :meth:`Checkpoint.tensors` returns one object for all of them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from paramtool.checkpoint.safetensors.format import DTYPES, Header, TensorInfo, read_header
from paramtool.checkpoint.safetensors.reader import array_from, map_file, wrap
from paramtool.errors import SafetensorsError

INDEX_SUFFIX = ".safetensors.index.json"
SINGLE_FILE = "model.safetensors"
#: Index metadata keys that describe the shards rather than the model.
_INDEX_KEYS = ("total_size", "total_parameters")


@dataclass(frozen=True)
class Entry:
    """One stored tensor, as its header describes it.

    Attributes:
        name: The tensor's name.
        shape: Its shape.
        dtype: The format's dtype code (``"BF16"``).
        nbytes: Bytes of data.
        file: The file holding it.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    file: Path

    @property
    def dtype_name(self) -> str:
        """The PyTorch-style dtype name (``"bfloat16"``), or the code when numpy has none."""
        from paramtool.core.dtypes import dtype_name  # noqa: PLC0415

        return dtype_name(DTYPES[self.dtype]) if self.dtype in DTYPES else self.dtype

    @property
    def numel(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=object))


class Checkpoint:
    """A validated checkpoint, read from its headers.

    Attributes:
        path: The file, index or folder that was opened.
        files: The ``.safetensors`` files, in shard order.
        entries: Every stored tensor, shard by shard in offset order.
        metadata: User metadata (the tie records removed).
        tied: Dropped name -> kept name.
        index: The index JSON (None for a single file).
    """

    def __init__(
        self, path: Path, headers: dict[Path, Header], index: dict[str, Any] | None = None
    ) -> None:
        self.path = path
        self.files = list(headers)
        self.index = index
        self._where: dict[str, tuple[Path, TensorInfo]] = {}
        self.entries: list[Entry] = []
        for file, header in headers.items():
            for info in header.tensors:
                self._where[info.name] = (file, info)
                self.entries.append(Entry(info.name, info.shape, info.dtype, info.nbytes, file))
        merged = _index_metadata(index)
        for header in headers.values():
            merged.update(header.metadata)
        self.tied = {k: v for k, v in merged.items() if k not in self._where and v in self._where}
        self.metadata = {k: v for k, v in merged.items() if k not in self.tied}
        self._maps: dict[Path, tuple[Any, Header]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self._where or name in self.tied

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, tensors={len(self)}, files={len(self.files)})"

    @property
    def names(self) -> list[str]:
        """Stored names followed by tied (dropped) names."""
        return [e.name for e in self.entries] + list(self.tied)

    @property
    def total_size(self) -> int:
        """Bytes of tensor data stored (headers excluded), as an index's ``total_size``."""
        return sum(e.nbytes for e in self.entries)

    def entry(self, name: str) -> Entry:
        """The stored entry behind ``name`` (a tied name gives its kept tensor's entry).

        Raises:
            SafetensorsError: no such tensor.
        """
        file, info = self._locate(name)
        return Entry(info.name, info.shape, info.dtype, info.nbytes, file)

    def array(self, name: str) -> np.ndarray:
        """The values of ``name`` as a zero-copy numpy array of the mapped file."""
        file, info = self._locate(name)
        if file not in self._maps:
            self._maps[file] = map_file(file)
        mapping, header = self._maps[file]
        return array_from(mapping, header, info, file)

    def load(self, name: str, device: object = "cpu") -> Any:
        """The values of ``name`` as a paramtool Tensor (zero-copy on the cpu)."""
        return wrap(self.array(name), device)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every name -> array; tied names map to the same array object as their kept name."""
        out = {e.name: self.array(e.name) for e in self.entries}
        out.update({dropped: out[kept] for dropped, kept in self.tied.items()})
        return out

    def tensors(self, device: object = "cpu") -> dict[str, Any]:
        """Every name -> Tensor; tied names map to the very Tensor object of their kept name."""
        out = {e.name: self.load(e.name, device) for e in self.entries}
        out.update({dropped: out[kept] for dropped, kept in self.tied.items()})
        return out

    def _locate(self, name: str) -> tuple[Path, TensorInfo]:
        found = self._where.get(self.tied.get(name, name))
        if found is None:
            raise SafetensorsError(f"{self.path}: no tensor named {name!r}")
        return found


def _index_metadata(index: dict[str, Any] | None) -> dict[str, str]:
    if index is None:
        return {}
    meta = index.get("metadata") or {}
    return {k: v for k, v in meta.items() if k not in _INDEX_KEYS and isinstance(v, str)}


def open_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Open a ``.safetensors`` file, an index json, or a folder holding either, from headers.

    A folder is opened through its ``*.safetensors.index.json`` when it holds exactly one,
    else its ``model.safetensors``, else its only ``.safetensors`` file.

    Args:
        path: File, index or folder.

    Returns:
        The validated checkpoint.

    Raises:
        SafetensorsError: a missing or malformed file or index; a shard missing, or holding
            tensors other than those the index puts there.
    """
    path = Path(path)
    if path.is_dir():
        path = _resolve_folder(path)
    if path.name.endswith(".json"):
        return _open_index(path)
    return Checkpoint(path, {path: read_header(path)})


def _resolve_folder(folder: Path) -> Path:
    indexes = sorted(folder.glob(f"*{INDEX_SUFFIX}"))
    if len(indexes) == 1:
        return indexes[0]
    if len(indexes) > 1:
        names = ", ".join(p.name for p in indexes)
        raise SafetensorsError(f"{folder}: several indexes ({names}); name the one to open")
    if (folder / SINGLE_FILE).is_file():
        return folder / SINGLE_FILE
    files = sorted(folder.glob("*.safetensors"))
    if len(files) == 1:
        return files[0]
    found = f"{len(files)} .safetensors files" if files else "no .safetensors file"
    raise SafetensorsError(f"{folder}: no index and {found}; name the file to open")


def read_index(path: Path) -> dict[str, Any]:
    """Read and check the shape of a Hugging Face index json.

    Raises:
        SafetensorsError: unreadable, not JSON, or without a ``weight_map`` of names to
            plain file names.
    """
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SafetensorsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SafetensorsError(f"{path}: index is not valid JSON: {exc}") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise SafetensorsError(f"{path}: index has no 'weight_map' object")
    if not isinstance(index.get("metadata", {}), dict):
        raise SafetensorsError(f"{path}: index 'metadata' must be an object")
    for name, file in weight_map.items():
        if not isinstance(file, str) or Path(file).name != file or file in ("", ".", ".."):
            raise SafetensorsError(f"{path}: tensor {name!r} maps to {file!r}, not a file name")
    return index


def _open_index(path: Path) -> Checkpoint:
    index = read_index(path)
    weight_map: dict[str, str] = index["weight_map"]
    by_file: dict[str, set[str]] = {}
    for name, file in weight_map.items():
        by_file.setdefault(file, set()).add(name)
    headers: dict[Path, Header] = {}
    for file, listed in by_file.items():
        shard = path.parent / file
        if not shard.is_file():
            raise SafetensorsError(f"{path}: shard {file!r} listed in the index is missing")
        headers[shard] = read_header(shard)
        _check_shard(path, file, headers[shard], listed, weight_map)
    return Checkpoint(path, headers, index)


def _check_shard(
    index: Path, file: str, header: Header, listed: set[str], weight_map: dict[str, str]
) -> None:
    stored = {info.name for info in header.tensors}
    missing, extra = sorted(listed - stored), sorted(stored - listed)
    if missing:
        raise SafetensorsError(
            f"{index}: tensor {missing[0]!r} is not in {file!r}, where the index puts it"
        )
    if extra:
        where = weight_map.get(extra[0])
        said = f"the index puts it in {where!r}" if where else "the index does not list it"
        raise SafetensorsError(f"{index}: shard {file!r} holds tensor {extra[0]!r}, but {said}")
