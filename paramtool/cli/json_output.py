"""Writing ``--json`` documents: one top-level key a line, one list item a line, streamed.

A document of a million tensors is written without building its text (or a dict per row) in
memory: a top-level list is written item by item, each item as compact one-line JSON, in
batches. Small values keep the indented layout. The content is what ``json.dumps`` writes;
only the whitespace differs (``json.loads`` of both is equal).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TextIO

#: Items joined into one write.
_BATCH = 4096

#: One-line JSON of one list item, as ``json.dumps`` with these separators writes it.
encode_item: Callable[[Any], str] = json.JSONEncoder(
    separators=(", ", ": "), allow_nan=False
).encode


class EncodedItems:
    """A list whose items are given as JSON text already (e.g. ``TensorRow.to_json``), so that a
    long list is written without a dict per item; it is consumed once, as it is written."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = texts


def _list_lines(items: Iterable[Any]) -> Iterator[str]:
    if isinstance(items, EncodedItems):
        return iter(items.texts)
    return map(encode_item, items)


def _write_list(items: Iterable[Any], write: Callable[[str], Any], pad: str) -> None:
    lines = _list_lines(items)
    first = list(islice(lines, _BATCH))
    if not first:
        write("[]")
        return
    separator = f",\n{pad}  "
    write(f"[\n{pad}  ")
    write(separator.join(first))
    while batch := list(islice(lines, _BATCH)):
        write(separator)
        write(separator.join(batch))
    write(f"\n{pad}]")


def _write_value(value: Any, write: Callable[[str], Any], pad: str) -> None:
    if isinstance(value, list | tuple | EncodedItems):
        _write_list(value, write, pad)
    else:  # a JSON string holds no raw newline: each line of the indented text is re-padded
        write(json.dumps(value, indent=2, allow_nan=False).replace("\n", f"\n{pad}"))


def write_json(data: Any, stream: TextIO) -> None:
    """Write ``data`` (a dict, list or plain value) to ``stream`` as a JSON document.

    Raises:
        ValueError: a NaN or infinite float (JSON has none), before anything of it is written
            when it is in a small value.
    """
    write = stream.write
    if isinstance(data, dict) and data:
        write("{")
        for i, (key, value) in enumerate(data.items()):
            write(f"{',' if i else ''}\n  {json.dumps(str(key))}: ")
            _write_value(value, write, "  ")
        write("\n}")
    else:
        _write_value(data, write, "")
    write("\n")
