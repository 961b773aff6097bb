"""``torch.nn.utils`` (and its ``parametrize``/``parametrizations`` submodules): paramtool's."""

from __future__ import annotations

from typing import Any

import paramtool.nn.utils as _utils
from paramtool.nn.utils import *  # noqa: F403
from paramtool.torch import missing as _missing


def __getattr__(name: str) -> Any:
    """A utility paramtool lacks (``rnn.pack_padded_sequence``, ...) is recorded as missing."""
    if name.startswith("__"):
        raise AttributeError(name)
    return _missing.missing(f"torch.nn.utils.{name}")


__all__ = list(_utils.__all__)
