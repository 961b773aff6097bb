"""``cupy.random.RandomState``: the draws paramtool uses, with cupy's dtype rule.

cupy's generators accept only float32 and float64 (``_check_and_get_dtype``: TypeError
"cupy.random only supports float32 and float64"). Values come from numpy's Philox, so they
differ from paramtool's CPU stream, as cuRAND's do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cupy._core import current_device_id, ndarray

__all__ = ["RandomState"]


def _check_and_get_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.char not in ("f", "d"):
        raise TypeError("cupy.random only supports float32 and float64")
    return dtype


class RandomState:
    """``cupy.random.RandomState(seed)``: its state lives on the device current at creation."""

    def __init__(self, seed: int | None = None, method: Any = None) -> None:
        if seed is not None and not 0 <= int(seed) < 2**64:
            raise ValueError("seed must be convertible to a 64-bit unsigned integer")
        self._gen = np.random.Generator(np.random.Philox(seed))
        self._device_id = current_device_id()

    def _out(self, values: np.ndarray) -> ndarray:
        if current_device_id() != self._device_id:
            raise RuntimeError("RandomState used on another device than the one it was made on")
        return ndarray._of(values, self._device_id)

    def standard_normal(self, size: Any = None, dtype: Any = float) -> ndarray:
        dtype = _check_and_get_dtype(dtype)
        return self._out(self._gen.standard_normal(size, dtype=dtype))

    def random_sample(self, size: Any = None, dtype: Any = float) -> ndarray:
        dtype = _check_and_get_dtype(dtype)
        return self._out(self._gen.random(size, dtype=dtype))
