"""Type names as PyTorch writes them: ``Tensor.type()``'s legacy names and ``typename(obj)``.

A tensor's legacy type name joins its device and dtype: ``paramtool.FloatTensor`` (float32 on
the cpu), ``paramtool.cuda.HalfTensor`` (float16 on a CUDA device). ``torch.`` is read as
``paramtool.`` so that strings written for PyTorch keep working.
"""

from __future__ import annotations

import numpy as np

from paramtool.core.device import Device, as_device
from paramtool.core.dtypes import all_dtypes
from paramtool.core.promotion import dtype_stem
from paramtool.core.tensor_ops import TensorOps
from paramtool.errors import DTypeError


def legacy_type_name(dtype: np.dtype, device: Device) -> str:
    """The legacy name of a tensor type, as ``torch.Tensor.type()`` gives it.

    Args:
        dtype: The element type.
        device: Where the tensor lives; any CUDA device gives ``paramtool.cuda.*``.

    Returns:
        ``"paramtool.FloatTensor"``, ``"paramtool.cuda.BFloat16Tensor"``, ...
    """
    where = ".cuda" if device.type == "cuda" else ""
    return f"paramtool{where}.{dtype_stem(dtype)}Tensor"


def parse_legacy_type_name(name: str) -> tuple[Device, np.dtype]:
    """The device and dtype a legacy type name stands for (``"paramtool.cuda.LongTensor"``).

    Args:
        name: A name as :func:`legacy_type_name` writes it, with ``paramtool.`` or ``torch.``.

    Returns:
        ``(device, dtype)``; the device is ``cuda`` (the current one) for ``*.cuda.*`` names.

    Raises:
        DTypeError: the string is not a legacy type name.
    """
    for package in ("paramtool.", "torch."):
        if name.startswith(package):
            rest = name[len(package) :]
            device = "cuda" if rest.startswith("cuda.") else "cpu"
            stem = rest.removeprefix("cuda.")
            for dtype in all_dtypes().values():
                if f"{dtype_stem(dtype)}Tensor" == stem:
                    return as_device(device), dtype
    raise DTypeError(f"invalid type: '{name}'")


def typename(obj: object) -> str:
    """The type of ``obj`` as ``torch.typename`` writes it (used in error messages).

    Args:
        obj: Any object; a Tensor gives its legacy type name, a class or function its dotted
            name, any other object the dotted name of its class.

    Returns:
        ``"paramtool.FloatTensor"``, ``"int"``, ``"package.module.Class"``, ...
    """
    if isinstance(obj, TensorOps):
        return obj.type()  # type: ignore[attr-defined]
    named = obj if hasattr(obj, "__qualname__") or hasattr(obj, "__name__") else type(obj)
    module = getattr(named, "__module__", "") or ""
    qualname = getattr(named, "__qualname__", None) or named.__name__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"
