"""``paramtool.nn``: Module, Parameter, containers, layers and init, as in ``torch.nn``."""

from __future__ import annotations

from paramtool.nn import functional, init, layers
from paramtool.nn.containers import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from paramtool.nn.layers import *  # noqa: F403
from paramtool.nn.module import Module
from paramtool.nn.parameter import Buffer, Parameter

__all__ = [
    "Buffer", "Module", "ModuleDict", "ModuleList", "Parameter", "ParameterDict", "ParameterList",
    "Sequential", "functional", "init",
]  # fmt: skip
__all__ += layers.__all__
