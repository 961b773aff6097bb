"""Writing safetensors files: canonical layout, streaming, atomic replacement.

The layout is the reference writer's, so equal tensors give byte-identical files: entries sorted
by dtype (the reference's ``Dtype`` enum, highest first) then by name, compact JSON with the
metadata first, the header padded with spaces to a multiple of 8 bytes. Shapes and dtypes are
known before any value exists, so the header is written first and each tensor's values are
asked for in file order and dropped once written. While one tensor is written, the next one's
values are computed in a worker thread (random generation releases the GIL), so an export takes
about as long as the slower of generating and writing rather than their sum, and holds at most
two tensors at a time: peak memory is of the order of the largest tensor (at most twice it).

Every file is written to a temporary file in the target's folder (``.NAME.PID-RANDOM.tmp``),
flushed, fsynced and renamed over the target; on any error the temporary file is removed and an
existing target is untouched. Temporary files of the same target left by a process that no
longer runs (kill -9, power loss) are removed by the next write to it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from paramtool.checkpoint.safetensors.format import METADATA_KEY, code_of, dtype_rank
from paramtool.core.collection import collection_paused
from paramtool.errors import SafetensorsError

#: Bytes of a non-contiguous array made contiguous at a time while writing it.
CHUNK_BYTES = 64 * 2**20
#: Temporary files are ``.NAME.PID-RANDOM.tmp`` beside their target.
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-[^.]+\.tmp")

Spec = tuple[str, tuple[int, ...], Any]
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Slot:
    """Where one tensor goes in the file being written.

    Attributes:
        name: The tensor's name.
        shape: Its shape.
        dtype: Its numpy dtype (native byte order).
        begin: First byte, relative to the data section.
        end: One past its last byte.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    begin: int
    end: int


@collection_paused()  # a million rows and header entries, no cycles
def plan_layout(
    specs: Iterable[Spec], metadata: Mapping[str, str] | None = None
) -> tuple[bytes, list[Slot]]:
    """Lay out a file: the header bytes (length prefix included) and each tensor's slot.

    Args:
        specs: ``(name, shape, dtype)`` for every tensor.
        metadata: The ``__metadata__`` map (string values), or None for none.

    Returns:
        ``(header, slots)`` with slots in file order.

    Raises:
        SafetensorsError: a duplicate or reserved name, a non-string metadata value, a dtype the
            format cannot hold, a negative dimension.
    """
    rows = []
    known: dict[Any, tuple[int, np.dtype, str]] = {}  # one lookup per dtype, not per tensor
    for name, shape, dtype in specs:
        found = known.get(dtype)
        if found is None:
            dt = np.dtype(dtype)
            code = code_of(dt, f"tensor {name!r}")
            found = known[dtype] = (-dtype_rank(code), dt.newbyteorder("="), code)
        rows.append((found[0], name, tuple(map(int, shape)), *found[1:]))
    _check_names([r[1] for r in rows])
    rows.sort(key=itemgetter(0, 1))  # by dtype rank (highest first), then name
    if min(chain.from_iterable(r[2] for r in rows), default=0) < 0:
        name, shape = next((r[1], r[2]) for r in rows if min(r[2], default=0) < 0)
        raise SafetensorsError(f"tensor {name!r}: negative dimension in shape {shape}")
    header: dict[str, Any] = {}
    if metadata is not None:
        header[METADATA_KEY] = _checked_metadata(metadata)
    slots, position = [], 0
    for _, name, shape, dt, code in rows:
        size = math.prod(shape) * dt.itemsize
        slots.append(Slot(name, shape, dt, position, position + size))
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [position, position + size]}  # fmt: skip
        position += size
    return _encode_header(header), slots


def _check_names(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise SafetensorsError(f"tensor name {name!r} is not a string")
        if name == METADATA_KEY:
            raise SafetensorsError(f"{METADATA_KEY!r} is reserved and cannot name a tensor")
        if name in seen:
            raise SafetensorsError(f"tensor name {name!r} given twice")
        seen.add(name)


def _checked_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SafetensorsError(f"metadata {key!r}: {value!r}: keys and values must be strings")
    return {key: metadata[key] for key in sorted(metadata)}


def _encode_header(header: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SafetensorsError(f"a tensor name or metadata is not valid unicode: {exc}") from None
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


class AtomicFile:
    """A file written under a temporary name in the target's folder and renamed on commit.

    Args:
        path: The target path.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        folder = self.path.parent
        remove_stale_temps(folder, self.path.name)
        try:
            self._fd, name = tempfile.mkstemp(
                dir=folder, prefix=f".{self.path.name}.{os.getpid()}-", suffix=TEMP_SUFFIX
            )
        except OSError as exc:
            raise SafetensorsError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        self.temp = Path(name)

    def write(self, data: Any) -> None:
        """Write all of ``data`` (bytes or a buffer)."""
        view = memoryview(data).cast("B")
        while view:
            written = _write(self._fd, view)
            view = view[written:]

    def commit(self) -> None:
        """Flush to disk, give the file the usual permissions and move it over the target."""
        os.fsync(self._fd)
        os.fchmod(self._fd, _default_mode())
        os.close(self._fd)
        self._fd = -1
        os.replace(self.temp, self.path)
        fsync_folder(self.path.parent)

    def abort(self) -> None:
        """Close and remove the temporary file (the target is untouched)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(OSError):
            self.temp.unlink()


def _write(fd: int, view: memoryview) -> int:
    return os.write(fd, view)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the system allows."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temps(folder: Path, name: str | None = None, everyone: bool = False) -> None:
    """Remove temporary files that writers left in ``folder`` (a crash, kill -9).

    Args:
        folder: Where to look.
        name: Only temporary files of this target name (None: of any).
        everyone: Also those of processes still running (for a folder this process locked).
    """
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            match = _TEMP_NAME.fullmatch(path.name)
            if match is None or (name is not None and match["name"] != name):
                continue
            if everyone or not _running(int(match["pid"])):
                path.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
    """Context manager yielding an :class:`AtomicFile`; commits on success, aborts on error.

    Raises:
        SafetensorsError: an OS error while writing (a full disk, ...); the target is untouched.
    """
    out = AtomicFile(path)
    try:
        yield out
        out.commit()
    except OSError as exc:
        out.abort()
        raise SafetensorsError(f"{out.path}: write failed: {exc.strerror or exc}") from exc
    except BaseException:
        out.abort()
        raise


def host_array(values: Any, name: str, seed: int | None = None) -> np.ndarray:
    """The numpy array behind an array or a paramtool Tensor (a deferred one is computed).

    Args:
        values: A numpy or cupy array, or a Tensor.
        name: The tensor's name (chooses a deferred tensor's random stream).
        seed: The seed for a deferred tensor's values (None: the global seed).
    """
    if hasattr(values, "compute"):
        values = values.compute(name=name, seed=seed)
    if not isinstance(values, np.ndarray | np.generic):
        from paramtool.core.device import to_host  # noqa: PLC0415 - keeps format import-light

        values = to_host(values)
    return np.asarray(values)


def _little_endian(array: np.ndarray) -> np.ndarray:
    if array.dtype.byteorder == ">":
        return array.astype(array.dtype.newbyteorder("<"))
    if sys.byteorder == "big" and array.dtype.itemsize > 1 and array.dtype.byteorder != "<":
        return array.byteswap()
    return array


def write_array(out: AtomicFile, slot: Slot, array: np.ndarray) -> None:
    """Write one tensor's bytes: any strides or memory order, C order on disk, little-endian.

    Raises:
        SafetensorsError: the array's shape or dtype is not the one declared in the header.
    """
    if tuple(array.shape) != slot.shape or array.dtype.newbyteorder("=") != slot.dtype:
        raise SafetensorsError(
            f"tensor {slot.name!r}: values have shape {tuple(array.shape)} and dtype "
            f"{array.dtype}, but the header says {slot.shape} and {slot.dtype}"
        )
    array = _little_endian(array)
    if array.flags.c_contiguous or array.ndim == 0:
        out.write(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
        return
    row_bytes = max(1, array[0].nbytes) if array.shape[0] else 1
    step = max(1, CHUNK_BYTES // row_bytes)
    for start in range(0, array.shape[0], step):
        out.write(np.ascontiguousarray(array[start : start + step]).reshape(-1).view(np.uint8))


def write_stream(
    path: str | os.PathLike[str],
    specs: Iterable[Spec],
    produce: Callable[[str], Any],
    metadata: Mapping[str, str] | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    *,
    overlap: bool = True,
) -> list[Slot]:
    """Write a file from names, shapes and dtypes first, then each tensor's values in turn.

    ``produce(name)`` is called once per tensor, in file order, and its result (an array or a
    Tensor) turned into host values. With ``overlap``, that happens in a worker thread for the
    next tensor while the current one is written, so at most two tensors are held at a time;
    without it, each tensor is produced only after the previous one is written and released
    (one tensor at a time, no thread). The file's bytes are the same either way.

    Args:
        path: The target file; replaced atomically.
        specs: ``(name, shape, dtype)`` for every tensor.
        produce: Returns the values of the named tensor. With ``overlap`` it runs in a worker
            thread, never two calls at once.
        metadata: The ``__metadata__`` map, or None.
        seed: The seed for values produced as deferred Tensors (None: the global seed).
        progress: Called as ``progress(name, nbytes)`` after each tensor is written (in the
            calling thread).
        overlap: Compute the next tensor's values while writing the current one.

    Returns:
        The slots written, in file order.

    Raises:
        SafetensorsError: a bad spec, values not matching their spec, or a failed write. An
            exception raised by ``produce`` or a Tensor's computation propagates as it is.
    """
    header, slots = plan_layout(specs, metadata)

    def values(slot: Slot) -> np.ndarray:
        return host_array(produce(slot.name), slot.name, seed)

    with atomic_write(path) as out, _runner(overlap and len(slots) > 1) as submit:
        # A small tensor is made when its turn comes: handing it to the thread costs more.
        def start(slot: Slot) -> Any:
            small = slot.end - slot.begin <= SMALL_BYTES
            return _OnDemand(values, slot) if small else submit(values, slot)

        out.write(header)
        gathered = _Gathered(out)
        pending = start(slots[0]) if slots else None
        for i, slot in enumerate(slots):
            array = pending.result()  # type: ignore[union-attr]
            # Only now, with the previous tensor released, is the next one started.
            pending = start(slots[i + 1]) if i + 1 < len(slots) else None
            write_array(gathered, slot, array)  # type: ignore[arg-type]
            del array
            if progress is not None:
                progress(slot.name, slot.end - slot.begin)
        gathered.flush()
    return slots


#: Tensors of at most this many bytes are gathered and written together, up to
#: :data:`GATHER_BYTES` at a time: a file of 100,000 scalars costs a few writes, not 100,000.
SMALL_BYTES = 1024
GATHER_BYTES = 1 << 20


class _Gathered:
    """The ``write`` of an :class:`AtomicFile` that holds back small pieces and writes them
    together (a larger piece is written at once, after what is held)."""

    def __init__(self, out: AtomicFile) -> None:
        self.out, self.held = out, bytearray()

    def write(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        if view.nbytes > SMALL_BYTES:
            self.flush()
            self.out.write(view)
            return
        self.held += view
        if len(self.held) >= GATHER_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.held:
            self.out.write(self.held)
            self.held = bytearray()


class _OnDemand:
    """A call made when its result is asked for: the sequential stand-in for a Future."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._fn, self._args = fn, args

    def result(self) -> Any:
        return self._fn(*self._args)


@contextlib.contextmanager
def _runner(overlap: bool) -> Iterator[Callable[..., Any]]:
    """Yield ``submit(fn, *args)`` returning an object whose ``result()`` is ``fn(*args)``.

    With ``overlap`` the call starts at once in a single worker thread and ``result()`` waits
    for it (re-raising its exception); leaving the context waits for a call still running, so
    nothing is computed after the writer returns or raises. Without, the call is made by
    ``result()`` itself.
    """
    if not overlap:
        yield _OnDemand
        return
    with ThreadPoolExecutor(1, thread_name_prefix="paramtool-export") as pool:
        yield pool.submit


def save_file(
    tensors: Mapping[str, Any],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> None:
    """Save arrays or Tensors as one safetensors file (the reference's canonical layout).

    Args:
        tensors: Name -> numpy array or paramtool Tensor (deferred ones are computed while
            writing, the next one while the current one is written).
        path: The target file; replaced atomically.
        metadata: The ``__metadata__`` map (string values), or None.
        seed: The seed for deferred tensors' values (None: the global seed).
        progress: Called as ``progress(name, nbytes)`` after each tensor is written.

    Raises:
        SafetensorsError: a dtype the format cannot hold, bad metadata, or a failed write.

    Example:
        >>> save_file({"w": np.ones((2, 3), np.float32)}, "w.safetensors")
    """
    specs = [(name, tuple(t.shape), t.dtype) for name, t in tensors.items()]
    write_stream(path, specs, tensors.__getitem__, metadata, seed, progress)
