"""``paramtool.nn``: Module, Parameter, containers, layers and init, as in ``torch.nn``."""

from __future__ import annotations

import importlib

from paramtool.nn.parameter import Buffer, Parameter

# Transitional: pieces still being written are imported when present.
for _name, _attrs in {
    "paramtool.nn.module": ("Module",),
    "paramtool.nn.containers": (
        "Sequential",
        "ModuleList",
        "ModuleDict",
        "ParameterList",
        "ParameterDict",
    ),
}.items():
    try:
        _mod = importlib.import_module(_name)
    except ImportError:
        continue
    for _attr in _attrs:
        if hasattr(_mod, _attr):
            globals()[_attr] = getattr(_mod, _attr)
try:
    from paramtool.nn import init  # noqa: F401
except ImportError:
    pass
try:
    from paramtool.nn.layers import *  # noqa: F403
except ImportError:
    pass
