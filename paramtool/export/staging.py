"""Checkpoint-level atomicity: a sharded checkpoint is built beside its target and swapped in.

The shards and the index of a folder target are written into ``.NAME.paramtool-staging``, in
the same parent folder, each file itself written under a temporary name and renamed once
complete. When every file is in place, the staging folder and the target are exchanged in one
``renameat2(RENAME_EXCHANGE)`` (Linux; elsewhere two renames, undone by the next write if a crash
falls between them), and the old checkpoint, now under the staging name, is removed. A reader
therefore sees the old checkpoint or the new one, never a mix. Files of the old folder that are
not part of a checkpoint (``config.json``, a tokenizer) are carried into the new one (hard links
where possible).

A crash leaves the staging folder: the next write to the same target reuses the shards in it
that match its plan byte for byte in header and size (so a re-run completes only the missing
shards) and removes everything else. A staging folder is locked while in use, so two writes to
one target never mix.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from paramtool.checkpoint.checkpoint import SINGLE_FILE
from paramtool.checkpoint.safetensors.writer import fsync_folder, remove_stale_temps
from paramtool.errors import ExportError
from paramtool.export.plan import INDEX_FILE, SHARD_NAME, Plan, Shard

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def staging_folder(target: Path) -> Path:
    """Where a folder target is built: a hidden sibling of it."""
    return target.parent / f".{target.name}.paramtool-staging"


def _displaced(target: Path) -> Path:
    """Where the two-rename fallback parks the old checkpoint for a moment."""
    return target.parent / f".{target.name}.paramtool-old"


def is_checkpoint_file(name: str) -> bool:
    """Whether a file name is one a checkpoint folder's shards or index use, or a temporary
    file a writer of one of them left (``.model-00001-of-00002.safetensors.XXXX.tmp``)."""
    if name.startswith(".") and name.endswith(".tmp"):
        name = name[1:].rsplit(".", 2)[0]
    return name in (SINGLE_FILE, INDEX_FILE) or bool(SHARD_NAME.fullmatch(name))


@contextlib.contextmanager
def staged(target: Path) -> Iterator[Path]:
    """Lock and yield a clean staging folder for ``target``; remove it if the body fails.

    An interrupted staging folder (a crash) is kept for the next write, which reuses its
    complete shards; a failure this process sees (an error, SIGINT/SIGTERM/SIGHUP) removes it.

    Raises:
        ExportError: another write to ``target`` holds the staging folder.
    """
    _recover(target)
    folder = staging_folder(target)
    try:
        folder.mkdir(exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ExportError(f"{target}: cannot create {folder.name}: {exc.strerror or exc}") from None
    try:
        _lock(fd, target)
        try:
            yield folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    finally:
        os.close(fd)


def _lock(fd: int, target: Path) -> None:
    """Hold an exclusive lock on the staging folder (released when ``fd`` closes or the
    process dies); where the system has no ``flock`` (Windows), writes are not serialised."""
    try:
        import fcntl  # noqa: PLC0415
    except ImportError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ExportError(f"{target}: another export to it is running") from None


def keep_complete(folder: Path, plan: Plan) -> list[int]:
    """Remove what a staging folder holds that the plan does not; the shards still to write.

    A shard is complete when its file has exactly the planned header (names, shapes, dtypes,
    metadata with the checkpoint id) and the planned size: every shard file is renamed into
    the folder only once fully written and flushed, so such a file holds this plan's bytes.
    """
    wanted = {shard.file: shard for shard in plan.shards}
    done: set[str] = set()
    for path in folder.iterdir():
        shard = wanted.get(path.name)
        if shard is not None and _is_complete(path, shard):
            done.add(path.name)
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return [i for i, shard in enumerate(plan.shards) if shard.file not in done]


def _is_complete(path: Path, shard: Shard) -> bool:
    header, size = shard.layout()
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size != size:
            return False
        with path.open("rb") as f:
            return f.read(len(header)) == header
    except OSError:
        return False


def swap_into_place(folder: Path, target: Path) -> None:
    """Put the staged checkpoint at ``target`` in one step; remove the old one.

    Raises:
        ExportError: the target cannot be replaced (not a folder, a mount point, ...).
    """
    remove_stale_temps(folder, everyone=True)
    if target.is_dir() and not target.is_symlink():
        _carry_other_files(target, folder)
        if not _exchange(folder, target):
            _two_renames(folder, target)
        shutil.rmtree(folder, ignore_errors=True)
    elif target.exists() or target.is_symlink():
        raise ExportError(f"{target}: exists and is not a folder")
    else:
        os.rename(folder, target)
    fsync_folder(target.parent)


def _carry_other_files(old: Path, new: Path) -> None:
    for path in old.iterdir():
        if is_checkpoint_file(path.name) or (new / path.name).exists():
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.copytree(path, new / path.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(path, new / path.name)


def _link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    if Path(src).is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _exchange(a: Path, b: Path) -> bool:
    """``renameat2(a, b, RENAME_EXCHANGE)``: True when done, False when the system lacks it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: no exchange on this filesystem
        return False
    raise ExportError(f"{b}: cannot replace: {os.strerror(errno)}")


def _two_renames(folder: Path, target: Path) -> None:
    """Fallback swap; a crash between the renames is undone by :func:`_recover`."""
    parked = _displaced(target)
    os.rename(target, parked)
    os.rename(folder, target)
    os.rename(parked, folder)  # removed by the caller, as after an exchange


def _recover(target: Path) -> None:
    """Undo a fallback swap cut between its two renames: put the old checkpoint back."""
    parked = _displaced(target)
    if parked.is_dir() and not target.exists():
        os.rename(parked, target)
    elif parked.is_dir():
        shutil.rmtree(parked, ignore_errors=True)
