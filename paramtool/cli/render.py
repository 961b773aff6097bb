"""Rendering reports as text: tables with thousands separators, human sizes and trees.

The layout rules (names whole, nothing wrapped when piped, fitting a terminal, ``NO_COLOR``,
names shown as data) live in :mod:`paramtool.cli.layout`; this module turns each report into
tables, trees and lines.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from paramtool.cli.layout import Output, Table, TreeLine, tree_lines
from paramtool.report import Inventory, TensorStats, TreeNode, non_finite, stats_columns
from paramtool.report.memory import MemoryEstimate

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def make_console(file: IO[str] | None = None) -> Output:
    """Where a command writes its text: stdout (or ``file``), as a terminal or a pipe."""
    return Output.for_stream(file)


def emit(console: Output, renderable: Table | TreeLine) -> None:
    """Write a table or a tree laid out for ``console``."""
    if isinstance(renderable, Table):
        console.lines(renderable.render(console))
    else:
        console.lines(tree_lines(renderable, console))


def count(value: int) -> str:
    """``124439808`` -> ``124,439,808``."""
    return f"{value:,}"


def size(nbytes: int) -> str:
    """Human size in decimal units, as checkpoint shard sizes are given: ``497.8 MB``."""
    value = float(nbytes)
    for unit in _SIZE_UNITS:
        if abs(value) < 1000 or unit == _SIZE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def shape(dims: Sequence[int]) -> str:
    """``(768, 2304)`` -> ``[768, 2304]``; a 0-d tensor is ``[]``."""
    return "[" + ", ".join(map(str, dims)) + "]"


def number(value: float | None) -> str:
    """A statistic in 4 significant digits; ``-`` when absent or undefined (NaN)."""
    return floats(".4g", [value])[0][0]


def floats(
    spec: str | Callable[[float], str], *columns: Iterable[float | None], undefined: str = "-"
) -> list[list[str]]:
    """Each value of each column written by ``spec`` (a format spec, or a function of a float);
    ``undefined`` for None and NaN.

    Each distinct value is written once, for all the columns: the mean, min and max of a
    million scalars are the same million values, and most stds are one. ``-0.0`` (a key equal
    to ``0.0``) keeps its sign.
    """
    if callable(spec):
        write = spec
    else:  # "%.4g" % v writes what format(v, ".4g") does (one C routine), a third faster
        write = f"%{spec}".__mod__ if spec[-1] in "eEfFgG" else f"{{:{spec}}}".format
    lists = [column if type(column) is list else list(column) for column in columns]
    distinct = set(itertools.chain.from_iterable(lists))
    unknown = [value for value in distinct if value is None or value != value]
    known = list(distinct.difference(unknown))  # None and each NaN object (NaN equals nothing)
    written = dict(zip(known, map(write, known), strict=True))
    written.update(dict.fromkeys(unknown, undefined))
    if 0.0 in written:  # -0.0 and 0.0 are one key: positive here, negative ones below
        written[0.0] = write(0.0)
    cells = [list(map(written.__getitem__, column)) for column in lists]
    if 0.0 in written:
        import numpy as np  # noqa: PLC0415 - only columns holding a zero need it

        negative = write(-0.0)
        for column, texts in zip(lists, cells, strict=True):
            values = np.array(column, np.float64)  # None is NaN
            for i in np.flatnonzero((values == 0) & np.signbit(values)).tolist():
                texts[i] = negative
    return cells


def counts(values: Sequence[int]) -> list[str]:
    """:func:`count` of each value, each distinct value formatted once."""
    return _distinct(count, values)


def table(
    console: Output,
    columns: Iterable[str],
    numeric: Iterable[str] = (),
    wrap: Iterable[str] | None = None,
) -> Table:
    """A table for ``console``; ``numeric`` columns right-aligned.

    Args:
        console: Where the table will be written.
        columns: The column headings.
        numeric: Columns to right-align.
        wrap: Columns holding names, which a narrow terminal may elide in the middle (default:
            the first). Nothing is ever folded onto a second line.
    """
    return Table(list(columns), numeric, wrap)


def tie_mark(row: Any) -> str:
    """``= canonical`` for an alias, ``#N`` for the canonical name of tie group N."""
    if row.tied_to is not None:
        return f"= {row.tied_to}"
    return f"#{row.tie_group}" if row.tie_group is not None else ""


def trainable_mark(row: Any) -> str:
    """``yes``/``no`` for parameters, ``buffer`` for buffers, empty for file tensors."""
    if row.kind == "buffer":
        return "buffer" if row.persistent else "buffer (not saved)"
    if row.trainable is None:
        return ""
    return "yes" if row.trainable else "no"


def render_rows(console: Output, inventory: Inventory) -> None:
    """The per-tensor table of an inventory."""
    model = inventory.kind == "model"
    columns = ["name", "shape", "dtype", "params"] + (["trainable"] if model else []) + ["tied"]
    out = table(console, columns, numeric=["params"], wrap=["name", "tied"])
    rows = inventory.rows
    if rows:
        names, shapes, dtypes, numel, *_ = zip(*rows, strict=True)
        values = [names, _distinct(shape, shapes), dtypes, counts(numel)]
        values += [[trainable_mark(row) for row in rows]] if model else []
        ties = [tie_mark(row) for row in rows] if inventory.ties else [""] * len(rows)
        out.add_columns(*values, ties)
    emit(console, out)


def _distinct(write: Callable[[Any], str], values: Sequence[Any]) -> list[str]:
    """``write`` of each value, each distinct (hashable) value written once."""
    written = {value: write(value) for value in set(values)}
    return list(map(written.__getitem__, values))


def render_totals(console: Output, inventory: Inventory, shown: Inventory | None = None) -> None:
    """The footer: what a filter kept (if any), then the whole model's parameters,
    trainable/frozen, buffers, bytes per dtype, tensors and ties."""
    lines = []
    if shown is not None and shown.pattern:
        part = shown.totals
        lines.append(
            f"shown ({shown.pattern}): {count(part.parameters + part.buffers)} elements in "
            f"{count(part.names)} of {count(inventory.totals.names)} names, {size(part.nbytes)}"
        )
    totals = inventory.totals
    lines.append(f"parameters: {count(totals.parameters)}")
    if inventory.kind == "model":
        lines[-1] += f" (trainable {count(totals.trainable)}, frozen {count(totals.frozen)})"
        lines.append(f"buffers:    {count(totals.buffers)}")
    elif totals.buffers:
        lines[-1] += " (floating point)"
        lines.append(f"buffers:    {count(totals.buffers)} (integer and bool tensors)")
    dtypes = ", ".join(f"{name} {size(n)}" for name, n in totals.bytes_by_dtype.items())
    lines.append(f"size:       {size(totals.nbytes)}" + (f" ({dtypes})" if dtypes else ""))
    lines.append(f"tensors:    {count(totals.tensors)} ({count(totals.names)} names)")
    lines.append(f"tie groups: {totals.tie_groups}")
    lines += [f"  #{i}: " + " = ".join(group) for i, group in enumerate(inventory.ties)]
    if inventory.overlapping:
        lines.append(f"overlapping views of one storage: {len(inventory.overlapping)}")
        lines += ["  " + ", ".join(group) for group in inventory.overlapping]
    made = provenance(inventory.metadata)
    if made:
        lines.append("provenance: " + "; ".join(f"{key} {value}" for key, value in made.items()))
    console.print("\n".join(lines))


def provenance(metadata: dict[str, str]) -> dict[str, str]:
    """What an export recorded about its source (``paramtool.*`` metadata), in reading order."""
    labels = {"version": "paramtool", "model": "model", "entry": "entry", "args": "args"}
    labels |= {key: key for key in ("from", "scheme", "rules", "seed", "dtype")}
    return {
        label: metadata[f"paramtool.{key}"]
        for key, label in labels.items()
        if f"paramtool.{key}" in metadata
    }


def render_contents(console: Output, inventory: Inventory) -> None:
    """A training checkpoint's top-level keys, what each holds, and which was read."""
    if not inventory.contents:
        return
    lines = [f"top-level keys (tensors read from {inventory.key!r}; pick another with --key):"]
    lines += [f"  {key}: {what}" for key, what in inventory.contents.items()]
    console.print("\n".join(lines))


def _node_label(node: TreeNode) -> str:
    name = node.name or "(root)"
    each = " each" if node.repeat > 1 else ""
    kind = f"{node.repeat} x {node.type or 'block'}" if node.repeat > 1 else node.type
    text = f"{name}: {kind}, " if kind else f"{name}: "
    text += f"{count(node.parameters)}{each}"
    if node.tied:
        text += f" (+{count(node.tied)} tied{each})"
    if node.buffers:
        text += f" (+{count(node.buffers)} buffer elements{each})"
    return text


def render_tree(console: Output, root: TreeNode, depth: int | None = None) -> None:
    """The module tree with per-module totals, ``depth`` levels below the root (None: all)."""
    top = TreeLine(_node_label(root), root.repeat > 1)
    stack = [(root, top, 0)]
    while stack:  # no recursion: a model may be thousands of modules deep
        node, line, level = stack.pop()
        if depth is not None and level >= depth:
            continue
        for child in node.children:
            line.children.append(TreeLine(_node_label(child), child.repeat > 1))
            stack.append((child, line.children[-1], level + 1))
    emit(console, top)


def render_stats(console: Output, stats: Sequence[TensorStats]) -> None:
    """Per-tensor statistics, then a NaN/Inf summary line."""
    columns = ["name", "numel", "mean", "std", "min", "max", "zeros", "nan", "inf"]
    out = table(console, columns, numeric=columns[1:])
    if stats:
        names, numel, mean, std, low, high, zeros, nan, inf = stats_columns(stats)
        fraction = [z / n if n else 0.0 for z, n in zip(zeros, numel, strict=True)]
        figures = floats(".4g", mean, std, low, high)
        out.add_columns(names, counts(numel), *figures, *floats(".1%", fraction), counts(nan), counts(inf))  # fmt: skip
    emit(console, out)
    bad = non_finite(stats)
    summary = (
        f"non-finite values in {len(bad)} tensor(s): {', '.join(bad)}"
        if bad
        else "all values finite"
    )
    console.print(summary)


def render_memory(console: Output, estimate: MemoryEstimate) -> None:
    """Bytes to hold and to train the model per dtype, as ``accelerate estimate-memory``
    shows them, then what the figures count."""
    columns = ["dtype", "largest layer", "inference", "training (Adam)"]
    out = table(console, columns, numeric=columns[1:])
    for row in estimate.rows():
        train = row["training_adam"]
        cells = (row["largest_layer"], row["inference"])
        out.add_row(row["dtype"], *(size(n) for n in cells), "-" if train is None else size(train))
    emit(console, out)
    lines = [f"parameters: {count(estimate.parameters)} (ties once), trainable "
             f"{count(estimate.trainable)}; buffers {size(estimate.buffer_bytes)}"]  # fmt: skip
    if estimate.largest_layer is not None:
        layer = estimate.largest_layer
        lines.append(f"largest layer: {layer.name or '(root)'} ({count(layer.parameters)} params)")
    lines.append("training: weights, gradients and Adam's two moments; half precision keeps "
                 "a float32 master copy; activations not included")  # fmt: skip
    console.print("\n".join(lines))
