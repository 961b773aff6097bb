"""``cupy.cuda``: devices (``Device``, a context manager) and the runtime's device count."""

from __future__ import annotations

from typing import Any

from cupy._core import current_device_id, pop_device, push_device
from cupy.cuda import runtime

__all__ = ["Device", "runtime"]


class Device:
    """``cupy.cuda.Device(id)``: ``with Device(1):`` makes GPU 1 current."""

    def __init__(self, device: int | None = None) -> None:
        self.id = current_device_id() if device is None else int(device)

    def __enter__(self) -> Device:
        if not 0 <= self.id < runtime.getDeviceCount():
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        push_device(self.id)
        return self

    def __exit__(self, *exc: Any) -> None:
        pop_device()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"
