"""One way arrays come to the host: ``device.to_host``."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from paramtool.core.device import CPU, to_device, to_host

PACKAGE = Path(__file__).resolve().parents[1] / "paramtool"


class GpuArray:
    """Stands for a cupy array: a device with an id and ``get()`` copying to the host."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.device = SimpleNamespace(id=0)
        self.copies = 0

    def get(self) -> np.ndarray:
        self.copies += 1
        return self.values.copy()


def test_numpy_arrays_and_scalars_pass_through_without_a_copy() -> None:
    array = np.arange(4.0)
    assert to_host(array) is array
    scalar = np.float32(2.5)
    assert to_host(scalar) is scalar


def test_gpu_arrays_are_copied_once_and_array_likes_converted() -> None:
    gpu = GpuArray(np.arange(3, dtype=np.float32))
    host = to_host(gpu)
    assert isinstance(host, np.ndarray) and gpu.copies == 1
    np.testing.assert_array_equal(host, [0, 1, 2])
    np.testing.assert_array_equal(to_host([1, 2]), np.array([1, 2]))
    assert to_device(gpu, CPU).tolist() == [0.0, 1.0, 2.0] and gpu.copies == 2


def test_no_other_module_brings_arrays_to_the_host_its_own_way() -> None:
    own_way = re.compile(r"\.get\(\) if hasattr\(|cupy\.asnumpy|to_device\([^)]*, CPU\)")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if own_way.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
