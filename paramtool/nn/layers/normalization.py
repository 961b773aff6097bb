"""Normalisation layers: BatchNorm, InstanceNorm, LayerNorm, GroupNorm, RMSNorm.

PyTorch's defaults: affine weights start at ones and biases at zeros; running statistics at
``running_mean = 0``, ``running_var = 1`` and ``num_batches_tracked = 0`` (an int64 scalar).
"""

from __future__ import annotations

import numbers
from typing import Any

from paramtool.core import factories
from paramtool.core.dtypes import int64
from paramtool.nn import functional as F  # noqa: N812 - PyTorch's name
from paramtool.nn import init
from paramtool.nn.layers._utils import Layer, add_weight_and_bias, empty_parameter


class _AffineNorm(Layer):
    """A normalisation layer whose affine ``weight`` starts at ones and ``bias`` at zeros.

    :data:`is_normalization` marks it (and every subclass) for the init schemes, which give a
    normalisation layer's rank-1 weight ones: the mark, not the class name, decides.
    """

    is_normalization: bool = True

    def reset_parameters(self) -> None:
        """Weight to ones and bias to zeros, where they exist."""
        if self.weight is not None:
            init.ones_(self.weight)
        if getattr(self, "bias", None) is not None:
            init.zeros_(self.bias)


class _NormBase(_AffineNorm):
    """What BatchNorm and InstanceNorm share: affine parameters and running statistics.

    A state_dict without ``num_batches_tracked`` (written before PyTorch had it, as older
    torchvision checkpoints are) loads and keeps the current count, as PyTorch loads it.
    """

    _optional_state = frozenset({"num_batches_tracked"})

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _register_affine(self, (num_features,), affine, bias, device, dtype)
        if track_running_stats:
            self.register_buffer(
                "running_mean", factories.zeros(num_features, device=device, dtype=dtype)
            )
            self.register_buffer(
                "running_var", factories.ones(num_features, device=device, dtype=dtype)
            )
            self.register_buffer(
                "num_batches_tracked", factories.zeros((), device=device, dtype=int64)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Reset running_mean to 0, running_var to 1 and num_batches_tracked to 0."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        """Reset the running statistics, and the affine weight to 1 and bias to 0."""
        self.reset_running_stats()
        super().reset_parameters()

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


def _register_affine(
    module: Layer, shape: tuple[int, ...], affine: bool, bias: bool, device: Any, dtype: Any
) -> None:
    """Register ``weight`` and ``bias`` of ``shape``, or None for those switched off."""
    if affine:
        add_weight_and_bias(module, shape, shape, bias, device, dtype)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


class _BatchNorm(_NormBase):
    """Base of the BatchNorm layers (``torch.nn.modules.batchnorm._BatchNorm``)."""

    _input_dims: tuple[int, ...] = ()

    def forward(self, input: Any) -> Any:
        """Normalise by batch statistics while training (updating the running ones), by the
        running statistics in eval mode, as PyTorch's ``_BatchNorm.forward``."""
        if self._input_dims and input.dim() not in self._input_dims:
            expected = " or ".join(f"{n}D" for n in self._input_dims)
            raise ValueError(f"expected {expected} input (got {input.dim()}D input)")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(
            input, self.running_mean if keep else None, self.running_var if keep else None,
            self.weight, self.bias, use_batch, factor, self.eps,
        )  # fmt: skip


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input; PyTorch's signature and buffers."""

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input; PyTorch's signature and buffers."""

    _input_dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) input; PyTorch's signature and buffers."""

    _input_dims = (5,)


class SyncBatchNorm(_BatchNorm):
    """BatchNorm whose statistics are reduced across processes; parameters as BatchNorm's."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )
        self.process_group = process_group


class _InstanceNorm(_NormBase):
    """Instance normalisation: as BatchNorm, but affine and running stats off by default."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    _no_batch_dims = 0

    def forward(self, input: Any) -> Any:
        """Normalise each sample's channels over their spatial extent (unbatched input too)."""
        if input.dim() == self._no_batch_dims:
            return self.forward(input.unsqueeze(0)).squeeze(0)
        channels = input.size(input.dim() - self._no_batch_dims)
        if channels != self.num_features and self.affine:
            raise ValueError(
                f"expected input's size at dim={input.dim() - self._no_batch_dims} to match "
                f"num_features ({self.num_features}), but got: {channels}."
            )
        use_input_stats = self.training or not self.track_running_stats
        return F.instance_norm(
            input, self.running_mean, self.running_var, self.weight, self.bias,
            use_input_stats, self.momentum if self.momentum is not None else 0.0, self.eps,
        )  # fmt: skip


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over (N, C, L) input."""

    _no_batch_dims = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over (N, C, H, W) input."""

    _no_batch_dims = 3


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation over (N, C, D, H, W) input."""

    _no_batch_dims = 4


def _as_shape(normalized_shape: int | Any) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(normalized_shape)


class LayerNorm(_AffineNorm):
    """Layer normalisation over the trailing ``normalized_shape`` dimensions.

    Args:
        normalized_shape: The trailing shape normalised over (an int for one dimension).
        eps: Added to the variance for stability.
        elementwise_affine: Whether to learn ``weight`` (ones) and ``bias`` (zeros).
        bias: Whether to learn ``bias`` when ``elementwise_affine``.
        device: Device of the parameters.
        dtype: dtype of the parameters (default float32).
    """

    def __init__(
        self,
        normalized_shape: int | Any,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, self.normalized_shape, elementwise_affine, bias, device, dtype)
        self.reset_parameters()

    def forward(self, input: Any) -> Any:
        """Normalise over the trailing ``normalized_shape`` dimensions."""
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(_AffineNorm):
    """Group normalisation: channels split into ``num_groups`` groups.

    Raises:
        ValueError: ``num_channels`` is not divisible by ``num_groups`` (PyTorch's message).
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _register_affine(self, (num_channels,), affine, bias, device, dtype)
        self.reset_parameters()

    def forward(self, input: Any) -> Any:
        """Normalise each group of channels of each sample."""
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class RMSNorm(_AffineNorm):
    """Root-mean-square normalisation (Zhang & Sennrich, 2019); a ``weight`` of ones, no bias."""

    def __init__(
        self,
        normalized_shape: int | Any,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = empty_parameter(*self.normalized_shape, device=device, dtype=dtype)
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def forward(self, input: Any) -> Any:
        """Divide by the root mean square over the trailing ``normalized_shape`` dimensions."""
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class LocalResponseNorm(Layer):
    """Local response normalisation across channels; no parameters."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        """``F.local_response_norm`` across the channels of ``input (N, C, *)``."""
        from paramtool.nn.layers._utils import functional  # noqa: PLC0415

        return functional().local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class CrossMapLRN2d(LocalResponseNorm):
    """Local response normalisation across channels of 4-D input (Lua Torch's form)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        super().__init__(size, alpha, beta, k)

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name
        """Lua Torch's running-window normalisation (see ``functional.vision.cross_map_lrn2d``)."""
        from paramtool.nn.functional.vision import cross_map_lrn2d  # noqa: PLC0415

        return cross_map_lrn2d(input, self.size, self.alpha, self.beta, self.k)
