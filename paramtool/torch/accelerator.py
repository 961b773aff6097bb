"""``torch.accelerator``: which accelerator paramtool would use (a CUDA GPU through cupy)."""

from __future__ import annotations

from paramtool.core.cuda import device_count, is_available
from paramtool.core.device import Device


def current_accelerator(check_available: bool = False) -> Device | None:
    """``cuda`` when cupy and a GPU are there, else None."""
    return Device("cuda") if is_available() else None


def current_device_index() -> int:
    """The current accelerator's index (0)."""
    return 0


__all__ = ["current_accelerator", "current_device_index", "device_count", "is_available"]
