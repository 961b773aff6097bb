"""``paramtool inspect`` and ``paramtool stats``: what a model or checkpoint holds."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

import click

from paramtool.cli.json_output import EncodedItems
from paramtool.cli.options import (
    CheckpointOptions,
    ModelOptions,
    checkpoint_options,
    echo_json,
    json_option,
    model_argument,
    model_options,
)
from paramtool.cli.progress import progress
from paramtool.cli.render import (
    floats,
    make_console,
    render_contents,
    render_memory,
    render_rows,
    render_stats,
    render_totals,
    render_tree,
)
from paramtool.core.collection import collection_paused
from paramtool.report import (
    Inventory,
    TensorStats,
    build_tree,
    inventory_stats,
    non_finite,
    open_inventory,
    stats_columns,
)
from paramtool.report.memory import estimate_memory


def _filter(inventory: Inventory, pattern: str | None) -> Inventory:
    """The rows matching ``pattern``; a warning on stderr when none does."""
    shown = inventory.filtered(pattern)
    if pattern and not shown.rows:
        click.echo(f"warning: no tensor name matches {pattern!r}", err=True)
    return shown


def _stats(inventory: Inventory) -> Sequence[TensorStats]:
    with progress("reading", inventory.totals.nbytes) as advance:
        return inventory_stats(inventory, progress=advance)


#: One line of ``stats`` JSON: what ``json.dumps`` writes of :meth:`TensorStats.to_dict` (with
#: ``", "`` and ``": "`` separators), its fields as arguments.
_STATS_LINE = (
    '{"name": %s, "numel": %d, "mean": %s, "std": %s, "min": %s, "max": %s, '
    '"zeros": %d, "nan": %d, "inf": %d, "zero_fraction": %s}'
)


def _stats_json(values: Sequence[TensorStats]) -> Iterator[str]:
    """The JSON line of each, written column by column (each distinct figure written once), not
    by a dict per tensor: a checkpoint may hold a million."""
    names, numel, mean, std, low, high, zeros, nan, inf = stats_columns(values)
    fraction = [z / n if n else 0.0 for z, n in zip(zeros, numel, strict=True)]
    figures = floats(_json_number, mean, std, low, high, fraction, undefined="null")
    texts = map(encode_basestring_ascii, names)
    fields = (texts, numel, *figures[:4], zeros, nan, inf, figures[4])
    return map(_STATS_LINE.__mod__, zip(*fields, strict=True))


def _json_number(value: float) -> str:
    return float.__repr__(value) if math.isfinite(value) else "null"


def inventory_json(inventory: Inventory, full: Inventory) -> dict[str, Any]:
    """The JSON document of ``inspect`` (``full`` gives the totals and ties when filtered;
    ``shown_totals`` are then those of the rows shown)."""
    data = {
        "source": inventory.source,
        "kind": inventory.kind,
        "tensors": EncodedItems(row.to_json() for row in inventory.rows),
        "totals": full.totals.to_dict(),
        "ties": full.ties,
        "metadata": full.metadata,
        "overlapping": full.overlapping,
        "contents": full.contents,
        "key": full.key,
    }
    if inventory.pattern:
        data["shown_totals"] = inventory.totals.to_dict()
    return data


@click.command()
@model_argument("target", metavar="[TARGET]")
@click.option("--tree", is_flag=True, help="Show the module tree with per-module totals.")
@click.option("--filter", "pattern", metavar="GLOB", help="Only names matching GLOB ('*attn*').")
@click.option("--depth", type=click.IntRange(min=0), help="Tree levels to show (implies --tree).")
@click.option(
    "--stats", is_flag=True, help="Add mean/std/min/max and NaN/Inf counts (reads values)."
)
@click.option(
    "--memory",
    is_flag=True,
    help="Bytes to hold the model (float32 ... int4) and to train it with Adam, ties once.",
)
@json_option
@model_options
@checkpoint_options
@collection_paused()  # rows and documents of a million tensors hold no cycles
def inspect(
    target: str,
    tree: bool,
    pattern: str | None,
    depth: int | None,
    stats: bool,
    memory: bool,
    as_json: bool,
    model_options: ModelOptions,
    checkpoint_options: CheckpointOptions,
) -> None:
    """List the tensors of TARGET with shapes, dtypes, counts, sizes and tie groups.

    TARGET is a model file (.py, default ./model.py), a .safetensors file, a torch.save
    file (.bin/.pt/.pth/.ckpt, read without running code from it), an index json, or a
    folder holding a checkpoint. A checkpoint is read from its header alone unless --stats
    is given; a training checkpoint's top-level keys are listed with what each holds. With PyTorch and the library installed,
    TARGET may also be torchvision:NAME, timm:NAME or hf:PATH (a config.json or its folder),
    built on the meta device. --memory shows, instead of the table, the bytes to hold the
    model in float32/bfloat16/float16/int8/int4 and to train it with Adam.
    """
    full = open_inventory(target, **model_options.kwargs(), **checkpoint_options.kwargs())
    shown = _filter(full, pattern)
    tree = tree or depth is not None
    root = build_tree(shown) if tree else None
    values = _stats(shown) if stats else None
    estimate = estimate_memory(full) if memory else None
    if as_json:
        data = inventory_json(shown, full)
        if root is not None:
            data["tree"] = root.to_dict(depth)
        if values is not None:
            data["stats"] = EncodedItems(_stats_json(values))
        if estimate is not None:
            data["memory"] = estimate.to_dict()
        echo_json(data)
        return
    console = make_console()
    if estimate is not None:
        render_memory(console, estimate)
        return
    if root is not None:
        render_tree(console, root, depth)
    else:
        render_rows(console, shown)
    if values is not None:
        render_stats(console, values)
    render_totals(console, full, shown)
    render_contents(console, full)


@click.command()
@model_argument("target", metavar="[TARGET]")
@click.option("--filter", "pattern", metavar="GLOB", help="Only names matching GLOB.")
@json_option
@model_options
@checkpoint_options
@collection_paused()  # rows and documents of a million tensors hold no cycles
def stats(
    target: str,
    pattern: str | None,
    as_json: bool,
    model_options: ModelOptions,
    checkpoint_options: CheckpointOptions,
) -> None:
    """Per-tensor statistics of TARGET (mean, std, min, max, zeros, NaN and Inf counts).

    TARGET is a checkpoint (.safetensors, index json or folder) or a model file, whose
    tensors are then materialised one at a time. Exits 1 when a value is NaN or infinite.
    """
    reading = {**model_options.kwargs(), **checkpoint_options.kwargs()}
    inventory = _filter(open_inventory(target, **reading), pattern)
    values = _stats(inventory)
    if as_json:
        echo_json({"source": inventory.source, "stats": EncodedItems(_stats_json(values))})
    else:
        render_stats(make_console(), values)
    if non_finite(values):
        raise click.exceptions.Exit(1)
