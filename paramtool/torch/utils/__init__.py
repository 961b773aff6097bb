"""``torch.utils``: ``data`` and ``checkpoint``."""

from __future__ import annotations

from paramtool.torch.utils import checkpoint, data

__all__ = ["checkpoint", "data"]
