"""Shard plans: which tensor goes in which file, computed from names, shapes and dtypes alone.

Sharding follows Hugging Face (``huggingface_hub.split_state_dict_into_shards_factory``):
tensors are taken in state_dict order; one bigger than the limit gets a shard of its own,
otherwise a new shard starts when the next tensor would pass the limit. Files are named
``model-00001-of-00003.safetensors`` beside ``model.safetensors.index.json``, whose
``metadata.total_size`` counts the tensor bytes stored (each tied tensor once); a single shard
is ``model.safetensors`` with no index.

Every file's ``__metadata__`` (and the index's ``metadata``) carries a checkpoint id: a digest of
the source's fingerprint, the layout and the metadata. Two exports of the same inputs get the
same id (so their bytes are identical, whoever writes them), and a shard left over from another
export is recognised as not belonging to the index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from paramtool.checkpoint.checkpoint import CHECKPOINT_ID_KEY, INDEX_SUFFIX, SINGLE_FILE
from paramtool.checkpoint.safetensors.writer import plan_layout
from paramtool.checkpoint.state import file_metadata
from paramtool.errors import SafetensorsError
from paramtool.export.source import Source, TensorSpec, digest

INDEX_FILE = "model" + INDEX_SUFFIX
#: A shard file name of the Hugging Face layout.
SHARD_NAME = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
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


def split_sizes(sizes: Mapping[str, int], max_shard_size: int) -> list[list[str]]:
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


@dataclass(frozen=True)
class Shard:
    """One file of a plan.

    Attributes:
        file: Its file name.
        tensors: What it stores, in state_dict order.
        metadata: Its complete ``__metadata__`` (format, tie records, user data, provenance,
            checkpoint id).
    """

    file: str
    tensors: tuple[TensorSpec, ...]
    metadata: Mapping[str, str]

    @property
    def nbytes(self) -> int:
        """Bytes of tensor data."""
        return sum(t.nbytes for t in self.tensors)

    def layout(self) -> tuple[bytes, int]:
        """The file's exact header bytes and its size: what a finished file must match."""
        header, slots = plan_layout(
            [(t.name, t.shape, t.dtype) for t in self.tensors], self.metadata
        )
        return header, len(header) + (slots[-1].end if slots else 0)


@dataclass(frozen=True)
class Plan:
    """A whole checkpoint, before any value exists.

    Attributes:
        shards: The files, in order.
        checkpoint_id: The id written in every file and in the index.
        index_metadata: The index's ``metadata`` (``total_size`` first); empty when unindexed.
    """

    shards: tuple[Shard, ...]
    checkpoint_id: str
    index_metadata: Mapping[str, object] = field(default_factory=dict)

    @property
    def indexed(self) -> bool:
        """Whether an index file is written (more than one shard)."""
        return bool(self.index_metadata)

    @property
    def total_size(self) -> int:
        """Bytes of tensor data stored, each tied tensor once."""
        return sum(shard.nbytes for shard in self.shards)

    def weight_map(self) -> dict[str, str]:
        """Stored name -> file name, as the index lists it."""
        return {t.name: shard.file for shard in self.shards for t in shard.tensors}

    def index_bytes(self) -> bytes:
        """The index file's bytes."""
        index = {"metadata": dict(self.index_metadata), "weight_map": self.weight_map()}
        return (json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8")


def make_plan(
    source: Source,
    max_shard_size: int | str | None = None,
    metadata: Mapping[str, str] | None = None,
    single_file: str | None = None,
) -> Plan:
    """Plan a checkpoint of ``source``: from its entries and ties alone, no value computed.

    Args:
        source: What is written.
        max_shard_size: Bytes per shard (an int or ``"5GB"``); None: one shard.
        metadata: User metadata, kept in every file and in the index (it wins over a tie
            record or a provenance key of the same name).
        single_file: The file name when the whole checkpoint is one named file.

    Returns:
        The plan.

    Raises:
        SafetensorsError: a bad size.
    """
    entries = {spec.name: spec for spec in source.entries()}
    limit = parse_size(max_shard_size) if max_shard_size is not None else None
    groups = [list(entries)] if limit is None else split_sizes(_sizes(entries), limit)
    if single_file is not None and len(groups) == 1:
        files = [single_file]
    elif len(groups) == 1:
        files = [SINGLE_FILE]
    else:
        files = [f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    common = {**source.metadata(), **(metadata or {})}
    layout = [[(n, entries[n].shape, entries[n].dtype.str) for n in g] for g in groups]
    checkpoint_id = digest(source.fingerprint(), layout, common, source.ties())
    stamped = {**common, CHECKPOINT_ID_KEY: checkpoint_id}
    ties = source.ties()
    shards = tuple(
        Shard(file, tuple(entries[n] for n in names), _file_metadata(names, ties, stamped))
        for file, names in zip(files, groups, strict=True)
    )
    index_metadata: dict[str, object] = {}
    if len(shards) > 1:
        index_metadata = {"total_size": sum(s.nbytes for s in shards), **stamped}
    return Plan(shards, checkpoint_id, index_metadata)


def _sizes(entries: Mapping[str, TensorSpec]) -> dict[str, int]:
    return {name: spec.nbytes for name, spec in entries.items()}


def _file_metadata(
    names: list[str], ties: Mapping[str, str], stamped: Mapping[str, str]
) -> dict[str, str]:
    """The metadata of a file storing ``names``: its tie records, user data and provenance."""
    here = set(names)
    return file_metadata(stamped, {dropped: kept for dropped, kept in ties.items() if kept in here})
