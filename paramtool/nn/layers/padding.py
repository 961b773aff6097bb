"""Padding layers (``nn.ReflectionPad2d``, ``nn.ZeroPad2d``, ...): no parameters, PyTorch's reprs.

``padding`` is an int (the same on every side) or a tuple ordered as ``F.pad`` takes it: last
dimension first, (left, right, top, bottom, front, back).
"""

from __future__ import annotations

from typing import Any

from paramtool.nn.layers._utils import Layer, _ntuple
from paramtool.nn.layers._utils import functional as _functional


class _PadNd(Layer):
    """A padding layer: ``F.pad(input, self.padding, mode)``."""

    mode = "constant"
    sides = 2

    def __init__(self, padding: int | tuple[int, ...], value: float = 0.0) -> None:
        super().__init__()
        self.padding = _ntuple(self.sides, "_pad")(padding)
        if len(self.padding) != self.sides:
            raise ValueError(
                f"{type(self).__name__} expects padding of {self.sides} values, got {padding!r}"
            )
        if self.mode == "constant":
            self.value = value

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        if self.mode == "constant":
            return _functional().pad(input, self.padding, "constant", self.value)
        return _functional().pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: int | tuple[int, ...], value: float) -> None:
        super().__init__(padding, value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_PadNd):
    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__(padding, 0.0)


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dimension with a constant."""


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dimensions with a constant."""

    sides = 4


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dimensions with a constant."""

    sides = 6


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dimension with zeros."""


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dimensions with zeros."""

    sides = 4


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dimensions with zeros."""

    sides = 6


class ReflectionPad1d(_PadNd):
    """Pad the last dimension with its reflection."""

    mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Pad the last two dimensions with their reflection."""

    sides = 4


class ReflectionPad3d(ReflectionPad1d):
    """Pad the last three dimensions with their reflection."""

    sides = 6


class ReplicationPad1d(_PadNd):
    """Pad the last dimension by repeating its edge values."""

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Pad the last two dimensions by repeating their edge values."""

    sides = 4


class ReplicationPad3d(ReplicationPad1d):
    """Pad the last three dimensions by repeating their edge values."""

    sides = 6


class CircularPad1d(_PadNd):
    """Pad the last dimension circularly (wrapping around)."""

    mode = "circular"


class CircularPad2d(CircularPad1d):
    """Pad the last two dimensions circularly."""

    sides = 4


class CircularPad3d(CircularPad1d):
    """Pad the last three dimensions circularly."""

    sides = 6


__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
]  # fmt: skip
