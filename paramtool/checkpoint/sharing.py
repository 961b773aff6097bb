"""Finding shared weights: tied (one object), overlapping storage, identical bytes in files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.array_utils import byte_bounds

#: Work bound for numpy's exact overlap test; past it two arrays count as sharing.
_OVERLAP_WORK = 100_000


@dataclass
class Sharing:
    """Groups of names in a state dict that share storage.

    Attributes:
        tied: Names reaching the same object (or the very same view of an array); the first
            name of each group is the canonical one.
        overlapping: Names of distinct tensors whose bytes overlap (views of one array).
    """

    tied: list[list[str]] = field(default_factory=list)
    overlapping: list[list[str]] = field(default_factory=list)


def cpu_array(value: Any) -> np.ndarray | None:
    """The numpy array behind a materialised cpu value, without copying; None otherwise."""
    if isinstance(value, np.ndarray):
        return value
    if getattr(value, "is_deferred", True) or str(getattr(value, "device", "cpu")) != "cpu":
        return None
    return value.numpy()


def as_state(module_or_state: Any) -> Mapping[str, Any]:
    """A Module's ``state_dict(keep_vars=True)``; a mapping of name -> tensor as it is."""
    if hasattr(module_or_state, "state_dict"):
        return module_or_state.state_dict(keep_vars=True)
    return module_or_state


def _storage_key(value: Any) -> tuple[Any, ...]:
    array = cpu_array(value)
    if array is None or array.size == 0:
        return ("object", id(value))
    address = array.__array_interface__["data"][0]
    return ("view", address, array.shape, array.strides, array.dtype.str)


def tie_groups(state: Mapping[str, Any]) -> dict[str, list[str]]:
    """Group names by the object (or exact array view) they reach, in state order.

    Args:
        state: Name -> Tensor or array, e.g. ``module.state_dict(keep_vars=True)``.

    Returns:
        Kept (first) name -> every name of its group, kept name first; one entry per object.
    """
    by_key: dict[tuple[Any, ...], list[str]] = {}
    for name, value in state.items():
        by_key.setdefault(_storage_key(value), []).append(name)
    return {names[0]: names for names in by_key.values()}


def _overlap_groups(state: Mapping[str, Any], kept: dict[str, list[str]]) -> list[list[str]]:
    spans = []
    for name in kept:
        array = cpu_array(state[name])
        if array is not None and array.size:
            low, high = byte_bounds(array)
            spans.append((low, high, name, array))
    spans.sort(key=lambda s: s[:2])
    groups: list[list[str]] = []
    current: list[tuple[Any, ...]] = []
    high = 0  # the end of the current group's bytes, kept as it grows (no rescan per span)
    for span in spans:
        if current and span[0] < high and _shares(span[3], current):
            current.append(span)
            high = max(high, span[1])
            continue
        if len(current) > 1:
            groups.append([n for s in current for n in kept[s[2]]])
        current, high = [span], span[1]
    if len(current) > 1:
        groups.append([n for s in current for n in kept[s[2]]])
    return groups


def _shares(array: np.ndarray, others: list[tuple[Any, ...]]) -> bool:
    for other in reversed(others):  # the latest views are the likeliest to share
        try:
            if np.shares_memory(array, other[3], max_work=_OVERLAP_WORK):
                return True
        except np.exceptions.TooHardError:
            return True
    return False


def find_shared(state: Any) -> Sharing:
    """Find tied names and overlapping storage in a module or state dict.

    Args:
        state: A Module (its ``state_dict(keep_vars=True)`` is used) or a mapping of name ->
            Tensor or numpy array.

    Returns:
        The tied groups and the overlapping groups, each a list of names (groups of two or
        more only).
    """
    state = as_state(state)
    kept = tie_groups(state)
    tied = [names for names in kept.values() if len(names) > 1]
    return Sharing(tied=tied, overlapping=_overlap_groups(state, kept))


def find_identical(checkpoint: Any | str | os.PathLike[str]) -> list[list[str]]:
    """Groups of stored tensors with identical shape, dtype and bytes (SHA-256 of the data).

    Only tensors whose shape and dtype match another's are read, through the memory map.

    Args:
        checkpoint: A Checkpoint, or a path :func:`open_checkpoint` accepts.

    Returns:
        Groups of two or more names, each in storage order.
    """
    if isinstance(checkpoint, str | os.PathLike):
        from paramtool.checkpoint.checkpoint import open_checkpoint  # noqa: PLC0415 - it uses us

        checkpoint = open_checkpoint(checkpoint)
    by_kind: dict[tuple[Any, ...], list[str]] = {}
    for entry in checkpoint.entries:
        if not isinstance(entry.dtype, np.dtype):  # sub-byte data numpy cannot view
            continue
        by_kind.setdefault((entry.shape, entry.dtype), []).append(entry.name)
    groups: list[list[str]] = []
    for names in by_kind.values():
        if len(names) < 2:
            continue
        by_hash: dict[str, list[str]] = {}
        for name in names:
            data = np.ascontiguousarray(checkpoint.array(name)).reshape(-1).view(np.uint8)
            by_hash.setdefault(hashlib.sha256(data).hexdigest(), []).append(name)
        groups.extend(g for g in by_hash.values() if len(g) > 1)
    return groups
