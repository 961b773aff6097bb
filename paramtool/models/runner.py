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

import contextlib
import importlib
import importlib.util
import itertools
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TextIO

from paramtool.errors import ModelLoadError, ParamtoolError
from paramtool.models.containment import ProcessExit, contained

_counter = itertools.count()


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
    if isinstance(exc, ProcessExit):
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


@contextlib.contextmanager
def model_code(
    path: str | os.PathLike[str], when: str, output: TextIO | None = None
) -> Iterator[None]:
    """Run a block that calls the model file's code again (its ``forward``, ``example_input``,
    the traversals a model class may override) as the file itself runs: contained, and what it
    raises that passed through the file's code a :class:`ModelLoadError` naming the file and line.

    paramtool's own errors pass as they are, and so does an exception that never passed
    through the model file's code (paramtool's bug: its traceback is kept).

    Args:
        path: The model file.
        when: What was running, for the message ("while running forward").
        output: Where its prints go (default: stderr, control characters escaped).
    """
    path = Path(path)
    with contained(output):
        try:
            yield
        except ParamtoolError:
            raise
        except BaseException as exc:
            if not has_user_frame(exc, path):
                raise
            raise ModelLoadError(describe_failure(exc, path, when)) from exc
