"""Convolutions: Conv1d/2d/3d and ConvTranspose1d/2d/3d (``torch.nn.modules.conv``).

A convolution's weight is ``(out, in / groups, *kernel)``; a transposed one's is
``(in, out / groups, *kernel)``. Both are initialised like Linear, from the weight's own fan_in.
"""

from __future__ import annotations

from typing import Any

from paramtool.nn.layers._utils import (
    Layer,
    _pair,
    _single,
    _triple,
    add_weight_and_bias,
    fan_in_uniform_,
)
from paramtool.nn.layers._utils import functional as _functional

_PADDING_STRINGS = {"same", "valid"}
_PADDING_MODES = {"zeros", "reflect", "replicate", "circular"}


def _check_conv_args(
    in_channels: int, out_channels: int, groups: int, padding: Any, stride: tuple, padding_mode: str
) -> None:
    """Raise PyTorch's ValueError for an invalid convolution configuration."""
    if groups <= 0:
        raise ValueError("groups must be a positive integer")
    if in_channels % groups != 0:
        raise ValueError("in_channels must be divisible by groups")
    if out_channels % groups != 0:
        raise ValueError("out_channels must be divisible by groups")
    if isinstance(padding, str):
        if padding not in _PADDING_STRINGS:
            raise ValueError(
                f"Invalid padding string {padding!r}, should be one of {_PADDING_STRINGS}"
            )
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
    if padding_mode not in _PADDING_MODES:
        raise ValueError(
            f"padding_mode must be one of {_PADDING_MODES}, but got padding_mode='{padding_mode}'"
        )


class _ConvNd(Layer):
    """What every convolution shares: validation, parameters, init and repr."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        padding: str | tuple[int, ...],
        dilation: tuple[int, ...],
        transposed: bool,
        output_padding: tuple[int, ...],
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        _check_conv_args(in_channels, out_channels, groups, padding, stride, padding_mode)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        if transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        add_weight_and_bias(self, shape, (out_channels,), bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default."""
        fan_in_uniform_(self.weight, self.bias)

    def _reversed_padding_repeated_twice(self) -> list[int]:
        """``F.pad``'s amounts (last dimension first) for a non-zero ``padding_mode``."""
        amounts: list[int] = []
        for i in reversed(range(len(self.kernel_size))):
            if self.padding == "same":
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                amounts += [total // 2, total - total // 2]
            elif self.padding == "valid":
                amounts += [0, 0]
            else:
                amounts += [self.padding[i], self.padding[i]]
        return amounts

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        """Convolve ``input`` (``(N, C, *spatial)`` or unbatched) with the layer's weight.

        A ``padding_mode`` other than zeros pads with ``F.pad`` first, as PyTorch does.
        """
        F = _functional()  # noqa: N806 - the usual spelling
        conv = getattr(F, f"conv{len(self.kernel_size)}d")
        if self.padding_mode == "zeros":
            return conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)  # fmt: skip
        padded = F.pad(input, self._reversed_padding_repeated_twice(), mode=self.padding_mode)
        return conv(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def _transposed_forward(self, input: Any, output_size: Any) -> Any:  # noqa: A002
        dims = len(self.kernel_size)
        output_padding = self._output_padding(input, output_size)
        conv = getattr(_functional(), f"conv_transpose{dims}d")
        return conv(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                    self.groups, self.dilation)  # fmt: skip

    def _output_padding(self, input: Any, output_size: Any) -> tuple[int, ...]:  # noqa: A002
        """The output padding that makes a transposed convolution produce ``output_size``.

        Raises:
            ValueError: ``output_size`` is not reachable (PyTorch's messages).
        """
        if output_size is None:
            return self.output_padding
        dims = len(self.kernel_size)
        wanted = [int(n) for n in output_size]
        if len(wanted) in (dims + 1, dims + 2):
            wanted = wanted[-dims:]
        if len(wanted) != dims:
            raise ValueError(
                f"ConvTranspose{dims}D: for {input.dim()}D input, output_size must have {dims} "
                f"or {dims + 2} elements (got {len(output_size)})"
            )
        extra = []
        for d in range(dims):
            n = input.shape[input.dim() - dims + d]
            smallest = (n - 1) * self.stride[d] - 2 * self.padding[d]
            smallest += self.dilation[d] * (self.kernel_size[d] - 1) + 1
            largest = smallest + self.stride[d] - 1
            if not smallest <= wanted[d] <= largest:
                raise ValueError(
                    f"requested an output size of {wanted}, but valid sizes range from "
                    f"{smallest} to {largest} (for an input of {list(input.shape[2:])})"
                )
            extra.append(wanted[d] - smallest)
        return tuple(extra)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


def _conv_init(ntuple: Any) -> Any:
    """The ``__init__`` of ConvNd for the dimension that ``ntuple`` expands arguments to."""

    def __init__(
        self: _ConvNd,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        _ConvNd.__init__(
            self,
            in_channels,
            out_channels,
            ntuple(kernel_size),
            ntuple(stride),
            padding if isinstance(padding, str) else ntuple(padding),
            ntuple(dilation),
            False,
            ntuple(0),
            groups,
            bias,
            padding_mode,
            device=device,
            dtype=dtype,
        )

    return __init__


def _conv_transpose_init(ntuple: Any) -> Any:
    """The ``__init__`` of ConvTransposeNd for the dimension ``ntuple`` expands arguments to."""

    def __init__(
        self: _ConvNd,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        _ConvNd.__init__(
            self,
            in_channels,
            out_channels,
            ntuple(kernel_size),
            ntuple(stride),
            ntuple(padding),
            ntuple(dilation),
            True,
            ntuple(output_padding),
            groups,
            bias,
            padding_mode,
            device=device,
            dtype=dtype,
        )

    return __init__


class _ConvTransposeNd(_ConvNd):
    """What every transposed convolution shares: ``forward(input, output_size=None)``."""

    def forward(self, input: Any, output_size: Any = None) -> Any:  # noqa: A002
        """Transposed convolution of ``input``; ``output_size`` picks the output padding."""
        return self._transposed_forward(input, output_size)


class Conv1d(_ConvNd):
    """1-d convolution; ``weight (out, in / groups, k)``. PyTorch's signature and init."""

    __init__ = _conv_init(_single)


class Conv2d(_ConvNd):
    """2-d convolution; ``weight (out, in / groups, kh, kw)``. PyTorch's signature and init."""

    __init__ = _conv_init(_pair)


class Conv3d(_ConvNd):
    """3-d convolution; ``weight (out, in / groups, kd, kh, kw)``. PyTorch's signature and init."""

    __init__ = _conv_init(_triple)


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution; ``weight (in, out / groups, k)``."""

    __init__ = _conv_transpose_init(_single)


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution; ``weight (in, out / groups, kh, kw)``."""

    __init__ = _conv_transpose_init(_pair)


class ConvTranspose3d(_ConvTransposeNd):
    """3-d transposed convolution; ``weight (in, out / groups, kd, kh, kw)``."""

    __init__ = _conv_transpose_init(_triple)
