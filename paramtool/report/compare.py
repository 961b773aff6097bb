"""Comparing inventories: does a checkpoint fit a model (load check), and how do two differ.

Both work from :class:`~paramtool.report.inventory.Inventory` objects, so a model file and a
checkpoint can stand on either side. The load check reads headers only; the diff reads values
one tensor at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from paramtool.nn.state_match import Found, LoadCheck, Mismatch, StateLayout, match_state
from paramtool.report.inventory import Inventory, TensorRow
from paramtool.report.stats import CHUNK, small_batches, small_rows  # the batches stats measures


def check_load(model: Inventory, checkpoint: Inventory) -> LoadCheck:
    """Whether a checkpoint loads into a model, from headers alone.

    The names are matched by the routine ``load_state_dict`` and ``load_into`` use
    (:func:`paramtool.nn.state_match.match_state`), so the check and a real load agree.

    Args:
        model: The model's inventory (non-persistent buffers are not expected in a file).
        checkpoint: The checkpoint's inventory (its recorded ties count as present names).
    """
    if model.model is not None:
        layout = StateLayout.from_module(model.model, ties=model.ties)
    else:
        layout = StateLayout.flat((r for r in model.rows if r.persistent), model.ties)
    found = {r.name: Found(r.shape, r.dtype) for r in checkpoint.rows}
    return match_state(layout, found, fill_ties=True)


@dataclass(frozen=True)
class TensorDiff:
    """How one tensor differs between A and B.

    Attributes:
        name: The tensor's name.
        max_abs: Largest ``|a - b|`` (complex values: the modulus); ``inf`` when a NaN or an
            infinity on one side meets another value on the other.
        max_rel: Largest ``|a - b| / |b|`` over elements where ``b`` is finite and non-zero;
            NaN (shown ``-``) when there is no such element.
        cosine: Cosine similarity of the flattened tensors over the elements finite on both
            sides (1.0 for two zero tensors; NaN when no element is finite on both sides).
            Complex tensors count as real vectors of twice the length.
        close: True when every element satisfies ``|a - b| <= atol + rtol * |b|``, NaN
            matching NaN and an infinity only the same infinity (as ``torch.isclose``).
    """

    name: str
    max_abs: float
    max_rel: float
    cosine: float
    close: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN and infinities written as None)."""
        data = dict(vars(self))
        for key in ("max_abs", "max_rel", "cosine"):
            if not math.isfinite(data[key]):
                data[key] = None
        return data


#: Default (rtol, atol) per dtype, those of ``torch.testing.assert_close``; float8 at twice
#: its machine epsilon, as bfloat16 is. Integers and bool compare exactly.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-7), "complex128": (1e-7, 1e-7),
    "float32": (1.3e-6, 1e-5), "complex64": (1.3e-6, 1e-5),
    "float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5),
    "float8_e4m3fn": (0.25, 1e-5), "float8_e4m3fnuz": (0.25, 1e-5),
    "float8_e5m2": (0.5, 1e-5), "float8_e5m2fnuz": (0.5, 1e-5), "float8_e8m0fnu": (1.0, 1e-5),
}  # fmt: skip


def default_tolerance(dtypes: Iterable[str]) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing tensors of these dtypes: the loosest among them.

    A bfloat16 copy of float32 weights is then "same", while a float32 re-draw is not.
    """
    found = [TOLERANCES[d] for d in dtypes if d in TOLERANCES]
    return (max(r for r, _ in found), max(a for _, a in found)) if found else (0.0, 0.0)


@dataclass
class Diff:
    """Differences between two inventories A and B.

    Attributes:
        only_in_a: Names only A has.
        only_in_b: Names only B has.
        shape_changes: Names whose shape differs (values not compared).
        dtype_changes: Names whose dtype differs (values compared after casting to float64).
        tensors: Value comparisons of every name with equal shapes on both sides.
        atol: Absolute tolerance used.
        rtol: Relative tolerance used.
        scaled_to: The dtype the default tolerance was taken from, or None when given.
    """

    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    shape_changes: list[Mismatch] = field(default_factory=list)
    dtype_changes: list[Mismatch] = field(default_factory=list)
    tensors: list[TensorDiff] = field(default_factory=list)
    atol: float = 0.0
    rtol: float = 0.0
    scaled_to: str | None = None

    @property
    def differing(self) -> list[TensorDiff]:
        """Tensors whose values differ beyond tolerance."""
        return [t for t in self.tensors if not t.close]

    @property
    def same(self) -> bool:
        """True when the names and shapes agree and every value is within tolerance."""
        return not (self.only_in_a or self.only_in_b or self.shape_changes or self.differing)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "same": self.same,
            "atol": self.atol,
            "rtol": self.rtol,
            "only_in_a": self.only_in_a,
            "only_in_b": self.only_in_b,
            "shape_changes": [m.to_dict() for m in self.shape_changes],
            "dtype_changes": [m.to_dict() for m in self.dtype_changes],
            "tensors": [t.to_dict() for t in self.tensors],
        }


def diff(
    a: Inventory,
    b: Inventory,
    atol: float | None = None,
    rtol: float | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> Diff:
    """Compare two inventories name by name, and the values of names present in both.

    Args:
        a: The first model or checkpoint.
        b: The second.
        atol: Absolute tolerance (``numpy.allclose`` convention, B the reference); None: the
            default of the least precise dtype compared (:func:`default_tolerance`).
        rtol: Relative tolerance; None as for ``atol``.
        progress: Called with (name, nbytes) after each compared tensor.

    Raises:
        ValueError: a tolerance that is negative or not finite.
    """
    for label, value in (("atol", atol), ("rtol", rtol)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{label} must be a finite number >= 0, got {value}")
    rows_a = {r.name: r for r in a.rows}
    rows_b = {r.name: r for r in b.rows}
    result = Diff()
    result.only_in_a = _only_in(rows_a, rows_b)
    result.only_in_b = _only_in(rows_b, rows_a)
    pairs = _same_shape_pairs(rows_a, rows_b, result.shape_changes, result.dtype_changes)
    dtypes = {r.dtype for _, ra, rb in pairs for r in (ra, rb)}
    default_rtol, default_atol = default_tolerance(dtypes)
    result.rtol = default_rtol if rtol is None else rtol
    result.atol = default_atol if atol is None else atol
    if atol is None or rtol is None:
        found = [d for d in dtypes if TOLERANCES.get(d) == (default_rtol, default_atol)]
        result.scaled_to = found[0] if found else None
    result.tensors = _compare_pairs(a, b, pairs, result.atol, result.rtol, progress)
    return result


def _compare_pairs(
    a: Inventory,
    b: Inventory,
    pairs: list[tuple[str, TensorRow, TensorRow]],
    atol: float,
    rtol: float,
    progress: Callable[[str, int], None] | None,
) -> list[TensorDiff]:
    """:func:`compare_values` of every pair, in order. Small tensors of one size and dtype on
    both sides (the batches ``stats`` measures together) are read as the rows of one 2-D
    array per side and compared row by row in one pass (:func:`compare_rows`)."""
    rows = [ra for _, ra, _ in pairs]
    same_dtype = np.fromiter((ra.dtype == rb.dtype for _, ra, rb in pairs), bool, len(pairs))
    small = small_rows(rows) & same_dtype if pairs else same_dtype
    found: list[TensorDiff | None] = [None] * len(pairs)
    for i in np.flatnonzero(~small).tolist():
        name, ra, rb = pairs[i]
        found[i] = compare_values(name, a.values(name), b.values(name), atol, rtol)
        if progress is not None:
            progress(name, _larger(ra, rb))
    for group in small_batches(rows, small):
        names = [pairs[i][0] for i in group]
        for i, compared in zip(group, compare_rows(names, a.stacked(names), b.stacked(names), atol, rtol), strict=True):  # fmt: skip
            found[i] = compared
        if progress is not None:
            progress(names[-1], sum(_larger(ra, rb) for _, ra, rb in map(pairs.__getitem__, group)))  # fmt: skip
    return [t for t in found if t is not None]


def _only_in(rows: dict[str, TensorRow], other: dict[str, TensorRow]) -> list[str]:
    """Names of ``rows`` that ``other`` lacks, in ``rows``' order."""
    return [name for name in rows if name not in other]


def _same_shape_pairs(
    left: dict[str, TensorRow],
    right: dict[str, TensorRow],
    shape_mismatches: list[Mismatch],
    dtype_mismatches: list[Mismatch],
) -> list[tuple[str, TensorRow, TensorRow]]:
    """The names on both sides with equal shapes, in ``left``'s order, with both rows.

    Names whose shapes differ go to ``shape_mismatches`` (and are not returned); returned
    names whose dtypes differ also go to ``dtype_mismatches``.
    """
    pairs = []
    for name, row in left.items():
        other = right.get(name)
        if other is None:
            continue
        if row.shape != other.shape:
            shape_mismatches.append(Mismatch(name, row.shape, other.shape))
            continue
        if row.dtype != other.dtype:
            dtype_mismatches.append(Mismatch(name, row.dtype, other.dtype))
        pairs.append((name, row, other))
    return pairs


def _larger(ra: TensorRow, rb: TensorRow) -> int:
    return max(ra.nbytes, rb.nbytes)


def compare_values(name: str, a: Any, b: Any, atol: float, rtol: float) -> TensorDiff:
    """Compare two arrays of one shape in chunks, in float64 (complex128 for complex values).

    Args:
        name: The tensor's name, kept in the result.
        a: Values of A.
        b: Values of B (the reference for the relative tolerance).
        atol: Absolute tolerance.
        rtol: Relative tolerance.
    """
    flat_a, flat_b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    wide = np.complex128 if np.iscomplexobj(flat_a) or np.iscomplexobj(flat_b) else np.float64
    max_abs, max_rel, rel_defined = 0.0, 0.0, False
    dot = norm_a = norm_b = 0.0
    close, both_finite = True, 0
    for start in range(0, flat_a.size, CHUNK):
        ca = flat_a[start : start + CHUNK].astype(wide)
        cb = flat_b[start : start + CHUNK].astype(wide)
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(ca - cb)
        same = (ca == cb) | (np.isnan(ca) & np.isnan(cb))
        err[same] = 0.0
        err[np.isnan(err)] = np.inf  # NaN or inf meeting another value: as far apart as can be
        max_abs = max(max_abs, float(err.max(initial=0.0)))
        scale = np.abs(cb)
        usable = (scale > 0) & np.isfinite(scale)
        if usable.any():
            rel_defined = True
            max_rel = max(max_rel, float((err[usable] / scale[usable]).max()))
        finite = np.isfinite(ca) & np.isfinite(cb)
        with np.errstate(invalid="ignore"):  # a non-finite value is close only to itself
            close = close and bool(np.all(same | (finite & (err <= atol + rtol * scale))))
        fa, fb = ca[finite], cb[finite]
        both_finite += fa.size
        dot += float(np.vdot(fa, fb).real)
        norm_a += float(np.vdot(fa, fa).real)
        norm_b += float(np.vdot(fb, fb).real)
    cosine = _cosine(dot, norm_a, norm_b) if both_finite else math.nan
    return TensorDiff(name, max_abs, max_rel if rel_defined else math.nan, cosine, close)


def compare_rows(
    names: list[str], a: np.ndarray, b: np.ndarray, atol: float, rtol: float
) -> list[TensorDiff]:
    """:func:`compare_values` of each row of two 2-D real arrays (one small tensor a row): the
    same figures from the same element-wise operations, reduced along the rows (sums in
    another order: the cosine may differ from a lone comparison in its last digit)."""
    ca, cb = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(ca - cb)
    same = (ca == cb) | (np.isnan(ca) & np.isnan(cb))
    err[same] = 0.0
    err[np.isnan(err)] = np.inf
    scale = np.abs(cb)
    usable = (scale > 0) & np.isfinite(scale)
    finite = np.isfinite(ca) & np.isfinite(cb)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(usable, err / np.where(usable, scale, 1.0), -np.inf).max(axis=1)
        close = (same | (finite & (err <= atol + rtol * scale))).all(axis=1)
    fa, fb = np.where(finite, ca, 0.0), np.where(finite, cb, 0.0)
    dots, norms_a, norms_b = ((x * y).sum(axis=1) for x, y in ((fa, fb), (fa, fa), (fb, fb)))
    counts = finite.sum(axis=1)
    return [
        TensorDiff(
            name,
            float(worst),
            float(rel) if rel != -np.inf else math.nan,
            _cosine(float(dot), float(na), float(nb)) if count else math.nan,
            bool(ok),
        )
        for name, worst, rel, dot, na, nb, count, ok in zip(
            names, err.max(axis=1), relative, dots, norms_a, norms_b, counts, close, strict=True
        )
    ]


def _cosine(dot: float, norm_a: float, norm_b: float) -> float:
    if norm_a == 0.0 and norm_b == 0.0:
        return 1.0
    if norm_a == 0.0 or norm_b == 0.0:
        return 0.0
    return dot / math.sqrt(norm_a * norm_b)
