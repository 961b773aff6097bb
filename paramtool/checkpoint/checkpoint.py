"""A checkpoint of any format: one file, or shards listed by a Hugging Face index.

:func:`open_checkpoint` tells the format by content (safetensors, ``torch.save`` zip or legacy
pickle, index json) and reads headers only (a torch file's pickle, never its data), so listing
a checkpoint of any size is instant; data is mapped on demand. Names dropped because they were tied to another tensor (recorded in
``__metadata__`` as ``{dropped: kept}``, the reference ``save_model`` convention) are resolved
back to the kept tensor, and :meth:`Checkpoint.tensors` returns one object for all of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from paramtool.checkpoint.entry import Columns, Entry, Part
from paramtool.checkpoint.formats import open_file, open_part
from paramtool.checkpoint.safetensors.header_json import loads_strict
from paramtool.checkpoint.safetensors.reader import wrap
from paramtool.errors import CheckpointError, SafetensorsError

INDEX_SUFFIX = ".safetensors.index.json"
BIN_INDEX_SUFFIX = ".bin.index.json"
SINGLE_FILE = "model.safetensors"
#: ``__metadata__`` key of the id paramtool writes in every file of a checkpoint and its index.
CHECKPOINT_ID_KEY = "paramtool.checkpoint_id"
#: Index metadata keys that describe the shards rather than the model.
_INDEX_KEYS = ("total_size", "total_parameters")


class Checkpoint:
    """A checkpoint of any format, opened from its headers (data mapped on demand).

    Attributes:
        path: The file, index or folder that was opened.
        files: The files, in shard order.
        parts: One opened file each (see :class:`Part`).
        entries: Every stored tensor, file by file in file order.
        metadata: String metadata (the tie records removed); for a ``torch.save`` file, its
            plain non-tensor entries as JSON.
        tied: Dropped name -> kept name.
        overlapping: Groups of names of distinct tensors viewing one storage (torch files).
        contents: Top-level key -> what it holds, for a file nesting its state dict.
        key: The top-level key the tensors were read from, if any.
        index: The index JSON (None for a single file).
    """

    def __init__(self, path: Path, parts: list[Part], index: dict[str, Any] | None = None) -> None:
        self.path = path
        self.parts = parts
        self.files = [part.file for part in parts]
        self.index = index
        # name -> file, for shards only: one file answers for its own names
        self._where: dict[str, Part] | None = None
        if len(parts) > 1:
            self._where = {}
            for part in parts:
                self._where.update(dict.fromkeys(part.names(), part))
        merged = _index_metadata(index)
        for part in parts:
            merged.update(part.metadata)
        # the metadata's keys and values that name stored tensors, in one pass over the names
        named = {*merged, *merged.values()}.intersection(
            chain.from_iterable(p.names() for p in parts)
        )
        self.tied = {k: v for k, v in merged.items() if k not in named and v in named}
        for part in parts:
            self.tied.update(part.tied)
        self.metadata = {k: v for k, v in merged.items() if k not in self.tied}
        self.overlapping = [group for part in parts for group in part.overlapping]
        self.contents = parts[0].contents if len(parts) == 1 else {}
        self.key = parts[0].key if len(parts) == 1 else None

    @cached_property
    def entries(self) -> list[Entry]:
        """Every stored tensor, file by file in file order (made when first asked for)."""
        if len(self.parts) == 1:
            return self.parts[0].entries
        return [entry for part in self.parts for entry in part.entries]

    def columns(self) -> Columns:
        """Names, shapes, dtypes and sizes of every stored tensor, column by column."""
        if len(self.parts) == 1:
            return self.parts[0].columns()
        columns = [part.columns() for part in self.parts]
        return tuple([x for c in columns for x in c[i]] for i in range(4))  # type: ignore[return-value]

    def __len__(self) -> int:
        return sum(len(part.names()) for part in self.parts)

    def __contains__(self, name: object) -> bool:
        return self._part_of(name) is not None or name in self.tied

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, tensors={len(self)}, files={len(self.files)})"

    @property
    def names(self) -> list[str]:
        """Stored names followed by tied (dropped) names."""
        return [name for part in self.parts for name in part.names()] + list(self.tied)

    @property
    def total_size(self) -> int:
        """Bytes of tensor data stored (headers excluded), as an index's ``total_size``."""
        return sum(self.columns()[3])

    def entry(self, name: str) -> Entry:
        """The stored entry behind ``name`` (a tied name gives its kept tensor's entry).

        Raises:
            CheckpointError: no such tensor.
        """
        kept = self._kept(name)
        return next(e for e in self._part_of(kept).entries if e.name == kept)  # type: ignore[union-attr]

    def array(self, name: str) -> np.ndarray:
        """The values of ``name`` as a zero-copy numpy array of the mapped file."""
        kept = self._kept(name)
        return self._part_of(kept).array(kept)  # type: ignore[union-attr]

    def stacked(self, names: Sequence[str]) -> np.ndarray:
        """The values of tensors of one dtype and one size as the rows of a 2-D array (a copy),
        read file by file in bulk: statistics of a million tiny tensors make no array each."""
        kept = [self.tied.get(name, name) for name in names] if self.tied else list(names)
        try:
            if self._where is None:
                return self.parts[0].stacked(kept)
            parts = list(map(self._where.__getitem__, kept))
        except KeyError as missing:
            self._kept(missing.args[0])  # raises, naming the tensor
            raise
        order: dict[int, list[int]] = {}
        for i, part in enumerate(parts):
            order.setdefault(id(part), []).append(i)
        blocks = [
            (rows, parts[rows[0]].stacked([kept[i] for i in rows])) for rows in order.values()
        ]  # type: ignore[union-attr]
        out = np.empty((len(kept), blocks[0][1].shape[1]), blocks[0][1].dtype)
        for rows, block in blocks:
            out[rows] = block
        return out

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

    def release(self) -> None:
        """Let go of the mapped pages read so far (see :meth:`Part.release`)."""
        for part in self.parts:
            part.release()

    def _part_of(self, name: object) -> Part | None:
        """The file storing ``name`` (a stored, not a tied name), or None."""
        if self._where is not None:
            return self._where.get(name)  # type: ignore[arg-type]
        return self.parts[0] if self.parts and name in self.parts[0] else None

    def _kept(self, name: str) -> str:
        kept = self.tied.get(name, name)
        if self._part_of(kept) is None:
            raise CheckpointError(f"{self.path}: no tensor named {name!r}")
        return kept


def _index_metadata(index: dict[str, Any] | None) -> dict[str, str]:
    if index is None:
        return {}
    meta = index.get("metadata") or {}
    return {k: v for k, v in meta.items() if k not in _INDEX_KEYS and isinstance(v, str)}


def open_checkpoint(
    path: str | os.PathLike[str], key: str | None = None, follow_links: bool = False
) -> Checkpoint:
    """Open a checkpoint of any format paramtool reads, from headers, by content.

    ``path`` is a ``.safetensors`` file, a ``torch.save`` file (zip or legacy; ``.bin``,
    ``.pt``, ``.pth``, ``.ckpt`` or any name), an index json (``model.safetensors.index.json``,
    ``pytorch_model.bin.index.json``), or a folder holding one of them: its index when it holds
    exactly one (safetensors first), else ``model.safetensors``, else ``pytorch_model.bin``,
    else its only checkpoint file.

    Args:
        path: File, index or folder.
        key: For a ``torch.save`` file nesting its state dict: the top-level key to read.
        follow_links: Read shards (and a folder's file) whose links resolve outside the
            checkpoint's folder. The Hugging Face cache layout, whose files link into the
            repository's ``blobs/``, is read without it.

    Returns:
        The validated checkpoint.

    Raises:
        CheckpointError: a missing, special, malformed or unsafe file or index; a shard
            missing, outside the folder, or holding tensors other than the index says.
    """
    path = Path(path)
    if path.is_dir():
        folder, path = path, _resolve_folder(path)
        check_inside(path, folder, follow_links)
    if path.name.endswith(".json"):
        return _open_index(path, key, follow_links)
    return Checkpoint(path, [open_part(path, key)])


#: Files a folder is opened through, in order of preference (after an index).
_FOLDER_FILES = (SINGLE_FILE, "pytorch_model.bin")
_TORCH_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


def _resolve_folder(folder: Path) -> Path:
    for suffix in (INDEX_SUFFIX, BIN_INDEX_SUFFIX):
        indexes = sorted(folder.glob(f"*{suffix}"))
        if len(indexes) == 1:
            return indexes[0]
        if len(indexes) > 1:
            names = ", ".join(p.name for p in indexes)
            raise SafetensorsError(f"{folder}: several indexes ({names}); name the one to open")
    for name in _FOLDER_FILES:
        if (folder / name).is_file():
            return folder / name
    for kind, suffixes in (("safetensors", (".safetensors",)), ("torch", _TORCH_SUFFIXES)):
        files = sorted(p for p in folder.iterdir() if p.suffix in suffixes)
        if len(files) == 1:
            return files[0]
        if len(files) > 1:
            raise SafetensorsError(
                f"{folder}: no index and {len(files)} {kind} files; name the file to open"
            )
    raise SafetensorsError(
        f"{folder}: no index, no .safetensors file and no torch checkpoint; name the file to open"
    )


def check_inside(file: Path, folder: Path, follow_links: bool = False) -> None:
    """Refuse a file of a checkpoint whose path resolves outside the checkpoint's folder.

    Allowed without ``follow_links``: files inside the folder, and the Hugging Face cache
    layout (``snapshots/REV/NAME`` linking to ``../../blobs/HASH`` of the same repository).

    Raises:
        CheckpointError: the file resolves elsewhere.
    """
    if follow_links:
        return
    real, base = file.resolve(), folder.resolve()
    if real.is_relative_to(base):
        return
    if base.parent.name == "snapshots" and real.parent == base.parent.parent / "blobs":
        return
    raise CheckpointError(
        f"{file}: resolves to {real}, outside the checkpoint folder {base}; "
        "pass --follow-links to read it"
    )


def read_index(path: Path) -> dict[str, Any]:
    """Read and check the shape of a Hugging Face index json (safetensors or ``.bin``).

    Raises:
        SafetensorsError: unreadable, not JSON, nested too deeply, or without a
            ``weight_map`` of names to plain file names.
    """
    try:
        with open_file(path) as f:
            index = loads_strict(f.read().decode("utf-8"))
    except OSError as exc:
        raise SafetensorsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except RecursionError:
        raise SafetensorsError(f"{path}: index JSON is nested too deeply") from None
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


def _open_index(path: Path, key: str | None, follow_links: bool) -> Checkpoint:
    index = read_index(path)
    weight_map: dict[str, str] = index["weight_map"]
    by_file: dict[str, set[str]] = {}
    for name, file in weight_map.items():
        by_file.setdefault(file, set()).add(name)
    parts: list[Part] = []
    for file, listed in by_file.items():
        shard = path.parent / file
        if not shard.is_file():
            why = "is not a regular file" if shard.exists() else "is missing"
            raise SafetensorsError(f"{path}: shard {file!r} listed in the index {why}")
        check_inside(shard, path.parent, follow_links)
        part = open_part(shard, key)
        _check_shard(path, file, part, listed, weight_map)
        check_checkpoint_id(path, index, file, part.metadata)
        parts.append(part)
    return Checkpoint(path, parts, index)


def check_checkpoint_id(
    index_path: Path, index: dict[str, Any], file: str, metadata: dict[str, str]
) -> None:
    """Refuse a shard written by another export than its index (a mixed checkpoint).

    An index paramtool wrote carries a checkpoint id in its ``metadata``, as does every shard's
    ``__metadata__``; indexes without one (other writers) are not checked.

    Raises:
        SafetensorsError: the shard has no id or another one.
    """
    expected = (index.get("metadata") or {}).get(CHECKPOINT_ID_KEY)
    if expected is None:
        return
    found = metadata.get(CHECKPOINT_ID_KEY)
    if found != expected:
        said = f"checkpoint id {found}" if found else "no checkpoint id"
        raise SafetensorsError(
            f"{index_path}: shard {file!r} belongs to another checkpoint ({said}, the index "
            f"says {expected}): the folder mixes two exports"
        )


def _check_shard(
    index: Path, file: str, part: Part, listed: set[str], weight_map: dict[str, str]
) -> None:
    stored = {entry.name for entry in part.entries} | set(part.tied)
    missing, extra = sorted(listed - stored), sorted(stored - listed)
    if missing:
        raise SafetensorsError(
            f"{index}: tensor {missing[0]!r} is not in {file!r}, where the index puts it"
        )
    if extra:
        where = weight_map.get(extra[0])
        said = f"the index puts it in {where!r}" if where else "the index does not list it"
        raise SafetensorsError(f"{index}: shard {file!r} holds tensor {extra[0]!r}, but {said}")
