"""``torch.cuda``: availability queries (cupy's GPUs) and the settings model files touch."""

from __future__ import annotations

from paramtool.core.cuda import device_count, is_available
from paramtool.core.random import manual_seed
from paramtool.torch import amp
from paramtool.torch.functions import (  # noqa: F401 - torch.cuda.FloatTensor and the rest
    BoolTensor,
    ByteTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
)

manual_seed_all = manual_seed


def current_device() -> int:
    """The current CUDA device index (paramtool uses device 0 unless told otherwise)."""
    return 0


def is_bf16_supported() -> bool:
    """bfloat16 is supported wherever paramtool runs (ml_dtypes on the CPU)."""
    return True


def empty_cache() -> None:
    """Nothing cached: a no-op."""


def synchronize(device: object = None) -> None:
    """Nothing to wait for: a no-op."""


__all__ = [
    "amp", "current_device", "device_count", "empty_cache", "is_available", "is_bf16_supported",
    "manual_seed", "manual_seed_all", "synchronize",
]  # fmt: skip
