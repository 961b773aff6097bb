"""Laying text out for a terminal or a pipe: tables and trees, names shown as data.

Rules, the same for every command:

- Names are never broken across lines. Piped output (and ``--json``) is never wrapped or
  shortened: one row per line, so ``| grep`` finds every name whole.
- On a terminal narrower than a table, the wide columns of least value go first (the init
  recipe is shortened to its kind, then ``expected std``, ``by``, the recipe, ``tied`` and
  ``trainable`` are dropped), then names are elided in the middle
  (``transformer.…c_attn.weight``), then more columns go (``zeros``, ``numel``, ...).
- On a terminal, headings are bold above a rule line; ``NO_COLOR`` drops all styling.
- Text is written as it is, never read as markup; control characters and escape sequences in
  names are shown escaped (``\\x1b``), so a name cannot drive the terminal.

Nothing here imports rich: piped and terminal output alike are plain strings.
"""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

#: Between two columns.
GAP = "  "
#: Marks the elided middle of a name.
ELLIPSIS = "…"
#: Narrowest a name column is elided to before more columns are dropped.
NAME_MIN, NAME_FLOOR = 24, 10

#: On a narrow terminal, in order: (column, "shorten" | "drop"); then names are elided; then
#: the second list is tried.
FIRST_TO_GO: tuple[tuple[str, str], ...] = (
    ("init", "shorten"),
    ("expected std", "drop"),
    ("by", "drop"),
    ("init", "drop"),
    ("tied", "drop"),  # the tie groups are listed under the table too
    ("trainable", "drop"),
)
THEN: tuple[tuple[str, str], ...] = (
    ("zeros", "drop"),
    ("numel", "drop"),
    ("max rel", "drop"),
    ("cosine", "drop"),
    ("min", "drop"),
    ("max", "drop"),
)


def safe(text: object) -> str:
    """``text`` with control and other unprintable characters escaped (``\\x1b``, ``\\u202e``)."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _safe_column(values: Sequence[object]) -> tuple[list[str], bool]:
    """:func:`safe` of each value, and whether all are ASCII; one pass when all are printable
    text (a million-row column is joined once, never looked at cell by cell)."""
    texts = values if type(values) is list else list(values)
    try:
        joined = "".join(texts)  # type: ignore[arg-type]
    except TypeError:
        texts = [value if type(value) is str else str(value) for value in texts]
        joined = "".join(texts)  # type: ignore[arg-type]
    if not joined.isprintable():
        texts = list(map(safe, texts))
        joined = "".join(texts)  # type: ignore[arg-type]
    return texts, joined.isascii()  # type: ignore[return-value]


def _escape(char: str) -> str:
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def cells(text: str) -> int:
    """Terminal cells ``text`` takes (East Asian wide characters take two)."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def elide(text: str, width: int) -> str:
    """``text`` cut in the middle to ``width`` cells, the cut marked by an ellipsis.

    A dotted name loses whole parts from its middle, keeping its first part and as much of
    its end as fits (``transformer.…c_attn.weight``); other text keeps a third of the room
    for its start and the rest for its end.
    """
    if cells(text) <= width:
        return text
    keep = max(width - 1, 1)
    dotted = _elide_parts(text.split("."), keep)
    if dotted is not None:
        return dotted
    head_room = keep // 3
    head, tail = text[:head_room], text[len(text) - (keep - head_room) :]
    while cells(head) + cells(tail) > keep and tail:
        tail = tail[1:]
    return head + ELLIPSIS + tail


def _elide_parts(parts: list[str], keep: int) -> str | None:
    """The first part, then ``…``, then the last parts that fit; None when not even one does."""
    if len(parts) < 3:
        return None
    head, tail, last = parts[0] + ".", "", len(parts)
    while (
        last > 1 and cells(head) + cells(parts[last - 1]) + len(tail) + (1 if tail else 0) <= keep
    ):
        tail = parts[last - 1] + ("." + tail if tail else "")
        last -= 1
    if not tail:
        return None
    first = 1
    while first < last and cells(head) + cells(parts[first]) + 1 + cells(tail) <= keep:
        head += parts[first] + "."
        first += 1
    return head + ELLIPSIS + tail


def _flag(name: str) -> bool | None:
    value = os.environ.get(name)
    return None if value is None else value not in ("", "0")


@dataclass
class Output:
    """Where a command's text goes, and how to lay it out there.

    Attributes:
        file: The stream (stdout by default).
        is_terminal: Whether it is a terminal (``TTY_COMPATIBLE=1``/``0`` overrides the check).
        width: The terminal's width in cells; None when piped (never wrapped or elided).
        styled: Bold and rule lines: on a terminal unless ``NO_COLOR`` is set.
    """

    file: IO[str] = field(default_factory=lambda: sys.stdout)
    is_terminal: bool = False
    width: int | None = None
    styled: bool = False

    @classmethod
    def for_stream(cls, file: IO[str] | None = None) -> Output:
        """An Output suited to ``file`` (stdout by default): a terminal or a pipe."""
        file = file or sys.stdout
        terminal = _flag("TTY_COMPATIBLE")
        if terminal is None:
            terminal = bool(getattr(file, "isatty", lambda: False)())
        if not terminal:
            return cls(file)
        width = shutil.get_terminal_size().columns  # COLUMNS first, then the terminal
        styled = "NO_COLOR" not in os.environ or os.environ["NO_COLOR"] == ""
        return cls(file, True, width, styled)

    def print(self, text: object = "", **_: Any) -> None:
        """Write ``text`` and a newline, unprintable characters escaped line by line."""
        self.file.write("\n".join(safe(line) for line in str(text).split("\n")) + "\n")

    def lines(self, lines: Iterable[str]) -> None:
        """Write already laid out lines (see :class:`Table` and :func:`tree_lines`)."""
        lines = list(lines)
        if lines:
            self.file.write("\n".join(lines) + "\n")

    def bold(self, text: str) -> str:
        """``text`` in bold when styled."""
        return f"\x1b[1m{text}\x1b[0m" if self.styled else text


class Table:
    """Rows of cells under headings, laid out for an :class:`Output`.

    Args:
        columns: The headings.
        numeric: Headings of right-aligned columns.
        names: Headings of columns holding names, which a terminal may elide in the middle
            (default: the first column).
    """

    def __init__(
        self,
        columns: Sequence[str],
        numeric: Iterable[str] = (),
        names: Iterable[str] | None = None,
    ) -> None:
        self.columns = list(columns)
        self.numeric = set(numeric)
        self.names = set(self.columns[:1] if names is None else names)
        self.cells: list[list[str]] = [[] for _ in self.columns]  # column by column
        self._ascii = [heading.isascii() for heading in self.columns]

    @property
    def rows(self) -> list[list[str]]:
        """The cells row by row."""
        return [list(row) for row in zip(*self.cells, strict=True)]

    def add_row(self, *values: object) -> None:
        """Add a row; each value is shown as text, unprintable characters escaped."""
        for i, (column, value) in enumerate(zip(self.cells, values, strict=True)):
            column.append(safe(value))
            self._ascii[i] = self._ascii[i] and column[-1].isascii()

    def add_columns(self, *columns: Sequence[object]) -> None:
        """Add rows given column by column (one sequence per heading, all of one length)."""
        if len(set(map(len, columns))) > 1 or len(columns) != len(self.cells):
            raise ValueError("add_columns needs one sequence per heading, all of one length")
        for i, (cells_of, column) in enumerate(zip(self.cells, columns, strict=True)):
            texts, ascii = _safe_column(column)
            cells_of.extend(texts)
            self._ascii[i] = self._ascii[i] and ascii

    def render(self, out: Output) -> list[str]:
        """The table's lines for ``out``: whole on a pipe, fitted on a terminal."""
        if out.width is None:
            return self._piped(out)
        columns = list(range(len(self.columns)))
        rows = self.rows
        widths = self._widths(columns, rows)
        if out.width is not None:
            columns, rows, widths = self._fit(out.width, columns, rows)
        return self._lines(out, columns, rows, widths)

    def _piped(self, out: Output) -> list[str]:
        """Every row whole (the same lines :meth:`_lines` makes), laid out column by column:
        a million rows cost one ``%`` format each."""
        specs, padded = [], []
        last = len(self.columns) - 1
        for i, (heading, column) in enumerate(zip(self.columns, self.cells, strict=True)):
            right = heading in self.numeric
            if self._ascii[i]:  # padded by the format: characters are cells
                width = max(len(heading), max(map(len, column), default=0))
                specs.append(f"%{width}s" if right else "%s" if i == last else f"%-{width}s")
            else:
                texts = [heading, *column]
                counts = list(map(cells, texts))
                pads = [" " * (max(counts) - n) for n in counts]
                texts = list(map(str.__add__, *((pads, texts) if right else (texts, pads))))
                heading, column = texts[0], texts[1:]
                specs.append("%s")
            padded.append((heading, column))
        line = GAP.join(specs).__mod__
        headings, columns = zip(*padded, strict=True)
        lines = [line(headings).rstrip()]
        lines += map(str.rstrip, map(line, zip(*columns, strict=True)))
        if out.styled:  # the rule line is as wide as the terminal allows: none here
            lines[0:1] = [out.bold(lines[0]), ""]
        return lines

    def _widths(self, columns: list[int], rows: list[list[str]]) -> dict[int, int]:
        return {i: max([cells(self.columns[i])] + [cells(row[i]) for row in rows]) for i in columns}

    def _total(self, widths: dict[int, int]) -> int:
        return sum(widths.values()) + len(GAP) * (len(widths) - 1)

    def _fit(
        self, width: int, columns: list[int], rows: list[list[str]]
    ) -> tuple[list[int], list[list[str]], dict[int, int]]:
        """Shorten and drop low-value columns, then elide names, then drop more, until it fits."""
        stages = ((FIRST_TO_GO, None), ((), NAME_MIN), (THEN, NAME_MIN), ((), NAME_FLOOR))
        for steps, floor in stages:
            for heading, action in steps:
                if self._total(self._elided(width, columns, rows, floor)) <= width:
                    break
                index = self.columns.index(heading) if heading in self.columns else -1
                if index not in columns:
                    continue
                if action == "drop":
                    columns = [i for i in columns if i != index]
                else:
                    for row in rows:
                        row[index] = row[index].partition("(")[0]
            widths = self._elided(width, columns, rows, floor)
            if self._total(widths) <= width:
                break
        names = self._name_indices()
        for row in rows:
            for i in columns:
                row[i] = elide(row[i], widths[i]) if i in names else row[i]
        return columns, rows, widths

    def _name_indices(self) -> set[int]:
        return {i for i, heading in enumerate(self.columns) if heading in self.names}

    def _elided(
        self, width: int, columns: list[int], rows: list[list[str]], floor: int | None
    ) -> dict[int, int]:
        """Column widths with the name columns narrowed (not below ``floor``) to fit."""
        widths = self._widths(columns, rows)
        if floor is None:
            return widths
        names = [i for i in columns if i in self._name_indices()]
        while self._total(widths) > width:
            wide = max(names, key=lambda i: widths[i], default=None)
            if wide is None or widths[wide] <= max(floor, cells(self.columns[wide])):
                break
            widths[wide] -= 1
        return widths

    def _lines(
        self, out: Output, columns: list[int], rows: list[list[str]], widths: dict[int, int]
    ) -> list[str]:
        def line(values: list[str]) -> str:
            parts = []
            for i, value in zip(columns, values, strict=True):
                pad = " " * (widths[i] - cells(value))
                parts.append(pad + value if self.columns[i] in self.numeric else value + pad)
            return GAP.join(parts).rstrip()

        heading = line([self.columns[i] for i in columns])
        result = [out.bold(heading) if out.styled else heading]
        if out.styled:
            result.append("─" * min(self._total(widths), out.width or 0))
        result += [line([row[i] for i in columns]) for row in rows]
        return result


@dataclass
class TreeLine:
    """One node of a tree to lay out: its label, whether it is bold, and its children."""

    label: str
    bold: bool = False
    children: list[TreeLine] = field(default_factory=list)


def tree_lines(root: TreeLine, out: Output) -> list[str]:
    """The tree drawn with guide lines (``├── ``, ``└── ``), one node per line.

    On a terminal, a label too wide has its name (before ``": "``) elided in the middle.
    """
    lines: list[str] = []
    stack: list[tuple[TreeLine, str, str]] = [(root, "", "")]
    while stack:  # no recursion: a model may be thousands of modules deep
        node, lead, rest = stack.pop()
        label = safe(node.label)
        if out.width is not None:
            label = _fit_label(label, out.width - cells(lead))
        lines.append(lead + (out.bold(label) if node.bold else label))
        last = len(node.children) - 1
        for i, child in reversed(list(enumerate(node.children))):
            branch, more = ("└── ", "    ") if i == last else ("├── ", "│   ")
            stack.append((child, rest + branch, rest + more))
    return lines


def _fit_label(label: str, width: int) -> str:
    """A tree label elided in its name part to fit ``width`` cells (the counts kept whole)."""
    name, sep, rest = label.partition(": ")
    if cells(label) <= width or not sep:
        return label
    return elide(name, max(width - cells(rest) - len(sep), NAME_FLOOR)) + sep + rest
