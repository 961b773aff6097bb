"""Export: write checkpoints from a source, in one process, local workers or a Dask cluster.

Level 5: may import checkpoint, models, nn, core. Everything that writes a sharded checkpoint
comes through here, in four steps that any process can take for any shard:

1. A **source** (:class:`Source`, a small picklable protocol) lists the tensors to store and
   gives one tensor's values by name::

       entries() -> list[TensorSpec]  # name, shape, dtype; state_dict order; ties once
       ties() -> dict[str, str]       # dropped name -> kept name
       metadata() -> dict[str, str]   # provenance for every file's __metadata__
       fingerprint() -> str           # changes whenever the values may change
       values(name) -> numpy array    # host values of one stored tensor

   :class:`ModelSource` is a model file (+ args, config, scheme, rules, seed, ``--from``,
   dtype); :class:`StateSource` an in-memory state dict. A checkpoint being converted is a
   source too: implement the five methods and pass it to :func:`write_checkpoint`.
2. A **plan** (:func:`make_plan`) from entries alone: Hugging Face's shard order and names,
   the index, each file's metadata, and a checkpoint id that every file carries.
3. **Shards** (:func:`write_shard`): one whole file from the plan and the source.
4. **Staging** (:mod:`.staging`): shards and index built beside the target and swapped into
   place in one step, so a reader sees the old checkpoint or the new one, never a mix.

Example:
    >>> from paramtool.export import ModelRecipe, ModelSource, write_checkpoint
    >>> recipe = ModelRecipe("sample_models/llama.py", args={"num_hidden_layers": 4}, seed=0)
    >>> source = ModelSource(recipe)  # doctest: +SKIP
    >>> write_checkpoint(source, "out", "300MB", workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paramtool.checkpoint.safetensors.writer import Progress
from paramtool.export.model import ModelRecipe, ModelSource, Prepared, float_dtype, prepare
from paramtool.export.plan import INDEX_FILE, Plan, Shard, make_plan, parse_size, split_sizes
from paramtool.export.source import Source, StateSource, TensorSpec
from paramtool.export.write import check_target, write_checkpoint, write_shard


def save_sharded(
    module_or_state: Any,
    folder: str | os.PathLike[str],
    max_shard_size: int | str = "5GB",
    metadata: Mapping[str, str] | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Save a Module's state_dict (or a state dict) as a folder in the Hugging Face layout.

    One shard gives ``model.safetensors``; more give ``model-0000i-of-0000N.safetensors`` and
    ``model.safetensors.index.json``. Tied tensors are stored once, in the shard of their kept
    name. The folder is replaced as a whole (other files in it are kept).

    Args:
        module_or_state: A Module, or a mapping of name -> Tensor or numpy array.
        folder: The target folder (created if missing).
        max_shard_size: Bytes per shard: an int or a string such as ``"5GB"``, ``"10KiB"``.
        metadata: User metadata, kept in every shard and in the index's ``metadata``.
        seed: The seed of deferred tensors' values (None: the global seed).
        progress: Called as ``progress(name, nbytes)`` after each tensor is written.

    Returns:
        The files written (shards, then the index when there is one).
    """
    source = StateSource(module_or_state, seed)
    return write_checkpoint(source, folder, max_shard_size, metadata=metadata, progress=progress)


__all__ = [
    "INDEX_FILE",
    "ModelRecipe",
    "ModelSource",
    "Plan",
    "Prepared",
    "Shard",
    "Source",
    "StateSource",
    "TensorSpec",
    "check_target",
    "float_dtype",
    "make_plan",
    "parse_size",
    "prepare",
    "save_sharded",
    "split_sizes",
    "write_checkpoint",
    "write_shard",
]
