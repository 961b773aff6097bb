"""Writing files shaped like ``torch.save``'s, without PyTorch, for tests that need hostile ones.

The pickles name ``torch._utils._rebuild_tensor_v2`` and ``torch.FloatStorage`` exactly as
PyTorch's do (stand-in modules are registered in ``sys.modules`` only while pickling), so the
reader sees what a real file holds; then anything can be changed: a global, a storage key, the
bytes of the pickle or of the archive.
"""

from __future__ import annotations

import io
import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

STORAGES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}


class Storage:
    """A storage to be written as ``data/KEY``; ``key`` may be set to anything."""

    def __init__(self, key: str, values: np.ndarray) -> None:
        self.key = key
        self.values = np.ascontiguousarray(values).reshape(-1)


class Tensor:
    """A tensor pickled as PyTorch pickles one: ``_rebuild_tensor_v2(storage, offset, ...)``."""

    def __init__(self, storage: Storage, offset: int, shape: tuple, stride: tuple) -> None:
        self.args = (storage, offset, tuple(shape), tuple(stride), False, OrderedDict())

    def __reduce__(self) -> tuple[Any, ...]:
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


def tensor(key: str, values: np.ndarray) -> Tensor:
    """A contiguous tensor on its own storage."""
    values = np.ascontiguousarray(values)
    strides = tuple(s // values.itemsize for s in values.strides)
    return Tensor(Storage(key, values), 0, values.shape, strides)


@contextmanager
def _torch_names() -> Iterator[types.ModuleType]:
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in STORAGES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))

    def _rebuild_tensor_v2(*args: Any) -> None: ...

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def dumps(obj: Any) -> tuple[bytes, list[Storage]]:
    """The pickle of ``obj`` as ``torch.save`` writes it, and the storages it refers to."""
    storages: dict[str, Storage] = {}
    with _torch_names() as torch:

        class Pickler(pickle.Pickler):
            def persistent_id(self, value: Any) -> Any:
                if not isinstance(value, Storage):
                    return None
                storages[value.key] = value
                kind = getattr(torch, STORAGES[value.values.dtype])
                return ("storage", kind, value.key, "cpu", value.values.size)

        out = io.BytesIO()
        Pickler(out, protocol=2).dump(obj)
    return out.getvalue(), list(storages.values())


def write_zip(path: Path, obj: Any = None, data_pkl: bytes | None = None) -> Path:
    """A ``torch.save`` zip of ``obj`` (or of the given ``data.pkl`` bytes and no storages)."""
    storages: list[Storage] = []
    if data_pkl is None:
        data_pkl, storages = dumps(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        for storage in storages:
            if "/" not in storage.key and storage.key not in ("", ".", ".."):
                archive.writestr(f"archive/data/{storage.key}", storage.values.tobytes())
        archive.writestr("archive/version", "3\n")
    return path
