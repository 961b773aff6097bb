"""``nn.Fold`` / ``nn.Unfold``: sliding blocks to columns and back (``F.fold``/``F.unfold``)."""

from __future__ import annotations

from typing import Any

from paramtool.nn.layers._utils import Layer
from paramtool.nn.layers._utils import functional as _functional


class Fold(Layer):
    """Sum sliding local blocks (N, C*prod(k), L) into a (N, C, *output_size) tensor."""

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:  # fmt: skip
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Any) -> Any:  # noqa: A002
        return _functional().fold(input, self.output_size, self.kernel_size, self.dilation,
                                  self.padding, self.stride)  # fmt: skip

    def extra_repr(self) -> str:
        return (
            "output_size={output_size}, kernel_size={kernel_size}, dilation={dilation}, "
            "padding={padding}, stride={stride}".format(**self.__dict__)
        )


class Unfold(Layer):
    """Extract sliding local blocks of a (N, C, *) tensor as columns (N, C*prod(k), L)."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Any) -> Any:  # noqa: A002
        return _functional().unfold(input, self.kernel_size, self.dilation, self.padding,
                                    self.stride)  # fmt: skip

    def extra_repr(self) -> str:
        return (
            "kernel_size={kernel_size}, dilation={dilation}, padding={padding}, "
            "stride={stride}".format(**self.__dict__)
        )


__all__ = ["Fold", "Unfold"]
