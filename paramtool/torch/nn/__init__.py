"""``torch.nn``: paramtool's Module, Parameter, containers and layers under torch's names."""

from __future__ import annotations

import importlib
from typing import Any

import paramtool.nn as _nn
from paramtool.nn import *  # noqa: F403
from paramtool.nn import init
from paramtool.torch import missing as _missing

_SUBMODULES = {
    "functional": "paramtool.nn.functional",
    "parameter": "paramtool.nn.parameter",
    "modules": "paramtool.torch.nn.modules",
    "parallel": "paramtool.nn.layers.parallel",
    "utils": "paramtool.torch.nn.utils",
}


def __getattr__(name: str) -> Any:
    """Submodules on first use; a layer paramtool lacks is recorded as missing."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _SUBMODULES:
        try:
            return importlib.import_module(_SUBMODULES[name])
        except ModuleNotFoundError:
            return _missing.missing(f"torch.nn.{name}")
    value = getattr(_nn, name, None)
    if value is not None:
        return value
    return _missing.missing(f"torch.nn.{name}")


__all__ = [*_nn.__all__, "init"]
