"""``paramtool.core.cuda``: the few ``torch.cuda`` queries a model file uses."""

from __future__ import annotations

from paramtool.core.device import cuda_available, cuda_device_count


def is_available() -> bool:
    """True when cupy is installed and a CUDA GPU is visible."""
    return cuda_available()


def device_count() -> int:
    """Number of visible CUDA GPUs."""
    return cuda_device_count()
