"""``torch.save`` files of PyTorch 1.6 and later: a zip archive of a pickle and raw storages.

The archive holds one folder (its name is free; ``archive/`` by default) with ``data.pkl`` (the
object, whose storages are persistent ids ``('storage', type, key, location, numel)``),
``data/KEY`` (each storage's raw bytes), ``byteorder`` (``little``) and ``version``. PyTorch
writes every entry uncompressed, so a storage is a byte range of the file: it is memory-mapped
in place, never copied or decompressed.
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path
from typing import Any

from paramtool.checkpoint.unpickler import StorageRef, StorageType, load_pickle
from paramtool.errors import CheckpointError

ZIP_MAGIC = b"PK\x03\x04"
#: Largest ``data.pkl`` read (the pickle holds structure only; data lives in the storages).
MAX_PICKLE_SIZE = 1 << 30
#: Largest compressed ``data.pkl`` unpacked. torch.save stores it uncompressed; a few kB of
#: deflated pickle can unpack to a gigabyte of opcodes building a list of a billion items.
MAX_PACKED_PICKLE_SIZE = 64 << 20
_KEY = re.compile(r"[A-Za-z0-9_]+")
_LOCAL_HEADER = struct.Struct("<4s22xHH")
#: What a malformed or hostile archive makes :mod:`zipfile` raise.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    ValueError,
    OverflowError,
    EOFError,
    KeyError,
    struct.error,
    UnicodeDecodeError,
    RuntimeError,
    OSError,
)


def storage_ref(pid: Any, where: object, kinds: int = 5) -> StorageRef:
    """Check a persistent id ``('storage', type, key, location, numel, ...)``.

    Raises:
        CheckpointError: not a storage id, or a key that is not a plain name (one that could
            point outside the archive's ``data/`` folder).
    """
    if not (isinstance(pid, tuple) and len(pid) == kinds and pid[0] == "storage"):
        raise CheckpointError(f"unknown persistent id {str(pid)[:80]!r}, not a storage")
    kind, key, numel = pid[1], pid[2], pid[4]
    if not isinstance(kind, StorageType):
        raise CheckpointError(f"storage type {kind!r} is not a torch storage class")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise CheckpointError(
            f"storage key {str(key)[:80]!r} is not a plain name; it would point outside the "
            "archive's data/ folder"
        )
    if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
        raise CheckpointError(f"storage {key!r} has size {numel!r}, not a non-negative integer")
    return StorageRef(key, kind.dtype, numel)


class TorchFile:
    """The pieces of a ``torch.save`` file, whatever its format.

    Attributes:
        path: The file.
        obj: The unpickled object, tensors as :class:`TensorRef`.
        storages: Storage key -> (absolute byte offset, bytes available).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.obj: Any = None
        self.storages: dict[str, tuple[int, int]] = {}
        self._seen: dict[str, StorageRef] = {}


class ZipArchive(TorchFile):
    """A ``torch.save`` zip archive: ``data.pkl`` unpickled, each ``data/KEY`` located."""

    def __init__(self, path: Path, mapping: Any) -> None:
        super().__init__(path)
        try:
            with zipfile.ZipFile(path) as archive:
                prefix = _prefix(archive, path)
                _check_byteorder(archive, prefix, path)
                raw = _read_small(archive, prefix + "data.pkl", path)
                self.obj = load_pickle(raw, self._persistent, path)
                for key, ref in self._seen.items():
                    self.storages[key] = _locate(archive, mapping, prefix, ref, path)
        except CheckpointError:
            raise
        except ZIP_ERRORS as exc:
            raise CheckpointError(f"{path}: not a readable zip archive ({exc})") from None

    def _persistent(self, pid: Any) -> StorageRef:
        ref = storage_ref(pid, self.path)
        seen = self._seen.setdefault(ref.key, ref)
        if seen.dtype.itemsize * seen.numel != ref.dtype.itemsize * ref.numel:
            raise CheckpointError(f"storage {ref.key!r} is listed with two different sizes")
        return seen


def _prefix(archive: zipfile.ZipFile, path: Path) -> str:
    pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        found = "no" if not pickles else f"{len(pickles)}"
        raise CheckpointError(
            f"{path}: a zip archive with {found} '<folder>/data.pkl'; not a torch.save checkpoint"
        )
    return pickles[0][: -len("data.pkl")]


def _check_byteorder(archive: zipfile.ZipFile, prefix: str, path: Path) -> None:
    name = prefix + "byteorder"
    if name in archive.NameToInfo:
        order = _read_small(archive, name, path).strip()
        if order != b"little":
            raise CheckpointError(
                f"{path}: storages are stored {order[:16].decode('latin-1')!r}-endian; "
                "only little-endian checkpoints are read"
            )


def _read_small(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_PICKLE_SIZE:
        raise CheckpointError(f"{path}: {name} is {info.file_size} bytes, over the 1 GiB cap")
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_PACKED_PICKLE_SIZE:
        raise CheckpointError(
            f"{path}: {name} is compressed and unpacks to {info.file_size} bytes, over the "
            "64 MiB cap for a compressed pickle (torch.save stores it uncompressed)"
        )
    return archive.read(info)


def _locate(
    archive: zipfile.ZipFile, mapping: Any, prefix: str, ref: StorageRef, path: Path
) -> tuple[int, int]:
    """Absolute offset and size of a storage's bytes, checked to hold the storage."""
    name = f"{prefix}data/{ref.key}"
    info = archive.NameToInfo.get(name)
    if info is None:
        raise CheckpointError(f"{path}: storage {ref.key!r} is listed in data.pkl but {name} is missing")  # fmt: skip
    if info.compress_type != zipfile.ZIP_STORED:
        raise CheckpointError(
            f"{path}: {name} is compressed; torch.save stores storages uncompressed, which "
            "paramtool maps in place"
        )
    header = bytes(mapping[info.header_offset : info.header_offset + _LOCAL_HEADER.size])
    if len(header) < _LOCAL_HEADER.size:
        raise CheckpointError(f"{path}: {name}: local header lies past the end of the file")
    magic, name_len, extra_len = _LOCAL_HEADER.unpack(header)
    if magic != ZIP_MAGIC:
        raise CheckpointError(f"{path}: {name}: local header is damaged")
    start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    needed = ref.numel * ref.dtype.itemsize
    if start + info.file_size > len(mapping) or info.file_size < needed:
        raise CheckpointError(
            f"{path}: storage {ref.key!r} needs {needed} bytes but {name} holds "
            f"{min(info.file_size, max(len(mapping) - start, 0))}"
        )
    return start, info.file_size
