"""Dropout layers (``torch.nn.modules.dropout``); no parameters."""

from __future__ import annotations

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

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes elements with probability ``p`` during training."""


class Dropout1d(_DropoutNd):
    """Zeroes whole 1-d channels."""


class Dropout2d(_DropoutNd):
    """Zeroes whole 2-d channels."""


class Dropout3d(_DropoutNd):
    """Zeroes whole 3-d channels."""


class AlphaDropout(_DropoutNd):
    """Dropout that keeps the self-normalising property (for SELU)."""


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels."""
