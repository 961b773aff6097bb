"""``torch.random``: paramtool's global seeding, under torch's names."""

from __future__ import annotations

from typing import Any

from paramtool.core.random import Generator, initial_seed, manual_seed
from paramtool.torch import missing as _missing


def __getattr__(name: str) -> Any:
    """A name paramtool lacks (``fork_rng``, ``get_rng_state``) is recorded as missing."""
    if name.startswith("__"):
        raise AttributeError(name)
    return _missing.missing(f"torch.random.{name}")


__all__ = ["Generator", "initial_seed", "manual_seed"]
