"""A tensor's values printed as PyTorch prints them (``tensor([1.0000, 2.5000])``).

PyTorch picks one format for all of a tensor's elements: integer mode (``1.``) when every finite
non-zero value is whole, scientific (``1.0000e+10``) when the values span more than three orders
of magnitude or leave [1e-4, 1e8], fixed (``0.1235``) otherwise; every element is padded to the
widest. A tensor of more than 1000 elements shows its first and last three along each dimension.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80


class _Formatter:
    """One number format for all of a tensor's elements, and their common width."""

    def __init__(self, values: np.ndarray) -> None:
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        flat = values.reshape(-1)
        if not self.floating:
            self.width = max((len(str(v)) for v in flat.tolist()), default=1)
            return
        finite = flat[np.isfinite(flat) & (flat != 0)]
        if finite.size == 0:
            return
        magnitude = np.abs(finite)
        low, high = float(magnitude.min()), float(magnitude.max())
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        spread = high / low > 1000.0 or high > 1.0e8
        self.sci_mode = spread if self.int_mode else spread or low < 1.0e-4
        if self.sci_mode:
            texts = [f"{v:.{PRECISION}e}" for v in finite.tolist()]
        elif self.int_mode:
            texts = [f"{v:.0f}." for v in finite.tolist()]
        else:
            texts = [f"{v:.{PRECISION}f}" for v in finite.tolist()]
        self.width = max(len(text) for text in texts)

    def format(self, value: Any) -> str:
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{PRECISION}f}"
        return text.rjust(self.width)


def _summarized(values: np.ndarray) -> np.ndarray:
    """The elements a summarised print shows: the edge items along every dimension."""
    if values.ndim == 0:
        return values
    if values.shape[0] > 2 * EDGEITEMS:
        rows = [*values[:EDGEITEMS], *values[-EDGEITEMS:]]
    else:
        rows = list(values)
    if values.ndim == 1:
        return np.asarray(rows)
    return np.stack([_summarized(row) for row in rows])


def _vector(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, (LINEWIDTH - indent) // (fmt.width + 2))
    items = values.tolist()
    if summarize and len(items) > 2 * EDGEITEMS:
        data = [*map(fmt.format, items[:EDGEITEMS]), " ...", *map(fmt.format, items[-EDGEITEMS:])]
    else:
        data = [fmt.format(v) for v in items]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if values.ndim == 0:
        return fmt.format(values.item())
    if values.ndim == 1:
        return _vector(values, indent, summarize, fmt)
    count = values.shape[0]
    if summarize and count > 2 * EDGEITEMS:
        head = [_nested(values[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)]
        tail = [
            _nested(values[i], indent + 1, summarize, fmt) for i in range(count - EDGEITEMS, count)
        ]
        slices = [*head, "...", *tail]
    else:
        slices = [_nested(row, indent + 1, summarize, fmt) for row in values]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def values_str(host: np.ndarray, indent: int) -> str:
    """The bracketed values of a non-empty cpu array, as ``repr(torch_tensor)`` shows them.

    Args:
        host: The values (any dtype numpy or ml_dtypes holds).
        indent: Columns before the opening bracket (``len("tensor(")``).

    Returns:
        ``"[1.0000, 2.5000]"``, multi-line and summarised as PyTorch would.
    """
    if host.dtype.kind not in "biu":
        host = host.astype(np.float64)  # float16, bfloat16, float8: print their exact values
    summarize = host.size > THRESHOLD
    fmt = _Formatter(_summarized(host) if summarize else host)
    return _nested(host, indent, summarize, fmt)


def with_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    """``text`` closed with ``, dtype=...`` and the like, wrapped to a new line where too long.

    Args:
        text: ``"tensor(" + values``.
        suffixes: ``["dtype=paramtool.float16", "requires_grad=True"]``, in order.
        indent: Columns a wrapped suffix is indented by.
    """
    parts = [text]
    line_length = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if line_length + len(suffix) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            line_length = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            line_length += len(suffix) + 2
    return "".join(parts) + ")"
