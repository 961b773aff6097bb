"""Names a package exports but imports only on first use (PEP 562 module ``__getattr__``).

A package whose heavy part is needed by few commands (reading a checkpoint never needs the nn
core) lists those names here instead of importing them: ``from package import name`` and
``package.name`` work as before, importing the module behind them the first time.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any


def lazy_names(package: str, module: str, names: Iterable[str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` giving ``names`` of ``module`` on first use.

    Args:
        package: The package's ``__name__``; each name, once imported, is kept in it.
        module: The module holding the names.
        names: The names exported this way.
    """
    wanted = frozenset(names)

    def __getattr__(name: str) -> Any:
        if name not in wanted:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
