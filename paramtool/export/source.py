"""Sources: what a checkpoint is written from, as a small picklable protocol.

A source lists the tensors it will store (names, shapes, dtypes, in state_dict order, each tied
tensor once under its kept name) and hands out one tensor's host values by name. Nothing else is
asked of it, so a shard can be written by any process that holds a copy of the source: the plan
says which names, the source gives their values. :class:`StateSource` wraps an in-memory state
dict; :class:`paramtool.export.model.ModelSource` builds a model from its file; a checkpoint
being converted is a third kind.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from paramtool.checkpoint.safetensors.writer import host_array
from paramtool.checkpoint.sharing import as_state, tie_groups


@dataclass(frozen=True)
class TensorSpec:
    """One stored tensor before any value exists.

    Attributes:
        name: The tensor's name.
        shape: Its shape.
        dtype: Its numpy dtype.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        """Bytes of data."""
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize


@runtime_checkable
class Source(Protocol):
    """What a checkpoint is written from. Implementations must pickle (workers get copies).

    ``entries`` and ``ties`` come from headers or shapes alone; ``values`` is the only call
    that computes or reads data, one tensor at a time, in any order, in any process.
    """

    def entries(self) -> list[TensorSpec]:
        """The stored tensors, in state_dict order, each tied tensor once (its kept name)."""
        ...

    def ties(self) -> dict[str, str]:
        """Dropped name -> kept name, for names stored once under another name."""
        ...

    def metadata(self) -> dict[str, str]:
        """Provenance written into every file's ``__metadata__`` (may be empty)."""
        ...

    def fingerprint(self) -> str:
        """A string that changes whenever the values may change (it keys the checkpoint id)."""
        ...

    def values(self, name: str) -> np.ndarray:
        """The host values of the stored tensor ``name``, with its spec's shape and dtype."""
        ...


def specs_of(state: Mapping[str, Any], kept: list[str]) -> list[TensorSpec]:
    """The specs of the kept names of a state dict (shapes and dtypes only, nothing computed)."""
    return [
        TensorSpec(name, tuple(int(d) for d in state[name].shape), np.dtype(state[name].dtype))
        for name in kept
    ]


def ties_of(groups: Mapping[str, list[str]]) -> dict[str, str]:
    """Dropped name -> kept name, from :func:`paramtool.checkpoint.sharing.tie_groups`."""
    return {dropped: kept for kept, names in groups.items() for dropped in names[1:]}


def digest(*parts: Any) -> str:
    """A short, stable hex digest of JSON-able parts (values that are not JSON use ``repr``)."""
    text = json.dumps(parts, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class StateSource:
    """A source over an in-memory state dict (or a Module's): the library's ``save_sharded``.

    It pickles only as far as its tensors do, so it serves the single-process path; workers use
    sources that rebuild their values (a model file, a checkpoint on a shared disk).

    Args:
        module_or_state: A Module, or a mapping of name -> Tensor or numpy array.
        seed: The seed of deferred tensors' values (None: the global seed).
    """

    def __init__(self, module_or_state: Any, seed: int | None = None) -> None:
        self._state = as_state(module_or_state)
        self._groups = tie_groups(self._state)
        self._seed = seed
        self._token = f"state:{uuid.uuid4().hex}"

    def entries(self) -> list[TensorSpec]:
        """See :class:`Source`."""
        return specs_of(self._state, list(self._groups))

    def ties(self) -> dict[str, str]:
        """See :class:`Source`."""
        return ties_of(self._groups)

    def metadata(self) -> dict[str, str]:
        """None: a state dict says nothing about where it came from."""
        return {}

    def fingerprint(self) -> str:
        """Unique to this source: values held in memory cannot be fingerprinted without
        reading them all, so two saves never share a checkpoint id."""
        return self._token

    def values(self, name: str) -> np.ndarray:
        """See :class:`Source`."""
        return host_array(self._state[name], name, self._seed)
