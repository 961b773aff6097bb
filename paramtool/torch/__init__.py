"""What ``import torch`` gives a model file that paramtool runs: torch's module paths, our objects.

:data:`MODULES` maps each torch module path a model file may import to the paramtool module
giving its names; ``paramtool.models`` puts them in ``sys.modules`` while a model file runs and
restores ``sys.modules`` after. This package holds names only: every tensor function, layer and
init function is paramtool's own, bound here under torch's name. A name torch has and paramtool
lacks is recorded (:mod:`paramtool.torch.missing`) with the user's file and line.

May import ``paramtool.core``, ``paramtool.nn`` and ``paramtool.optim``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import paramtool
from paramtool import (  # noqa: F401 - the names ``torch.X`` gives
    Generator,
    Size,
    Tensor,
    bool,
    device,
    double,
    dtype,
    enable_grad,
    float,
    float16,
    float32,
    float64,
    half,
    inference_mode,
    initial_seed,
    int,
    int8,
    int16,
    int32,
    int64,
    is_grad_enabled,
    long,
    manual_seed,
    no_grad,
    short,
    uint8,
    uint16,
    uint32,
    uint64,
)
from paramtool.core.autograd import set_grad_enabled  # noqa: F401
from paramtool.core.random import get_num_threads  # noqa: F401
from paramtool.torch import missing as _missing
from paramtool.torch.amp import autocast  # noqa: F401 - torch.autocast
from paramtool.torch.functions import (  # noqa: F401
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    channels_last,
    compile,
    contiguous_format,
    e,
    finfo,
    get_default_dtype,
    iinfo,
    inf,
    is_autocast_enabled,
    is_floating_point,
    is_tensor,
    nan,
    numel,
    pi,
    preserve_format,
    set_anomaly_enabled,
    set_default_dtype,
    set_float32_matmul_precision,
    set_num_threads,
    set_printoptions,
    sparse_coo,
    strided,
    use_deterministic_algorithms,
)

#: The version of PyTorch whose names this namespace mirrors, marked as paramtool's.
__version__ = "2.13.0+paramtool"

# torch.nn.modules.<file> paths people import from (all served by one namespace module).
_NN_MODULE_FILES = (
    "module", "container", "linear", "conv", "activation", "batchnorm", "instancenorm",
    "normalization", "dropout", "pooling", "rnn", "sparse", "transformer", "flatten", "loss",
    "padding", "pixelshuffle", "upsampling", "fold", "channelshuffle", "distance", "utils",
)  # fmt: skip

#: torch module path -> the paramtool module that gives its names.
MODULES: dict[str, str] = {
    "torch": "paramtool.torch",
    "torch.nn": "paramtool.torch.nn",
    "torch.nn.functional": "paramtool.nn.functional",
    "torch.nn.init": "paramtool.nn.init",
    "torch.nn.parameter": "paramtool.nn.parameter",
    "torch.nn.modules": "paramtool.torch.nn.modules",
    **{f"torch.nn.modules.{name}": "paramtool.torch.nn.modules" for name in _NN_MODULE_FILES},
    "torch.nn.parallel": "paramtool.nn.layers.parallel",
    "torch.nn.utils": "paramtool.torch.nn.utils",
    "torch.nn.utils.parametrize": "paramtool.nn.utils.parametrize",
    "torch.nn.utils.parametrizations": "paramtool.nn.utils.parametrizations",
    "torch.nn.utils.rnn": "paramtool.nn.utils.rnn",
    "torch.optim": "paramtool.optim",
    "torch.optim.lr_scheduler": "paramtool.optim.lr_scheduler",
    "torch.utils": "paramtool.torch.utils",
    "torch.utils.data": "paramtool.torch.utils.data",
    "torch.utils.checkpoint": "paramtool.torch.utils.checkpoint",
    "torch.jit": "paramtool.torch.jit",
    "torch.backends": "paramtool.torch.backends",
    "torch.backends.cudnn": "paramtool.torch.backends",
    "torch.autograd": "paramtool.torch.autograd",
    "torch.distributed": "paramtool.torch.distributed",
    "torch.cuda": "paramtool.torch.cuda",
    "torch.cuda.amp": "paramtool.torch.amp",
    "torch.amp": "paramtool.torch.amp",
    "torch.accelerator": "paramtool.torch.accelerator",
    "torch.compiler": "paramtool.torch.compiler",
    "torch.random": "paramtool.torch.random",
    "torch._dynamo": "paramtool.torch.compiler",
}


def namespace() -> dict[str, ModuleType]:
    """The torch module paths with the modules bound to them (those paramtool has).

    A target module that does not exist (yet) is left out: importing it then records the torch
    path as missing, as for any path paramtool lacks.
    """
    found: dict[str, ModuleType] = {}
    for path, target in MODULES.items():
        try:
            found[path] = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name is None or not target.startswith(exc.name):
                raise
    return found


def __getattr__(name: str) -> Any:
    """``torch.X``: a submodule, else paramtool's top-level ``X``, else a recorded missing name."""
    if name.startswith("__"):
        raise AttributeError(name)
    if f"torch.{name}" in MODULES:
        try:
            return importlib.import_module(MODULES[f"torch.{name}"])
        except ModuleNotFoundError:
            return _missing.missing(f"torch.{name}")
    value = getattr(paramtool, name, None)
    if value is not None and not isinstance(value, ModuleType) and not name.startswith("_"):
        return value
    return _missing.missing(f"torch.{name}")
