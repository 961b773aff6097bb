"""State dicts <-> safetensors files: tied tensors stored once.

Tied names (several names reaching one object) are stored once, under the first name, and the
others recorded in ``__metadata__`` as ``{dropped: kept}``: the convention of the reference
``safetensors.torch.save_model``, so its files and ours load in both. ``"format": "pt"`` is
added unless given, as Hugging Face loaders require it.

Sharded checkpoints are written by :mod:`paramtool.export` (plans, staging, workers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paramtool.checkpoint.checkpoint import open_checkpoint
from paramtool.checkpoint.safetensors.writer import Progress, write_stream
from paramtool.checkpoint.sharing import as_state, tie_groups
from paramtool.nn._loading import load_state
from paramtool.nn.state_match import tie_fills


def file_metadata(user: Mapping[str, str] | None, ties: Mapping[str, str]) -> dict[str, str]:
    """A file's ``__metadata__``: ``format: pt``, the tie records ``{dropped: kept}`` of the
    tensors it stores, then the user's entries (which win over a tie record of the same key)."""
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
    meta = file_metadata(metadata, _ties(groups, kept))
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
    groups = list(tie_groups(model.state_dict(keep_vars=True)).values())
    filled = dict(state)
    filled.update({name: state[stored] for name, stored in tie_fills(groups, state).items()})
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
    ties = list(tie_groups(model.state_dict(keep_vars=True)).values())
    return load_state(model, load_state_dict_file(path), strict, fill_ties=True, ties=ties)
