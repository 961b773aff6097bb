"""paramtool: inspect, initialise, tie-check and export neural-network parameters.

``import paramtool as torch`` is enough for a model definition that uses the supported pieces:
``paramtool.nn`` mirrors ``torch.nn``, tensors are deferred until their values are needed, and
checkpoints are safetensors files.

The torch-shaped names below are imported on first use (PEP 562), so that ``import paramtool``
and the command line start without loading numpy, and bfloat16/float8 without ml_dtypes, until
they are needed. ``paramtool.zeros`` is ``paramtool.core.factories.zeros`` either way.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Top-level name -> where it lives: ``module:attribute``, or a module itself.
_NAMES: dict[str, str] = {
    "autograd": "paramtool.core.autograd",
    "enable_grad": "paramtool.core.autograd:enable_grad",
    "inference_mode": "paramtool.core.autograd:inference_mode",
    "is_grad_enabled": "paramtool.core.autograd:is_grad_enabled",
    "no_grad": "paramtool.core.autograd:no_grad",
    "set_grad_enabled": "paramtool.core.autograd:set_grad_enabled",
    "cuda": "paramtool.core.cuda",
    "ops": "paramtool.core.ops",
    "Device": "paramtool.core.device:Device",
    "device": "paramtool.core.device:Device",
    "bool": "paramtool.core.dtypes:bool",
    "double": "paramtool.core.dtypes:double",
    "float": "paramtool.core.dtypes:float",
    "float16": "paramtool.core.dtypes:float16",
    "float32": "paramtool.core.dtypes:float32",
    "float64": "paramtool.core.dtypes:float64",
    "half": "paramtool.core.dtypes:half",
    "int": "paramtool.core.dtypes:int",
    "int16": "paramtool.core.dtypes:int16",
    "int32": "paramtool.core.dtypes:int32",
    "int64": "paramtool.core.dtypes:int64",
    "int8": "paramtool.core.dtypes:int8",
    "long": "paramtool.core.dtypes:long",
    "short": "paramtool.core.dtypes:short",
    "uint16": "paramtool.core.dtypes:uint16",
    "uint32": "paramtool.core.dtypes:uint32",
    "uint64": "paramtool.core.dtypes:uint64",
    "uint8": "paramtool.core.dtypes:uint8",
    "arange": "paramtool.core.factories:arange",
    "as_tensor": "paramtool.core.factories:as_tensor",
    "empty": "paramtool.core.factories:empty",
    "empty_like": "paramtool.core.factories:empty_like",
    "eye": "paramtool.core.factories:eye",
    "from_numpy": "paramtool.core.factories:from_numpy",
    "full": "paramtool.core.factories:full",
    "full_like": "paramtool.core.factories:full_like",
    "linspace": "paramtool.core.factories:linspace",
    "logspace": "paramtool.core.factories:logspace",
    "ones": "paramtool.core.factories:ones",
    "ones_like": "paramtool.core.factories:ones_like",
    "rand": "paramtool.core.factories:rand",
    "rand_like": "paramtool.core.factories:rand_like",
    "randint": "paramtool.core.factories:randint",
    "randn": "paramtool.core.factories:randn",
    "randn_like": "paramtool.core.factories:randn_like",
    "randperm": "paramtool.core.factories:randperm",
    "tensor": "paramtool.core.factories:tensor",
    "zeros": "paramtool.core.factories:zeros",
    "zeros_like": "paramtool.core.factories:zeros_like",
    "Generator": "paramtool.core.random:Generator",
    "initial_seed": "paramtool.core.random:initial_seed",
    "manual_seed": "paramtool.core.random:manual_seed",
    "Size": "paramtool.core.tensor:Size",
    "Tensor": "paramtool.core.tensor:Tensor",
    "typename": "paramtool.core.type_names:typename",
    "ParamtoolError": "paramtool.errors:ParamtoolError",
    "nn": "paramtool.nn",
    "optim": "paramtool.optim",
    "dtype": "paramtool.core.dtypes:DType",
}
#: The tensor functions under torch's names (paramtool.exp, cat, einsum, ...) come from here.
_OPS = "paramtool.core.ops"


def _resolve(name: str) -> Any:
    target = _NAMES.get(name)
    if target is None:
        dtypes = importlib.import_module("paramtool.core.dtypes")
        if name in dtypes.EXTENDED:
            return getattr(dtypes, name)  # imports ml_dtypes
        ops = importlib.import_module(_OPS)
        if name not in ops.__all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(ops, name)
    module, _, attribute = target.partition(":")
    value = importlib.import_module(module)
    return getattr(value, attribute) if attribute else value


def __getattr__(name: str) -> Any:
    """Import a top-level name on first use and keep it."""
    if name == "__all__":
        ops = importlib.import_module(_OPS)
        dtypes = importlib.import_module("paramtool.core.dtypes")
        return sorted({*_NAMES, *ops.__all__, *dtypes.EXTENDED})
    value = _resolve(name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES})
