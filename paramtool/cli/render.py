"""Rendering reports with rich: tables with thousands separators and human sizes.

On a terminal, tables get a light frame and colour (unless ``NO_COLOR`` is set) and fit the
terminal's width; when piped, output is plain text without colour or frame, wrapped only when
``COLUMNS`` asks for a width.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from paramtool.report import Inventory, TensorStats, TreeNode

#: Width used when output is not a terminal: lines are never wrapped.
PIPE_WIDTH = 1000

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def make_console(file: IO[str] | None = None) -> Console:
    """A console on ``file`` (stdout by default) suited to it: styled on a terminal, else plain."""
    file = file or sys.stdout
    terminal = file.isatty() if hasattr(file, "isatty") else False
    if terminal:
        return Console(file=file, no_color="NO_COLOR" in os.environ, emoji=False, highlight=False)
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) > 0 else None
    return Console(
        file=file,
        width=width or PIPE_WIDTH,
        color_system=None,
        emoji=False,
        highlight=False,
        soft_wrap=width is None,
    )


def emit(console: Console, renderable: Any) -> None:
    """Print a table or tree; when piped, without the padding rich leaves at line ends."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


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
    return "[" + ", ".join(str(d) for d in dims) + "]"


def number(value: float | None) -> str:
    """A statistic in 4 significant digits; ``-`` when absent."""
    return "-" if value is None or value != value else f"{value:.4g}"


def table(
    console: Console,
    columns: Iterable[str],
    numeric: Iterable[str] = (),
    wrap: Iterable[str] | None = None,
) -> Table:
    """A table framed lightly on a terminal, plain otherwise; ``numeric`` columns right-aligned.

    Args:
        console: Where the table will be printed.
        columns: The column headings.
        numeric: Columns to right-align.
        wrap: Columns that may fold onto several lines when the table is too wide (default:
            the first, the name); numbers, shapes and dtypes are never broken.
    """
    columns = list(columns)
    numeric = set(numeric)
    wrap = set(columns[:1] if wrap is None else wrap)
    styled = console.is_terminal
    result = Table(
        box=box.SIMPLE_HEAD if styled else None,
        show_edge=False,
        header_style="bold" if styled else "",
        pad_edge=False,
        padding=(0, 1, 0, 0) if styled else (0, 1),  # two spaces between columns either way
    )
    for name in columns:
        result.add_column(
            name,
            justify="right" if name in numeric else "left",
            overflow="fold",
            no_wrap=name not in wrap,
        )
    return result


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


def render_rows(console: Console, inventory: Inventory) -> None:
    """The per-tensor table of an inventory."""
    model = inventory.kind == "model"
    columns = ["name", "shape", "dtype", "params"] + (["trainable"] if model else []) + ["tied"]
    out = table(console, columns, numeric=["params"])
    for row in inventory.rows:
        cells = [row.name, shape(row.shape), row.dtype, count(row.numel)]
        cells += [trainable_mark(row)] if model else []
        out.add_row(*cells, tie_mark(row))
    emit(console, out)


def render_totals(console: Console, inventory: Inventory) -> None:
    """The footer: parameters, trainable/frozen, buffers, bytes per dtype, tensors, ties."""
    totals = inventory.totals
    lines = [f"parameters: {count(totals.parameters)}"]
    if inventory.kind == "model":
        lines[0] += f" (trainable {count(totals.trainable)}, frozen {count(totals.frozen)})"
        lines.append(f"buffers:    {count(totals.buffers)}")
    dtypes = ", ".join(f"{name} {size(n)}" for name, n in totals.bytes_by_dtype.items())
    lines.append(f"size:       {size(totals.nbytes)}" + (f" ({dtypes})" if dtypes else ""))
    lines.append(f"tensors:    {count(totals.tensors)} ({count(totals.names)} names)")
    lines.append(f"tie groups: {totals.tie_groups}")
    lines += [f"  #{i}: " + " = ".join(group) for i, group in enumerate(inventory.ties)]
    console.print("\n".join(lines), markup=False)


def _node_label(node: TreeNode, styled: bool) -> str:
    name = node.name or "(root)"
    each = " each" if node.repeat > 1 else ""
    kind = f"{node.repeat} x {node.type or 'block'}" if node.repeat > 1 else node.type
    text = f"{name}: {kind}, " if kind else f"{name}: "
    text += f"{count(node.parameters)}{each}"
    if node.tied:
        text += f" (+{count(node.tied)} tied{each})"
    if node.buffers:
        text += f" (+{count(node.buffers)} buffer elements{each})"
    return f"[bold]{text}[/bold]" if styled and node.repeat > 1 else text


def render_tree(console: Console, root: TreeNode, depth: int | None = None) -> None:
    """The module tree with per-module totals, ``depth`` levels below the root (None: all)."""
    styled = console.is_terminal
    guide = "tree.line" if styled else "none"
    tree = Tree(_node_label(root, styled), guide_style=guide)

    def add(branch: Tree, node: TreeNode, level: int) -> None:
        if depth is not None and level >= depth:
            return
        for child in node.children:
            add(branch.add(_node_label(child, styled)), child, level + 1)

    add(tree, root, 0)
    emit(console, tree)


def render_stats(console: Console, stats: Sequence[TensorStats]) -> None:
    """Per-tensor statistics, then a NaN/Inf summary line."""
    columns = ["name", "numel", "mean", "std", "min", "max", "zeros", "nan", "inf"]
    out = table(console, columns, numeric=columns[1:])
    for s in stats:
        out.add_row(
            s.name,
            count(s.numel),
            number(s.mean),
            number(s.std),
            number(s.min),
            number(s.max),
            f"{s.zero_fraction:.1%}",
            count(s.nan),
            count(s.inf),
        )
    emit(console, out)
    bad = [s.name for s in stats if not s.finite]
    summary = (
        f"non-finite values in {len(bad)} tensor(s): {', '.join(bad)}"
        if bad
        else "all values finite"
    )
    console.print(summary, markup=False)
