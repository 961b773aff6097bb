"""Running a model file: as a fresh module, as ``python model.py`` would, its failures one line.

The file runs with its folder on ``sys.path`` (so it imports its neighbours) and
``sys.argv == [path]`` (so a script's ``argparse`` sees no paramtool options). A file inside a
package (its folder holds ``__init__.py``, as ``unet/unet_model.py`` or ``mingpt/model.py``) is
imported as that package's module, so its relative imports (``from .unet_parts import *``) and
absolute ones (``from mingpt.utils import CfgNode``) work. Whatever the file raises —
``SystemExit`` and ``KeyboardInterrupt`` included — is a :class:`ModelLoadError` naming the file
and the line in the user's code.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import io
import itertools
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TextIO

from paramtool.errors import ModelLoadError

_counter = itertools.count()


class EscapedOutput(io.TextIOBase):
    """A text stream writing to ``target`` with control characters shown escaped.

    What a model file prints is data: an escape sequence in it (``\\x1b[31m``) reaches the
    terminal as text, never as a command; newlines and tabs pass as they are.
    """

    _TABLE = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)] if c not in (9, 10)}

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self._target = target

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._target.write(text.translate(self._TABLE))
        return len(text)

    def flush(self) -> None:
        self._target.flush()


class _ProcessExit(SystemExit):
    """``os._exit`` called by a model file, turned into an exception paramtool can report."""


@contextlib.contextmanager
def contained() -> Iterator[None]:
    """While a model file runs and builds its model, keep it from ending or outliving paramtool.

    ``os._exit`` raises instead of ending the process without a word, exit handlers the file
    registers with ``atexit`` are dropped afterwards (they would print after paramtool's own
    output), standard input reads as empty (``input()`` never waits), and the working directory
    is restored if the file changed it, as are the recursion limit and standard output and
    error (reopened if the file closed them).
    """
    saved_exit, saved_register, cwd = os._exit, atexit.register, os.getcwd()
    limit, streams = sys.getrecursionlimit(), (sys.stdout, sys.stderr)
    saved_stdin, sys.stdin = sys.stdin, io.StringIO()
    registered: list[object] = []

    def no_exit(code: int) -> None:
        raise _ProcessExit(code)

    def register(func: object, *args: object, **kwargs: object) -> object:
        registered.append(func)
        return saved_register(func, *args, **kwargs)  # type: ignore[arg-type]

    os._exit, atexit.register = no_exit, register  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit, atexit.register = saved_exit, saved_register  # type: ignore[assignment]
        sys.stdin = saved_stdin
        sys.setrecursionlimit(limit)
        sys.stdout, sys.stderr = (_reopened(s, fd) for fd, s in enumerate(streams, start=1))
        for func in registered:
            atexit.unregister(func)  # type: ignore[arg-type]
        with contextlib.suppress(OSError):
            if os.getcwd() != cwd:
                os.chdir(cwd)


def _reopened(stream: TextIO, fd: int) -> TextIO:
    """``stream``, or a new one on the same descriptor if it was closed."""
    if not stream.closed:
        return stream
    return open(fd, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115


def run_file(path: str | os.PathLike[str]) -> ModuleType:
    """Run a Python file as a new, uniquely named module and return it.

    Raises:
        ModelLoadError: the file is missing, is not a ``.py`` file, or raises (any exception,
            ``SystemExit`` and ``KeyboardInterrupt`` included) while it runs.
    """
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            kind = "is a folder, not a model file"
        elif path.exists():
            kind = "is not a regular file (a FIFO or a device); a model file must be a file"
        elif path.is_symlink():
            kind = "is a symbolic link to nothing (a missing file or a loop of links)"
        else:
            kind = "no such file"
        raise ModelLoadError(f"{path}: {kind}")
    if path.suffix != ".py":
        raise ModelLoadError(f"{path}: a model definition must be a .py file")
    package = _package_module_name(path)
    if package is not None:
        return _import_in_package(path, *package)
    name = f"paramtool_model_{next(_counter)}_{_safe_stem(path)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - .py files always get a spec
        raise ModelLoadError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    with _failures_named(path, forget=name), on_sys_path(path.resolve().parent), _argv(path):
        spec.loader.exec_module(module)
    return module


def _package_module_name(path: Path) -> tuple[Path, str] | None:
    """(the folder above the top package, the file's dotted module name) for a package file."""
    folder = path.resolve().parent
    parts = [path.stem]
    while (folder / "__init__.py").is_file() and folder.name.isidentifier():
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) == 1 or not all(part.isidentifier() for part in parts):
        return None
    loaded = sys.modules.get(parts[0])
    if loaded is not None and not _is_under(loaded, folder):
        return None  # an installed package of that name: run the file on its own
    return folder, ".".join(parts)


def _import_in_package(path: Path, root: Path, dotted: str) -> ModuleType:
    """Import the file as ``dotted``, its package's ``__init__`` first, fresh each time."""
    top = dotted.partition(".")[0]
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]
    with _failures_named(path), on_sys_path(root), _argv(path):
        return importlib.import_module(dotted)


def _is_under(module: ModuleType, folder: Path) -> bool:
    file = getattr(module, "__file__", None)
    return bool(file) and Path(file).resolve().is_relative_to(folder)


@contextlib.contextmanager
def _failures_named(path: Path, forget: str | None = None) -> Iterator[None]:
    """Turn anything the file raises into one ModelLoadError naming the file and line."""
    try:
        yield
    except SyntaxError as exc:
        sys.modules.pop(forget or "", None)
        where = f"{exc.filename or path}:{exc.lineno}" if exc.lineno else str(path)
        raise ModelLoadError(f"{where}: syntax error: {exc.msg}") from exc
    except BaseException as exc:  # noqa: BLE001 - a model file cannot end paramtool
        sys.modules.pop(forget or "", None)
        raise ModelLoadError(describe_failure(exc, path, "while running the file")) from exc


@contextlib.contextmanager
def _argv(path: Path) -> Iterator[None]:
    """``sys.argv`` as ``python path`` gives it."""
    saved = sys.argv
    sys.argv = [str(path)]
    try:
        yield
    finally:
        sys.argv = saved


def _safe_stem(path: Path) -> str:
    return "".join(c if c.isalnum() else "_" for c in path.stem)


@contextlib.contextmanager
def on_sys_path(folder: Path) -> Iterator[None]:
    """``folder`` first on ``sys.path`` while the block runs."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def describe_failure(exc: BaseException, path: Path, when: str) -> str:
    """One line: the user's file and line, what was running, and the exception."""
    where = str(path)
    frame = _user_frame(exc, path)
    if frame is not None:
        where = f"{path}:{frame.lineno}"
        if frame.name != "<module>":
            when = f"{when}, in {frame.name}()"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if isinstance(exc, _ProcessExit):
        detail = f"the model file called os._exit({exc.code!r})"
    elif isinstance(exc, SystemExit):
        detail = f"the model file called sys.exit({exc.code!r})"
    return f"{where}: {detail} ({when})"


def has_user_frame(exc: BaseException, path: Path) -> bool:
    """Whether ``exc`` passed through code of the model file (or of its folder)."""
    return _user_frame(exc, path) is not None


def _user_frame(exc: BaseException, path: Path) -> traceback.FrameSummary | None:
    """The deepest traceback frame that runs in the model file (or its folder)."""
    target = path.resolve()
    folder = target.parent
    best: traceback.FrameSummary | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            file = Path(frame.filename).resolve()
        except (OSError, ValueError):
            continue
        if file == target or best is None and file.parent == folder:
            best = frame
    return best
