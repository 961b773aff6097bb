"""paramtool: inspect, initialise, tie-check and export neural-network parameters.

``import paramtool as torch`` is enough for a model definition that uses the supported pieces:
``paramtool.nn`` mirrors ``torch.nn``, tensors are deferred until their values are needed, and
checkpoints are safetensors files.
"""

from __future__ import annotations

from typing import Any

from paramtool.core import autograd, cuda, ops
from paramtool.core import dtypes as _dtypes
from paramtool.core.autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from paramtool.core.device import Device
from paramtool.core.device import Device as device  # noqa: N813 - torch.device
from paramtool.core.dtypes import (
    bool,
    double,
    float,
    float16,
    float32,
    float64,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
    uint16,
    uint32,
    uint64,
)
from paramtool.core.factories import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from paramtool.core.random import Generator, initial_seed, manual_seed
from paramtool.core.tensor import Size, Tensor
from paramtool.core.type_names import typename as typename
from paramtool.errors import ParamtoolError

# isort: split
from paramtool import nn  # noqa: E402 - nn builds on everything above

dtype = type(float32)
# The tensor functions under torch's names: paramtool.exp, paramtool.cat, paramtool.einsum, ...
globals().update({name: getattr(ops, name) for name in ops.__all__})


def __getattr__(name: str) -> Any:
    """``paramtool.bfloat16`` and the float8 dtypes: ml_dtypes is imported on first use."""
    if name in _dtypes.EXTENDED:
        return getattr(_dtypes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "Device", "Generator", "ParamtoolError", "Size", "Tensor", "arange", "bfloat16", "bool",
    "cuda", "device", "double", "dtype", "empty", "empty_like", "enable_grad", "float",
    "float16", "float32", "float64", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
    "float8_e5m2fnuz", "float8_e8m0fnu", "from_numpy", "full", "full_like", "half",
    "inference_mode", "initial_seed", "int", "int16", "int32", "int64", "int8",
    "is_grad_enabled", "long", "manual_seed", "nn", "no_grad", "ones", "ones_like", "rand",
    "rand_like", "randn", "randn_like", "short", "tensor", "uint16", "uint32", "uint64", "uint8",
    "zeros", "zeros_like",
]  # fmt: skip
__all__ += [*ops.__all__, "as_tensor", "autograd", "eye", "linspace", "logspace", "randint",
            "randperm", "set_grad_enabled"]  # fmt: skip
