"""Torch names paramtool's core does not provide, met while a model file runs.

While :func:`recording` is active, a namespace module asked for a name it lacks (an attribute of
``torch``, a ``torch.*`` submodule, a package such as ``torchvision`` that needs PyTorch itself)
records the name with the file and line of the user's code that asked, and hands back a
:class:`Placeholder` so that the file can keep running and every such name is found in one run.
Outside :func:`recording`, a lacking name is an ordinary ``AttributeError``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

_PACKAGE = str(Path(__file__).resolve().parent.parent)
_recorded: list[MissingName] | None = None


class MissingName(NamedTuple):
    """A torch name the core lacks, and where the user's code asked for it."""

    name: str
    file: str
    line: int

    def where(self) -> str:
        """``file:line``, or the file alone when the line is unknown."""
        return f"{self.file}:{self.line}" if self.line else self.file


@contextlib.contextmanager
def recording() -> Iterator[list[MissingName]]:
    """Record the names met while the block runs; yields the list they are appended to."""
    global _recorded
    outer, _recorded = _recorded, []
    try:
        yield _recorded
    finally:
        _recorded = outer


def is_recording() -> bool:
    """True inside :func:`recording`."""
    return _recorded is not None


def missing(name: str) -> Placeholder:
    """Record ``name`` at the caller's line in user code; return its placeholder.

    Raises:
        AttributeError: when not recording (an ordinary missing attribute).
    """
    if _recorded is None:
        raise AttributeError(f"paramtool's torch namespace has no attribute {name!r}")
    file, line = _user_location()
    entry = MissingName(name, file, line)
    if entry not in _recorded:
        _recorded.append(entry)
    return Placeholder(name)


def _user_location() -> tuple[str, int]:
    """The innermost frame outside paramtool and the import machinery."""
    frame = sys._getframe(2)
    while frame is not None:
        file = frame.f_code.co_filename
        if not file.startswith(("<frozen", _PACKAGE)) and "importlib" not in file:
            return file, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0


class Placeholder:
    """Stands for a missing name: callable, subclassable, with placeholder attributes."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Placeholder:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Placeholder(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Placeholder:
        return Placeholder(f"{self._name}()")

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        return (object,)

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __repr__(self) -> str:
        return f"<missing {self._name}>"


class PlaceholderModule(ModuleType):
    """A missing module (``torchvision``, ``torch.fft``): every attribute is a placeholder."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []

    def __getattr__(self, attr: str) -> Placeholder:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Placeholder(f"{self.__name__}.{attr}")
