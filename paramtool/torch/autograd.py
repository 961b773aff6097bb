"""``torch.autograd``: paramtool's autograd engine under torch's names."""

from __future__ import annotations

from typing import Any

from paramtool.core import autograd as _engine
from paramtool.core.autograd import enable_grad, no_grad, set_grad_enabled
from paramtool.core.tensor import Tensor
from paramtool.torch import missing as _missing


class _VariableMeta(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Tensor)


class Variable(metaclass=_VariableMeta):
    """``torch.autograd.Variable(t, requires_grad=False)``: the tensor itself (as in PyTorch)."""

    def __new__(cls, data: Tensor, requires_grad: bool = False, volatile: bool = False) -> Any:
        if requires_grad:
            data.requires_grad_(True)
        return data


def __getattr__(name: str) -> Any:
    """``Function``, ``grad``, ``backward``, ... from the engine, else a recorded missing name."""
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(_engine, name, None)
    if value is not None and not name.startswith("_"):
        return value
    return _missing.missing(f"torch.autograd.{name}")


__all__ = ["Variable", "enable_grad", "no_grad", "set_grad_enabled"]
