"""State dicts <-> safetensors: tied tensors stored once, sharded checkpoints.

Tied names (several names reaching one object) are stored once, under the first name, and the
others recorded in ``__metadata__`` as ``{dropped: kept}``: the convention of the reference
``safetensors.torch.save_model``, so its files and ours load in both. ``"format": "pt"`` is
added unless given, as Hugging Face loaders require it.

Sharding follows Hugging Face (``huggingface_hub.split_state_dict_into_shards_factory``):
tensors are taken in order; one bigger than the limit gets a shard of its own, otherwise a new
shard starts when the next tensor would pass the limit. Files are named
``model-00001-of-00003.safetensors`` beside ``model.safetensors.index.json``, whose
``metadata.total_size`` counts the tensor bytes stored (each tied tensor once).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from paramtool.checkpoint.checkpoint import INDEX_SUFFIX, SINGLE_FILE, open_checkpoint
from paramtool.checkpoint.safetensors.writer import Progress, atomic_write, write_stream
from paramtool.checkpoint.sharing import as_state, tie_groups
from paramtool.errors import SafetensorsError

INDEX_FILE = "model" + INDEX_SUFFIX
_SHARD_NAME = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip


def parse_size(size: int | str) -> int:
    """Bytes in a size: an int, or a string with a decimal or binary unit.

    ``"5GB"`` is 5 * 10**9, ``"500MB"`` 5 * 10**8, ``"10KiB"`` 10 * 1024 (case-insensitive).

    Raises:
        SafetensorsError: not a positive size.
    """
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(size))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise SafetensorsError(f"cannot read {size!r} as a size; use e.g. 5GB, 500MB, 10KiB")
        value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise SafetensorsError(f"size must be positive, got {size!r}")
    return value


def _nbytes(value: Any) -> int:
    return int(np.prod(tuple(value.shape), dtype=object)) * np.dtype(value.dtype).itemsize


def _metadata(user: Mapping[str, str] | None, ties: Mapping[str, str]) -> dict[str, str]:
    merged = {"format": "pt", **ties}
    merged.update(user or {})  # user data wins over a tie record, as in the reference
    return merged


def _ties(groups: Mapping[str, list[str]], kept: list[str]) -> dict[str, str]:
    return {dropped: name for name in kept for dropped in groups[name][1:]}


def _write_file(
    state: Mapping[str, Any],
    groups: Mapping[str, list[str]],
    kept: list[str],
    path: Path,
    metadata: Mapping[str, str] | None,
    seed: int | None,
    progress: Progress | None,
) -> None:
    specs = [(name, tuple(state[name].shape), state[name].dtype) for name in kept]
    meta = _metadata(metadata, _ties(groups, kept))
    write_stream(path, specs, state.__getitem__, meta, seed, progress)


def save_state_dict(
    module_or_state: Any,
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> None:
    """Save a Module's state_dict (or a state dict) as one file, tied tensors stored once.

    Deferred tensors are computed while writing, with values from their names and ``seed``,
    the next one while the current one is written (at most two held at a time), so a model
    larger than memory can be exported.

    Args:
        module_or_state: A Module, or a mapping of name -> Tensor or numpy array.
        path: The target file; replaced atomically.
        metadata: User metadata kept in ``__metadata__``.
        seed: The seed of deferred tensors' values (None: the global seed).
        progress: Called as ``progress(name, nbytes)`` after each tensor is written.

    Raises:
        SafetensorsError: a dtype the format cannot hold, bad metadata, or a failed write.
    """
    state = as_state(module_or_state)
    groups = tie_groups(state)
    _write_file(state, groups, list(groups), Path(path), metadata, seed, progress)


def plan_shards(sizes: Mapping[str, int], max_shard_size: int) -> list[list[str]]:
    """Split names (in order) into shards of at most ``max_shard_size`` bytes, as HF does.

    A tensor bigger than the limit gets a shard of its own.
    """
    shards: list[list[str]] = []
    current: list[str] = []
    current_size = 0
    for name, size in sizes.items():
        if size > max_shard_size:
            shards.append([name])
            continue
        if current and current_size + size > max_shard_size:
            shards.append(current)
            current, current_size = [], 0
        current.append(name)
        current_size += size
    if current or not shards:
        shards.append(current)
    return shards


def save_sharded(
    module_or_state: Any,
    folder: str | os.PathLike[str],
    max_shard_size: int | str = "5GB",
    metadata: Mapping[str, str] | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Save a state dict into a folder in the Hugging Face layout.

    One shard gives ``model.safetensors``; more give ``model-0000i-of-0000N.safetensors`` and
    ``model.safetensors.index.json``. Tied tensors are stored once, in the shard of their kept
    name. Files of an earlier save in the folder that the new one does not use are removed
    after the new files are in place.

    Args:
        module_or_state: A Module, or a mapping of name -> Tensor or numpy array.
        folder: The target folder (created if missing).
        max_shard_size: Bytes per shard: an int or a string such as ``"5GB"``, ``"10KiB"``.
        metadata: User metadata, kept in every shard and in the index's ``metadata``.
        seed: The seed of deferred tensors' values (None: the global seed).
        progress: Called as ``progress(name, nbytes)`` after each tensor is written.

    Returns:
        The files written (shards, then the index when there is one).

    Raises:
        SafetensorsError: a bad size or metadata, or a failed write.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = as_state(module_or_state)
    groups = tie_groups(state)
    sizes = {name: _nbytes(state[name]) for name in groups}
    shards = plan_shards(sizes, parse_size(max_shard_size))
    if len(shards) == 1:
        names = [SINGLE_FILE]
    else:
        names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    for kept, name in zip(shards, names, strict=True):
        _write_file(state, groups, kept, folder / name, metadata, seed, progress)
    written = [folder / name for name in names]
    if len(shards) > 1:
        weight_map = {k: name for kept, name in zip(shards, names, strict=True) for k in kept}
        total = sum(sizes.values())
        index = {"metadata": {"total_size": total, **(metadata or {})}, "weight_map": weight_map}
        with atomic_write(folder / INDEX_FILE) as out:
            out.write((json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        written.append(folder / INDEX_FILE)
    _remove_stale(folder, written)
    return written


def _remove_stale(folder: Path, written: list[Path]) -> None:
    keep = {p.name for p in written}
    for path in folder.iterdir():
        stale = path.name in (SINGLE_FILE, INDEX_FILE) or _SHARD_NAME.fullmatch(path.name)
        if stale and path.name not in keep:
            path.unlink(missing_ok=True)


def load_state_dict_file(path: str | os.PathLike[str], device: object = "cpu") -> dict[str, Any]:
    """Load a state dict from a file, index or folder, re-tying tied names.

    Understands the ``{dropped: kept}`` records of paramtool and of the reference
    ``save_model``: every dropped name maps to the very Tensor object of its kept name.

    Args:
        path: A ``.safetensors`` file, an index json, or a folder holding either.
        device: Where the Tensors live (``"cpu"`` maps the file without copying).

    Returns:
        Name -> Tensor.

    Raises:
        SafetensorsError: a missing or malformed file.
    """
    return open_checkpoint(path).tensors(device)


def fill_tied_names(state: Mapping[str, Any], model: Any) -> dict[str, Any]:
    """Add the names a checkpoint left out because the model ties them to a stored name.

    A checkpoint written by Hugging Face's ``save_pretrained`` stores a tied tensor once and
    records nothing about the names it dropped (GPT-2's ``lm_head.weight``). Each model tie group
    with a member in ``state`` gets its absent members mapped to that member's tensor, so that
    ``model.load_state_dict(..., strict=True)`` sees every name it expects.

    Args:
        state: Name -> Tensor, as loaded from a checkpoint.
        model: The Module the state is for.

    Returns:
        A new dict: ``state`` plus the filled-in names.
    """
    filled = dict(state)
    for names in tie_groups(model.state_dict(keep_vars=True)).values():
        present = next((name for name in names if name in state), None)
        if present is not None:
            filled.update({name: state[present] for name in names if name not in state})
    return filled


def load_into(model: Any, path: str | os.PathLike[str], strict: bool = True) -> Any:
    """Load a checkpoint (file, index or folder) into ``model``, re-tying tied names.

    Args:
        model: The Module to load into; it is left unchanged when the load fails.
        path: A ``.safetensors`` file, an index json, or a folder holding either.
        strict: Whether missing or unexpected names are an error (size mismatches always are).

    Returns:
        ``model.load_state_dict``'s result: the missing and unexpected keys.
    """
    return model.load_state_dict(fill_tied_names(load_state_dict_file(path), model), strict=strict)
