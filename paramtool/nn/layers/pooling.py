"""Pooling layers (``torch.nn.modules.pooling``); no parameters.

Arguments are stored as given, except where PyTorch normalises them (AvgPool1d keeps
one-tuples), so that ``repr`` matches PyTorch's.
"""

from __future__ import annotations

from typing import Any

from paramtool.nn.layers._utils import Layer, _pair, _single, _triple
from paramtool.nn.layers._utils import functional as _functional


class _Pool(Layer):
    """A pooling layer: ``forward`` calls ``F.<_op>{dims}d``."""

    _op = ""
    _dims = 0

    def _function(self) -> Any:
        return getattr(_functional(), f"{self._op}{self._dims}d")


class _MaxPoolNd(_Pool):
    """Max pooling over a window; ``stride`` defaults to ``kernel_size``."""

    _op = "max_pool"

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        """Window maxima (and their indices with ``return_indices``)."""
        return self._function()(
            input, self.kernel_size, self.stride, self.padding, self.dilation,
            ceil_mode=self.ceil_mode, return_indices=self.return_indices,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """1-d max pooling."""

    _dims = 1


class MaxPool2d(_MaxPoolNd):
    """2-d max pooling."""

    _dims = 2


class MaxPool3d(_MaxPoolNd):
    """3-d max pooling."""

    _dims = 3


class _AvgPoolNd(_Pool):
    """Average pooling over a window; ``stride`` defaults to ``kernel_size``."""

    _op = "avg_pool"

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        """Window averages."""
        extra = {} if self._dims == 1 else {"divisor_override": self.divisor_override}
        return self._function()(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, **extra,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """1-d average pooling (no ``divisor_override``, as in PyTorch)."""

    _dims = 1

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(
            _single(kernel_size),
            _single(stride if stride is not None else kernel_size),
            _single(padding),
            ceil_mode,
            count_include_pad,
        )


class AvgPool2d(_AvgPoolNd):
    """2-d average pooling."""

    _dims = 2


class AvgPool3d(_AvgPoolNd):
    """3-d average pooling."""

    _dims = 3


class _AdaptivePoolNd(_Pool):
    """Pooling to a fixed ``output_size`` (None keeps that dimension)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    """Max pooling to a fixed ``output_size``."""

    _op = "adaptive_max_pool"

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        """Maxima over adaptive windows (and their indices with ``return_indices``)."""
        return self._function()(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """1-d adaptive max pooling."""

    _dims = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """2-d adaptive max pooling."""

    _dims = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """3-d adaptive max pooling."""

    _dims = 3


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    """Average pooling to a fixed ``output_size`` (None keeps that dimension)."""

    _op = "adaptive_avg_pool"

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        """Averages over adaptive windows."""
        return self._function()(input, self.output_size)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """1-d adaptive average pooling."""

    _dims = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """2-d adaptive average pooling."""

    _dims = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """3-d adaptive average pooling."""

    _dims = 3


class _LPPoolNd(_Pool):
    """Power-average pooling of order ``norm_type``."""

    _op = "lp_pool"

    def __init__(
        self, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
    ) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        """``(sum of x ** p over each window) ** (1 / p)``."""
        return self._function()(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    """1-d power-average pooling."""

    _dims = 1


class LPPool2d(_LPPoolNd):
    """2-d power-average pooling."""

    _dims = 2


class LPPool3d(_LPPoolNd):
    """3-d power-average pooling."""

    _dims = 3


class _MaxUnpoolNd(_Pool):
    """The partial inverse of a max pool: values placed at their indices, zeros elsewhere."""

    _op = "max_unpool"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        ntuple = (_single, _pair, _triple)[self._dims - 1]
        self.kernel_size = ntuple(kernel_size)
        self.stride = ntuple(stride if stride is not None else kernel_size)
        self.padding = ntuple(padding)

    def forward(self, input: Any, indices: Any, output_size: Any = None) -> Any:  # noqa: A002
        """Scatter ``input`` to ``indices`` (from a max pool with ``return_indices=True``)."""
        return self._function()(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """1-d max unpooling."""

    _dims = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """2-d max unpooling."""

    _dims = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """3-d max unpooling."""

    _dims = 3


class _FractionalMaxPoolNd(_Pool):
    """Max pooling at pseudo-random fractional strides (Graham, 2014) to a fixed output size or
    ratio; ``_random_samples`` (a buffer, None by default) fixes the window placement."""

    _op = "fractional_max_pool"

    def __init__(
        self,
        kernel_size: Any,
        output_size: Any = None,
        output_ratio: Any = None,
        return_indices: bool = False,
        _random_samples: Any = None,
    ) -> None:
        super().__init__()
        ntuple = (_pair, _triple)[self._dims - 2]
        self.kernel_size = ntuple(kernel_size)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = ntuple(output_size) if output_size is not None else None
        self.output_ratio = ntuple(output_ratio) if output_ratio is not None else None
        name = type(self).__name__
        if output_size is None and output_ratio is None:
            raise ValueError(
                f"{name} requires specifying either an output size, or a pooling ratio"
            )
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        """Maxima over the fractional windows (and their indices with ``return_indices``)."""
        return self._function()(
            input, self.kernel_size, self.output_size, self.output_ratio, self.return_indices,
            _random_samples=self._random_samples,
        )  # fmt: skip


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """2-d fractional max pooling."""

    _dims = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """3-d fractional max pooling."""

    _dims = 3
