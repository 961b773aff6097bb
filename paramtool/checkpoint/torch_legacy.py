"""``torch.save`` files in the legacy format (PyTorch before 1.6, or
``_use_new_zipfile_serialization=False``): pickles and raw storages back to back.

The file is five pickles, then the storages: the magic number ``0x1950a86a20f9469cfc6c``, the
protocol version ``1001``, a dict of system facts (``little_endian``, type sizes), the object
(storages are persistent ids ``('storage', type, key, location, numel, view)``), and the list of
storage keys in the order their records follow. Each record is the element count (8 bytes,
little-endian) and the raw elements. Records are located by walking their counts and mapped in
place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paramtool.checkpoint.torch_zip import TorchFile, storage_ref
from paramtool.checkpoint.unpickler import StorageRef, load_pickle
from paramtool.errors import CheckpointError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


def _no_storage(pid: Any) -> Any:
    raise CheckpointError("a storage inside the file's preamble")


class LegacyFile(TorchFile):
    """A legacy ``torch.save`` file: its pickles read in turn, each storage record located."""

    def __init__(self, path: Path, mapping: Any) -> None:
        super().__init__(path)
        mapping.seek(0)
        magic = load_pickle(mapping, _no_storage, path)
        if magic != MAGIC_NUMBER:
            raise CheckpointError(
                f"{path}: a pickle, but not a torch.save checkpoint (no torch magic number)"
            )
        if load_pickle(mapping, _no_storage, path) != PROTOCOL_VERSION:
            raise CheckpointError(f"{path}: unknown legacy torch.save protocol version")
        info = load_pickle(mapping, _no_storage, path)
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise CheckpointError(f"{path}: only little-endian legacy checkpoints are read")
        self.obj = load_pickle(mapping, self._persistent, path)
        keys = load_pickle(mapping, _no_storage, path)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise CheckpointError(f"{path}: the list of storage keys is malformed")
        self.storages = self._walk(keys, mapping)

    def _persistent(self, pid: Any) -> StorageRef:
        ref = storage_ref(pid, self.path, kinds=6)
        root = self._seen.setdefault(ref.key, ref)
        if root.numel != ref.numel or root.dtype != ref.dtype:
            raise CheckpointError(f"storage {ref.key!r} is listed with two different sizes")
        view = pid[5]
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3):
            raise CheckpointError(f"storage {ref.key!r} has a malformed view {view!r}")
        _, offset, size = view
        if not all(isinstance(v, int) and v >= 0 for v in (offset, size)):
            raise CheckpointError(f"storage {ref.key!r} has a malformed view {view!r}")
        if offset + size > root.numel:
            raise CheckpointError(f"a view of storage {ref.key!r} runs past its end")
        return StorageRef(root.key, root.dtype, size, offset)

    def _walk(self, keys: list[str], mapping: Any) -> dict[str, tuple[int, int]]:
        position, size = mapping.tell(), len(mapping)
        storages: dict[str, tuple[int, int]] = {}
        for key in keys:
            ref = self._seen.get(key)
            if ref is None or key in storages:
                raise CheckpointError(f"{self.path}: storage key {key[:80]!r} is not used once")
            _check_span(position, 8, size, self.path, key)
            count = int.from_bytes(mapping[position : position + 8], "little")
            nbytes = count * ref.dtype.itemsize
            if count != ref.numel:
                raise CheckpointError(
                    f"{self.path}: storage {key!r} records {count} elements, data.pkl says {ref.numel}"
                )
            _check_span(position + 8, nbytes, size, self.path, key)
            storages[key] = (position + 8, nbytes)
            position += 8 + nbytes
        missing = sorted(set(self._seen) - set(storages))
        if missing:
            raise CheckpointError(f"{self.path}: storage {missing[0]!r} has no data record")
        return storages


def _check_span(start: int, length: int, size: int, path: Path, key: str) -> None:
    if start + length > size:
        raise CheckpointError(f"{path}: storage {key!r} runs past the end of the file")
