"""Opening what a user points at: a model file, a checkpoint file, an index or a folder."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paramtool.checkpoint import open_checkpoint
from paramtool.errors import ModelLoadError
from paramtool.models.sources import is_model_target, open_model
from paramtool.report.inventory import Inventory, from_checkpoint, from_module


def is_model_file(target: str | os.PathLike[str]) -> bool:
    """True when ``target`` names a model (a ``.py`` file, ``torchvision:``, ``timm:``, ``hf:``)
    rather than a checkpoint."""
    return is_model_target(target)


def open_inventory(
    target: str | os.PathLike[str],
    entry: str | None = None,
    args: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    torch: str = "auto",
    key: str | None = None,
    follow_links: bool = False,
) -> Inventory:
    """The inventory of a model file (constructed deferred) or of a checkpoint (its header).

    Args:
        target: A ``.py`` model file, a ``.safetensors`` file, an index json or a folder.
        entry: For a model file: the model's name in it.
        args: For a model file: constructor arguments.
        config: For a model file: a config dict.
        torch: For a model file: ``auto``, ``paramtool`` or ``pytorch`` (``--torch``).
        key: For a checkpoint nesting its state dict: the top-level key to read.
        follow_links: For a checkpoint: read files linked from outside its folder.

    Raises:
        ModelLoadError: the model file fails, or model options were given for a checkpoint.
        CheckpointError: the checkpoint is malformed or refused.
    """
    if is_model_file(target):
        model = open_model(target, entry, args, config, torch)
        return from_module(model, source=str(target))
    if not Path(target).exists():
        raise ModelLoadError(f"{target}: no such file or folder")
    if entry or args or config:
        raise ModelLoadError(
            f"{target}: --entry/--arg/--config apply to model files, not checkpoints"
        )
    return from_checkpoint(open_checkpoint(target, key, follow_links), source=str(target))
