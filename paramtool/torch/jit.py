"""``torch.jit``: compiling decorators as pass-through (a scripted function is the function)."""

from __future__ import annotations

from typing import Any, Final, Generic, TypeVar

from paramtool.nn.module import Module
from paramtool.torch.functions import pass_through

script = pass_through
ignore = pass_through
unused = pass_through
export = pass_through
script_method = pass_through
interface = pass_through
ScriptModule = Module

_T = TypeVar("_T")


class Attribute(Generic[_T]):
    """``torch.jit.Attribute(value, type)``: the value itself."""

    def __new__(cls, value: Any, type: Any = None) -> Any:  # noqa: A002 - torch's name
        return value


def is_scripting() -> bool:
    """Never scripting: the model file runs as Python."""
    return False


def is_tracing() -> bool:
    """Never tracing."""
    return False


def annotate(the_type: Any, the_value: Any) -> Any:
    """``torch.jit.annotate``: the value."""
    return the_value


__all__ = [
    "Attribute", "Final", "ScriptModule", "annotate", "export", "ignore", "interface",
    "is_scripting", "is_tracing", "script", "script_method", "unused",
]  # fmt: skip
