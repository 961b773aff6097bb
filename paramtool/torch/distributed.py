"""``torch.distributed``: never available inside paramtool (a model file runs in one process)."""

from __future__ import annotations


def is_available() -> bool:
    """``torch.distributed.is_available``: False."""
    return False


def is_initialized() -> bool:
    """``torch.distributed.is_initialized``: False."""
    return False


def get_rank() -> int:
    """The only process: rank 0."""
    return 0


def get_world_size() -> int:
    """One process."""
    return 1
