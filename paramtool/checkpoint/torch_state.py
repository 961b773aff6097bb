"""A ``torch.save`` file as a checkpoint part: the dict of tensors it holds, mapped in place.

The file may hold a state dict (``{name: tensor}``), or a training checkpoint nesting one
(``{"state_dict": ..., "optimizer": ..., "epoch": 3}``, ``{"model": ...}``). The dict of
tensors is found by key (``key=`` picks one); the other top-level entries are described in
:attr:`Part.contents`, and those that are plain data (numbers, strings, lists, dicts of them)
are kept as JSON strings in :attr:`Part.metadata`, so nothing is lost on conversion.

Each tensor is a strided view of its storage's bytes in the mapped file: offsets, strides and
several tensors on one storage are exact. Names viewing the very same elements are ties; distinct
views of one storage are reported as overlapping, both by the shared sharing detection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from paramtool.checkpoint.entry import Entry, Part
from paramtool.checkpoint.sharing import find_shared
from paramtool.checkpoint.unpickler import StorageRef, TensorRef
from paramtool.errors import CheckpointError

#: Top-level keys that hold a model's weights, most specific first.
STATE_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "weights")
_LISTED = 64  # container items counted when describing an entry
#: Most values of a plain top-level entry kept as JSON metadata (a larger one is left out).
PLAIN_VALUES = 1_000_000


class TorchPart(Part):
    """A ``torch.save`` file opened as a part (see the module docstring)."""

    def __init__(
        self,
        file: Path,
        obj: Any,
        storages: Mapping[str, tuple[int, int]],
        mapping: Any,
        key: str | None = None,
    ) -> None:
        state, chosen, contents = select_state(obj, key, file)
        self.mapping = mapping
        self._storages = storages
        self._bases: dict[tuple[str, int, str], np.ndarray] = {}
        self._arrays = {name: self._view(ref) for name, ref in state.items()}
        sharing = find_shared(self._arrays)
        tied = {dropped: group[0] for group in sharing.tied for dropped in group[1:]}
        entries = [
            Entry(name, ref.shape, ref.dtype, ref.nbytes, file)
            for name, ref in state.items()
            if name not in tied
        ]
        super().__init__(
            file,
            entries,
            metadata=plain_entries(obj, chosen),
            tied=tied,
            overlapping=sharing.overlapping,
            contents=contents,
            key=chosen,
            mapping=mapping,
        )

    def array(self, name: str) -> np.ndarray:
        """The tensor's values: a view of the mapped file."""
        return self._arrays[name]

    def _view(self, ref: TensorRef) -> np.ndarray:
        if ref.numel == 0:
            return np.empty(ref.shape, ref.dtype)
        base = self._base(ref.storage, ref.dtype)
        item = ref.dtype.itemsize
        return np.lib.stride_tricks.as_strided(
            base[ref.offset :], ref.shape, tuple(s * item for s in ref.stride)
        )

    def _base(self, storage: StorageRef, dtype: np.dtype) -> np.ndarray:
        cache = (storage.key, storage.offset, dtype.str)
        if cache not in self._bases:
            start, _ = self._storages[storage.key]
            start += storage.offset * storage.dtype.itemsize
            count = storage.numel * storage.dtype.itemsize // dtype.itemsize
            self._bases[cache] = np.frombuffer(self.mapping, dtype, count=count, offset=start)
        return self._bases[cache]


def _tensors(value: Any) -> dict[str, TensorRef] | None:
    """The tensors of a dict whose values are tensors (others skipped); None otherwise."""
    if not isinstance(value, Mapping):
        return None
    found = {k: v for k, v in value.items() if isinstance(v, TensorRef)}
    if not found or not all(isinstance(k, str) for k in found):
        return None
    return found


def select_state(
    obj: Any, key: str | None, file: Path
) -> tuple[dict[str, TensorRef], str | None, dict[str, str]]:
    """The dict of tensors in ``obj``, the top-level key it came from, and what each holds.

    Raises:
        CheckpointError: ``key`` is absent or holds no tensors; several entries hold
            tensors and no key was given; or the file holds no dict of tensors.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{file}: holds {describe(obj)}, not a dict of tensors")
    contents = {str(k): describe(v) for k, v in obj.items()} if _nested(obj) else {}
    if key is not None:
        if key not in obj:
            keys = ", ".join(repr(str(k)) for k in list(obj)[:8]) or "none"
            more = f", ... {len(obj)} in all" if len(obj) > 8 else ""
            raise CheckpointError(f"{file}: no top-level key {key!r} (keys: {keys}{more})")
        state = _tensors(obj[key])
        if state is None:
            raise CheckpointError(f"{file}: {key!r} holds {describe(obj[key])}, not tensors")
        return state, key, contents
    if not contents:
        odd = [k for k, v in obj.items() if isinstance(v, TensorRef) and not isinstance(k, str)]
        if odd:  # a state dict's names are strings: nothing would be read under these
            raise CheckpointError(f"{file}: a tensor is named {odd[0]!r}; names must be strings")
        return _tensors(obj) or {}, None, {}
    found = [k for k in obj if isinstance(k, str) and _tensors(obj[k]) is not None]
    chosen = next((k for k in STATE_KEYS if k in found), found[0] if len(found) == 1 else None)
    if chosen is None:
        listed = ", ".join(repr(k) for k in found) if found else "no entry"
        raise CheckpointError(
            f"{file}: {listed} hold{'s' if not found else ''} tensors; pick one with --key"
        )
    return _tensors(obj[chosen]) or {}, chosen, contents


def _nested(obj: Mapping[Any, Any]) -> bool:
    """True when the tensors are not the file's own top-level values."""
    return bool(obj) and not any(isinstance(v, TensorRef) for v in obj.values())


def describe(value: Any) -> str:
    """What an entry holds, in a few words (``dict: 12 tensors``, ``int 3``)."""
    if isinstance(value, TensorRef):
        return f"tensor {value.dtype} {list(value.shape)}"
    if isinstance(value, Mapping | list | tuple):
        kind = "dict" if isinstance(value, Mapping) else type(value).__name__
        tensors = _count_tensors(value, budget=[100_000])
        inside = f", {tensors} tensors inside" if tensors else ""
        return f"{kind} of {len(value)} entr{'y' if len(value) == 1 else 'ies'}{inside}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _count_tensors(value: Any, budget: list[int], depth: int = 0) -> int:
    """Tensors inside ``value``, counting at most ``budget`` values and 32 levels deep (a
    pickle of a few kB can hold a list of millions: the walk stops, not only the count)."""
    budget[0] -= 1
    if budget[0] < 0 or depth > 32:
        return 0
    if isinstance(value, TensorRef):
        return 1
    if not isinstance(value, Mapping | list | tuple):
        return 0
    count = 0
    for item in value.values() if isinstance(value, Mapping) else value:
        if budget[0] < 0:
            break
        count += _count_tensors(item, budget, depth + 1)
    return count


def plain_entries(obj: Any, chosen: str | None) -> dict[str, str]:
    """The top-level entries other than the state dict that are plain data, as JSON."""
    if chosen is None or not isinstance(obj, Mapping):
        return {}
    out = {}
    for key, value in obj.items():
        if key == chosen or not isinstance(key, str):
            continue
        text = _json(value)
        if text is not None:
            out[key] = text
    return out


#: JSON of the scalars a training checkpoint's entries mostly are, written as ``json.dumps``
#: writes them without its per-call set-up (a file may hold a million entries).
_SCALAR_JSON: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "null",
    bool: lambda value: "true" if value else "false",
    int: int.__repr__,
    str: json.encoder.encode_basestring_ascii,  # type: ignore[attr-defined]
}


def _json(value: Any) -> str | None:
    try:
        scalar = _SCALAR_JSON.get(type(value))
        if scalar is not None:
            return scalar(value)
        if not _plain(value, depth=0, budget=[PLAIN_VALUES]):
            return None
        return json.dumps(value, allow_nan=False, sort_keys=False)
    except (TypeError, ValueError):  # an int of more than 4,300 digits, a float that is NaN
        return None


def _plain(value: Any, depth: int, budget: list[int]) -> bool:
    """Whether ``value`` is plain JSON data of at most ``budget`` values, 32 levels deep."""
    budget[0] -= 1
    if depth > 32 or budget[0] < 0:
        return False
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_plain(v, depth + 1, budget) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v, depth + 1, budget) for k, v in value.items())
    return False
