"""Torch names paramtool's core does not provide, met while a model file runs.

While :func:`recording` is active, a namespace module asked for a name it lacks (an attribute of
``torch``, a ``torch.*`` submodule, a package such as ``torchvision`` that needs PyTorch itself)
records the name with the file and line of the user's code that asked, and hands back a
placeholder, so that the file keeps running and one run finds every such name.

A name is *met* when it is imported or looked up, and *used* when its placeholder is called,
subclassed, iterated or has an attribute taken. A model file that imports ``torchvision`` for its
training script but builds its model without it is fine; one whose model needs it is not.
Outside :func:`recording`, a lacking name is an ordinary ``AttributeError``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

_PACKAGE = str(Path(__file__).resolve().parent.parent)


class MissingName(NamedTuple):
    """A torch name the core lacks, and where the user's code asked for it."""

    name: str
    file: str
    line: int

    def where(self) -> str:
        """``file:line``, or the file alone when the line is unknown."""
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class Record:
    """The missing names met while a model file ran, and those its code used."""

    met: list[MissingName] = field(default_factory=list)
    used: list[MissingName] = field(default_factory=list)

    def meet(self, entry: MissingName) -> None:
        """Note ``entry`` as met (once)."""
        if entry not in self.met:
            self.met.append(entry)

    def use(self, entry: MissingName) -> None:
        """Note ``entry`` as used (once)."""
        if entry not in self.used:
            self.used.append(entry)


_record: Record | None = None


@contextlib.contextmanager
def recording() -> Iterator[Record]:
    """Record the names met and used while the block runs."""
    global _record
    outer, _record = _record, Record()
    try:
        yield _record
    finally:
        _record = outer


def missing(name: str) -> Placeholder:
    """Record ``name`` as met at the caller's line in user code; return its placeholder.

    Raises:
        AttributeError: when not recording (an ordinary missing attribute).
    """
    if _record is None:
        raise AttributeError(f"paramtool's torch namespace has no attribute {name!r}")
    entry = MissingName(name, *_user_location())
    _record.meet(entry)
    return Placeholder(name, entry)


class MissingModule(ModuleNotFoundError):
    """A package built on PyTorch that is not installed at all (``apex``, ``flash_attn``).

    Raised at the import, as Python would, so a file's ``try: import apex`` / ``except
    ImportError`` fallback works; the name is recorded as met, and named with what to install
    if the file does not catch it.
    """

    def __init__(self, name: str, entry: MissingName) -> None:
        super().__init__(f"No module named '{name}'", name=name)
        self.entry = entry


def missing_module(name: str) -> MissingModule:
    """Record the package ``name`` as met at the importing line; the error to raise there."""
    if _record is None:
        raise ModuleNotFoundError(f"No module named '{name}'", name=name)
    entry = MissingName(name, *_user_location())
    _record.meet(entry)
    return MissingModule(name, entry)


def _user_location() -> tuple[str, int]:
    """The innermost frame outside paramtool and the import machinery."""
    frame = sys._getframe(2)
    while frame is not None:
        file = frame.f_code.co_filename
        if not file.startswith(("<frozen", _PACKAGE)) and "importlib" not in file:
            return file, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0


def _use(entry: MissingName) -> None:
    if _record is not None:
        _record.use(entry)


class Placeholder:
    """Stands for a missing name: callable, subclassable, with placeholder attributes."""

    def __init__(self, name: str, entry: MissingName) -> None:
        self._name, self._entry = name, entry

    def __getattr__(self, attr: str) -> Placeholder:
        if attr.startswith("__"):
            raise AttributeError(attr)
        _use(self._entry)
        return Placeholder(f"{self._name}.{attr}", self._entry)

    def __call__(self, *args: Any, **kwargs: Any) -> Placeholder:
        _use(self._entry)
        return Placeholder(f"{self._name}()", self._entry)

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        _use(self._entry)
        return (object,)

    def __iter__(self) -> Iterator[Any]:
        _use(self._entry)
        return iter(())

    def __instancecheck__(self, instance: Any) -> bool:
        return False  # nothing paramtool builds is an instance of a class it does not have

    def __subclasscheck__(self, subclass: Any) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<missing {self._name}>"


class PlaceholderModule(ModuleType):
    """A missing module (``torchvision``, ``torch.fft``): every attribute is a placeholder."""

    def __init__(self, name: str, entry: MissingName) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self._entry = entry

    def __getattr__(self, attr: str) -> Placeholder:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Placeholder(f"{self.__name__}.{attr}", self._entry)
