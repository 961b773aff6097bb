"""``nn.DataParallel`` and ``nn.parallel.DistributedDataParallel``: a wrapped ``module``.

Wrapping changes the names PyTorch gives the parameters (``module.`` in front of each), which
is what a checkpoint saved from a wrapped model holds; the computation is the module's own.
"""

from __future__ import annotations

from typing import Any

from paramtool.nn.module import Module


class DataParallel(Module):
    """Holds ``module`` as its only child; ``forward`` calls it."""

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.module = module
        self.device_ids = list(device_ids or [])
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)


class DistributedDataParallel(DataParallel):
    """As :class:`DataParallel` (one process here): ``module`` is the only child."""

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, **options: Any) -> None:  # fmt: skip
        super().__init__(module, device_ids, output_device, dim)


def data_parallel(module: Module, inputs: Any, device_ids: Any = None, output_device: Any = None,
                  dim: int = 0, module_kwargs: Any = None) -> Any:  # fmt: skip
    """``nn.parallel.data_parallel``: the module applied to the inputs (one device here)."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    return module(*inputs, **(module_kwargs or {}))


__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]
