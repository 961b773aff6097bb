"""``cupy.cuda.runtime``: only ``getDeviceCount``; tests set ``device_count``."""

from __future__ import annotations

#: How many GPUs the stand-in reports; 0 makes getDeviceCount raise, like a machine
#: with a CUDA driver but no device.
device_count = 1


class CUDARuntimeError(RuntimeError):
    """``cupy_backends.cuda.api.runtime.CUDARuntimeError``."""


def getDeviceCount() -> int:  # noqa: N802 - cupy's name
    if device_count == 0:
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    return device_count
