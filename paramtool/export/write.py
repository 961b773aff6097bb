"""Writing a checkpoint from a source: plan, write each shard, index last, swap into place.

:func:`write_checkpoint` is the one path every export takes (one process, local workers, a
Dask cluster): a single ``.safetensors`` target is one file replaced atomically; a folder
target is planned, its shards written into a staging folder (by this process or by workers,
each shard a whole file renamed into place when complete), the index written when every shard
is in, and the folder swapped into place (see :mod:`paramtool.export.staging`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from paramtool.checkpoint.safetensors.writer import Progress, atomic_write, write_stream
from paramtool.errors import ExportError
from paramtool.export.plan import INDEX_FILE, Plan, make_plan
from paramtool.export.source import Source
from paramtool.export.staging import keep_complete, staged, swap_into_place


def check_target(out: str | os.PathLike[str], folder: bool) -> Path:
    """Refuse an output path before anything is touched.

    Args:
        out: The path given.
        folder: Whether a folder is to be written there (else one ``.safetensors`` file).

    Returns:
        The path.

    Raises:
        ExportError: an empty path, one with a NUL, the filesystem root or a folder holding the
            current directory (it would be swapped away), a symbolic link to a folder, a
            mount point, a path whose kind does not match (a FIFO or a device is neither a
            file nor a folder), or one below a file.
    """
    text = os.fspath(out)
    if not text.strip():
        raise ExportError("the output path is empty")
    if "\0" in text:
        raise ExportError(f"{text!r}: a path cannot hold a NUL character")
    path = Path(text)
    try:
        resolved = path.resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 reports a link loop as RuntimeError
        raise ExportError(f"{text}: cannot be resolved: {exc}") from None
    if folder and resolved == Path(resolved.anchor):
        raise ExportError(f"{text}: is the filesystem root; name a checkpoint folder")
    if folder and Path.cwd().is_relative_to(resolved):
        raise ExportError(f"{text}: holds the current folder, which replacing it would move away; name another folder")  # fmt: skip
    if folder and path.is_symlink():
        raise ExportError(f"{text}: is a symbolic link; give the folder it points to")
    if folder and os.path.ismount(path):
        raise ExportError(f"{text}: is a mount point, which cannot be replaced; name a folder in it")  # fmt: skip
    if folder and path.exists() and not path.is_dir():
        raise ExportError(f"{text}: exists and is not a folder")
    if not folder and path.is_dir():
        raise ExportError(f"{text}: is a folder; a .safetensors file was asked for")
    if not folder and path.exists() and not path.is_file():  # a FIFO, a device, a socket
        raise ExportError(f"{text}: exists and is not a regular file")
    above = next((p for p in path.absolute().parents if os.path.lexists(p)), None)
    if above is not None and not above.is_dir():
        raise ExportError(f"{text}: {above} is not a folder")
    return path


def write_shard(
    source: Source,
    plan: Plan,
    index: int,
    folder: str | os.PathLike[str],
    progress: Progress | None = None,
    overlap: bool = True,
) -> tuple[str, int]:
    """Write shard ``index`` of ``plan`` into ``folder``: from the plan and the source alone.

    The file is written under a temporary name and renamed once complete, so any process may
    write any shard, and a file under a shard's name is always whole.

    Args:
        source: The tensors' values.
        plan: The checkpoint's plan.
        index: Which shard.
        folder: Where its file goes.
        progress: Called as ``progress(name, nbytes)`` after each tensor.
        overlap: Compute the next tensor while writing the current one (two tensors held).

    Returns:
        ``(file name, bytes of tensor data)``.
    """
    shard = plan.shards[index]
    specs = [(t.name, t.shape, t.dtype) for t in shard.tensors]
    path = Path(folder) / shard.file
    write_stream(path, specs, source.values, shard.metadata, progress=progress, overlap=overlap)
    return shard.file, shard.nbytes


def write_checkpoint(
    source: Source,
    out: str | os.PathLike[str],
    max_shard_size: int | str | None = None,
    *,
    metadata: Mapping[str, str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Write ``source`` to ``out``: one file, or a sharded folder in the Hugging Face layout.

    ``out`` ending in ``.safetensors`` with no ``max_shard_size`` is one file; anything else is
    a folder (``model.safetensors``, or shards and ``model.safetensors.index.json``). A crash at
    any point leaves the old checkpoint or the new one; SIGTERM and SIGHUP clean up as SIGINT.

    Args:
        source: What to write (a :class:`~paramtool.export.source.Source`).
        out: The target file or folder.
        max_shard_size: Bytes per shard (``"5GB"``); None: one file (a folder when ``out`` does
            not end in ``.safetensors``: "5GB").
        metadata: User metadata for every file and the index.
        workers: Write shards with this many local worker processes (Dask).
        scheduler: Write shards on the Dask cluster at this address (``tcp://host:8786``).
        progress: Called as ``progress(name, nbytes)`` for each tensor (one process) or each
            shard (workers) written.

    Returns:
        The files written (shards, then the index when there is one).

    Raises:
        ExportError: a bad target, or Dask missing; SafetensorsError: a bad size or metadata, a
            failed write (the old checkpoint is then untouched).
    """
    single = str(out).endswith(".safetensors") and max_shard_size is None
    target = check_target(out, folder=not single)
    if single:
        plan = make_plan(source, None, metadata, single_file=target.name)
    else:
        plan = make_plan(source, max_shard_size or "5GB", metadata)
    with _signals_interrupt(), _made_parents(target.parent):
        if single:
            _run(source, plan, [0], target.parent, workers, scheduler, progress)
            return [target]
        with staged(target) as folder:
            _run(source, plan, keep_complete(folder, plan), folder, workers, scheduler, progress)
            if plan.indexed:
                with atomic_write(folder / INDEX_FILE) as index:
                    index.write(plan.index_bytes())
            with signals_held():  # once swapped, the new checkpoint is in place: report it
                swap_into_place(folder, target)
    files = [target / shard.file for shard in plan.shards]
    return files + [target / INDEX_FILE] if plan.indexed else files


@contextlib.contextmanager
def _made_parents(folder: Path) -> Iterator[None]:
    """Create ``folder`` and its missing parents; a write that fails removes those it made
    (when empty), so a failed write leaves nothing behind."""
    made = []
    for parent in (folder, *folder.parents):
        if parent.exists() or parent.is_symlink():
            break
        made.append(parent)  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for parent in made:
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


def _run(
    source: Source,
    plan: Plan,
    todo: list[int],
    folder: Path,
    workers: int | None,
    scheduler: str | None,
    progress: Progress | None,
) -> None:
    if workers is None and scheduler is None:
        for index in todo:
            write_shard(source, plan, index, folder, progress)
        return
    from paramtool.export.workers import run_on_dask  # noqa: PLC0415 - Dask only when asked

    run_on_dask(source, plan, todo, folder, workers=workers, scheduler=scheduler, done=progress)


#: Signals that end a command: held while a step that must not be cut runs.
HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While writing, SIGTERM and SIGHUP raise KeyboardInterrupt as SIGINT does, so the
    temporary and staging files are removed before the process ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_held() -> Iterator[list[str]]:
    """Hold SIGINT, SIGTERM and SIGHUP while the block runs; yield the names of those that came
    (the caller acts on them after). A second signal raises KeyboardInterrupt at once."""
    held: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def hold(signum: int, frame: object) -> None:
        if held:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        held.append(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, hold) for sig in HELD}
    try:
        yield held
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
