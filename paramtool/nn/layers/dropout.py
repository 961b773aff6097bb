"""Dropout layers (``torch.nn.modules.dropout``); no parameters."""

from __future__ import annotations

from typing import Any

from paramtool.nn import functional as F  # noqa: N812 - PyTorch's name
from paramtool.nn.layers._utils import Layer


class _DropoutNd(Layer):
    """Dropout with probability ``p``.

    Raises:
        ValueError: ``p`` outside [0, 1] (PyTorch's message).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    _fn: Any

    def forward(self, input: Any) -> Any:
        """Dropout while training; the identity in eval mode."""
        return type(self)._fn(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes elements with probability ``p`` during training."""

    _fn = staticmethod(F.dropout)


class Dropout1d(_DropoutNd):
    """Zeroes whole 1-d channels."""

    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zeroes whole 2-d channels."""

    _fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Zeroes whole 3-d channels."""

    _fn = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    """Dropout that keeps the self-normalising property (for SELU)."""

    _fn = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels."""

    _fn = staticmethod(F.feature_alpha_dropout)
