"""``torch.nn.modules`` and every ``torch.nn.modules.<file>`` path: one namespace holding the
layers with the private base classes and helpers files import from there (``_BatchNorm``,
``_ConvNd``, ``_Loss``, ``_pair``, ...)."""

from __future__ import annotations

from typing import Any

import paramtool.nn as _nn
from paramtool.nn import *  # noqa: F403
from paramtool.nn.layers import (  # noqa: F401 - torch's private names, imported by model files
    _utils,
    activation,
    conv,
    dropout,
    loss,
    normalization,
    padding,
    pooling,
    rnn,
    transformer,
)
from paramtool.nn.layers._utils import _ntuple, _pair, _single, _triple  # noqa: F401
from paramtool.nn.layers.conv import _ConvNd  # noqa: F401
from paramtool.nn.layers.dropout import _DropoutNd  # noqa: F401
from paramtool.nn.layers.normalization import _InstanceNorm, _NormBase  # noqa: F401
from paramtool.nn.layers.pooling import (  # noqa: F401
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _MaxPoolNd,
)
from paramtool.nn.layers.rnn_cells import RNNCellBase  # noqa: F401
from paramtool.nn.layers.transformer import _get_clones  # noqa: F401
from paramtool.nn.module import Module  # noqa: F401
from paramtool.torch import missing as _missing

_quadruple = _ntuple(4, "_quadruple")


def __getattr__(name: str) -> Any:
    """A private name of a layer file (``_BatchNorm``), else a recorded missing name."""
    if name.startswith("__"):
        raise AttributeError(name)
    layer_files = (normalization, conv, pooling, dropout, rnn, transformer, loss, padding,
                   activation, _utils)  # fmt: skip
    for layer_file in layer_files:
        value = getattr(layer_file, name, None)
        if value is not None:
            return value
    value = getattr(_nn, name, None)
    if value is not None:
        return value
    return _missing.missing(f"torch.nn.modules.{name}")
