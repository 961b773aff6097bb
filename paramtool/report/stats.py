"""Per-tensor statistics: mean, std, min, max, zeros, NaN and Inf counts.

Values are visited in chunks so that a multi-GB tensor costs one chunk of float64 scratch
memory, and the moments are merged with Chan's parallel formula (numerically stable).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np

from paramtool.core.device import to_host
from paramtool.report.inventory import Inventory

#: Elements per chunk: 4M float64 scratch values (32 MB).
CHUNK = 1 << 22


class TensorStats(NamedTuple):
    """Statistics of one tensor's finite values (NaN/Inf are counted, not averaged; a complex
    tensor's values are its magnitudes); a named tuple, as a checkpoint may hold millions.

    Attributes:
        name: The tensor's name.
        numel: Number of elements.
        mean: Mean of the finite values (NaN when there are none).
        std: Standard deviation (population, ``ddof=0``) of the finite values.
        min: Smallest finite value.
        max: Largest finite value.
        zeros: Number of elements equal to zero.
        nan: Number of NaN elements.
        inf: Number of infinite elements.
    """

    name: str
    numel: int
    mean: float
    std: float
    min: float
    max: float
    zeros: int
    nan: int
    inf: int

    @property
    def zero_fraction(self) -> float:
        """Fraction of elements equal to zero."""
        return self.zeros / self.numel if self.numel else 0.0

    @property
    def finite(self) -> bool:
        """True when no element is NaN or infinite."""
        return self.nan == 0 and self.inf == 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN written as None)."""
        data = self._asdict()
        for key in ("mean", "std", "min", "max"):
            if not math.isfinite(data[key]):
                data[key] = None
        data["zero_fraction"] = self.zero_fraction
        return data


def _chunks(array: np.ndarray) -> Iterator[np.ndarray]:
    flat = array.reshape(-1)
    for start in range(0, flat.size, CHUNK):
        yield flat[start : start + CHUNK]


def _as_float64(chunk: np.ndarray) -> np.ndarray:
    """Values as float64; a complex value as its magnitude, NaN when either part is NaN and
    infinite when either part is infinite (and none is NaN)."""
    if chunk.dtype.kind != "c":
        return chunk.astype(np.float64)
    real, imag = chunk.real, chunk.imag
    magnitude = np.abs(chunk).astype(np.float64)
    magnitude[np.isnan(real) | np.isnan(imag)] = np.nan  # abs(nan + inf j) is inf
    return magnitude


def tensor_stats(name: str, array: Any) -> TensorStats:
    """Statistics of an array (numpy or cupy; any dtype, bool and float8 included; a complex
    array's figures are those of its magnitudes, its NaN and Inf counts those of either part).

    Args:
        name: The tensor's name, kept in the result.
        array: The values.
    """
    array = np.asarray(to_host(array))
    count, mean, m2 = 0, 0.0, 0.0
    low, high = math.inf, -math.inf
    zeros = nan = inf = 0
    for chunk in _chunks(array):
        values = _as_float64(chunk)
        finite_mask = np.isfinite(values)
        nan += int(np.isnan(values).sum())
        inf += int(np.isinf(values).sum())
        zeros += int((values == 0).sum())
        finite = values[finite_mask] if not finite_mask.all() else values
        if finite.size == 0:
            continue
        c_mean = float(finite.mean())
        c_m2 = float(np.square(finite - c_mean).sum())
        total = count + finite.size
        delta = c_mean - mean
        mean += delta * finite.size / total
        m2 += c_m2 + delta * delta * count * finite.size / total
        count = total
        low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return TensorStats(
        name=name,
        numel=int(array.size),
        mean=mean if count else math.nan,
        std=math.sqrt(m2 / count) if count else math.nan,
        min=low if count else math.nan,
        max=high if count else math.nan,
        zeros=zeros,
        nan=nan,
        inf=inf,
    )


#: Tensors of at most this many elements are measured in batches (see :func:`inventory_stats`).
SMALL = 256

#: Elements per batch of small tensors.
BATCH = 1 << 16


class StatsTable(Sequence[TensorStats]):
    """The statistics of many tensors, held column by column (a checkpoint may hold millions);
    items are :class:`TensorStats` made when asked for.

    Attributes:
        columns: One list per field of :class:`TensorStats`, in its order.
    """

    def __init__(self, columns: list[list[Any]]) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns[0])

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return TensorStats(*(column[index] for column in self.columns))

    def __iter__(self) -> Iterator[TensorStats]:
        return map(_new_stats, zip(*self.columns, strict=True))


def stats_columns(stats: Sequence[TensorStats]) -> list[Sequence[Any]]:
    """The columns of ``stats``, one per field of :class:`TensorStats`."""
    if isinstance(stats, StatsTable):
        return stats.columns
    return list(zip(*stats, strict=True)) if stats else [[] for _ in TensorStats._fields]


def inventory_stats(
    inventory: Inventory, progress: Callable[[str, int], None] | None = None
) -> StatsTable:
    """Statistics of every distinct tensor of an inventory (aliases are skipped), in row order.

    Larger tensors are read one at a time. Small ones (a checkpoint of a million may hold
    mostly scalars and biases) of one size and dtype are read together as the rows of one 2-D
    array (:meth:`Inventory.stacked`: one gather from a mapped file) and measured by the same
    reductions on the same elements, so with the same results, numpy being called once per
    batch instead of once per tensor.

    Args:
        inventory: What to measure; values are computed or read one tensor at a time.
        progress: Called with (name, nbytes) after each tensor or batch of tensors.
    """
    rows = inventory.unique_rows()
    order: list[int] = []  # the row of each tensor measured, in the order measured
    columns: list[list[Any]] = [[] for _ in TensorStats._fields]
    small = small_rows(rows)
    for i in np.flatnonzero(~small).tolist():
        row = rows[i]
        order.append(i)
        measured = tensor_stats(row.name, inventory.values(row.name))
        for column, value in zip(columns, measured, strict=True):
            column.append(value)
        if progress is not None:
            progress(row.name, row.nbytes)
    for group in small_batches(rows, small):
        names = list(map(_NAME, map(rows.__getitem__, group)))
        order += group
        for column, values in zip(columns, _measure_rows(names, inventory.stacked(names)), strict=True):  # fmt: skip
            column += values
        if progress is not None:
            progress(names[-1], sum(map(_NBYTES, map(rows.__getitem__, group))))
    if order != list(range(len(order))):  # back into row order
        where = np.argsort(np.array(order, np.int64), kind="stable")
        columns = [np.fromiter(c, object, len(c))[where].tolist() for c in columns]
    return StatsTable(columns)


_NAME, _NUMEL, _NBYTES, _DTYPE = map(attrgetter, ("name", "numel", "nbytes", "dtype"))
#: ``TensorStats._make`` without its Python-level length check (the zip gives every field).
_new_stats = partial(tuple.__new__, TensorStats)


def small_rows(rows: list[Any]) -> np.ndarray:
    """Mask of the rows measured in batches: 1 to :data:`SMALL` elements, not complex."""
    numel = np.fromiter(map(_NUMEL, rows), np.float64, len(rows))  # exact up to 2**53
    small = (numel > 0) & (numel <= SMALL)
    dtypes = set(map(_DTYPE, rows))
    if any(dtype.startswith("complex") for dtype in dtypes):
        small &= np.fromiter((not d.startswith("complex") for d in map(_DTYPE, rows)), bool)
    return small


def small_batches(rows: list[Any], small: np.ndarray) -> Iterator[list[int]]:
    """Indices of small rows of one size and dtype, at most :data:`BATCH` elements a batch."""
    dtypes = list(map(_DTYPE, rows))
    codes = {dtype: i for i, dtype in enumerate(sorted(set(dtypes)))}
    chosen = np.flatnonzero(small)
    numel = np.fromiter(map(_NUMEL, map(rows.__getitem__, chosen.tolist())), np.int64, len(chosen))
    code = np.fromiter(map(codes.__getitem__, map(dtypes.__getitem__, chosen.tolist())), np.int64, len(chosen))  # fmt: skip
    key = numel * len(codes) + code
    order = np.argsort(key, kind="stable")
    chosen, key, numel = chosen[order], key[order], numel[order]
    starts = np.flatnonzero(np.diff(key, prepend=-1)).tolist() + [len(key)]
    for begin, end in itertools.pairwise(starts):
        step = max(BATCH // int(numel[begin]), 1)
        for first in range(begin, end, step):
            yield chosen[first : min(first + step, end)].tolist()


def non_finite(stats: Sequence[TensorStats]) -> list[str]:
    """Names of the tensors holding a NaN or an infinite value, in order."""
    names, nan, inf = (stats_columns(stats)[i] for i in (0, 7, 8))
    if not any(nan) and not any(inf):
        return []
    return [name for name, n, i in zip(names, nan, inf, strict=True) if n or i]


def _measure_rows(names: list[str], values: np.ndarray) -> list[list[Any]]:
    """The columns of :func:`tensor_stats` of each row of a 2-D array (one small tensor a row).

    Each row goes through the same numpy reductions as a tensor alone, and the merge of
    :func:`tensor_stats` (from nothing, one chunk) is applied with the same float operations;
    a row holding NaN or Inf is measured alone.
    """
    values = values.astype(np.float64)
    count, size = values.shape
    finite = np.isfinite(values).all(axis=1)
    zeros = (values == 0).sum(axis=1).tolist()
    good = values[finite] if not finite.all() else values
    c_mean = good.mean(axis=1)
    c_m2 = np.square(good - c_mean[:, None]).sum(axis=1)
    mean = 0.0 + c_mean * size / size  # the merge into an empty total, as in tensor_stats
    m2 = 0.0 + (c_m2 + c_mean * c_mean * 0 * size / size)
    figures = [mean.tolist(), np.sqrt(m2 / size).tolist(), good.min(axis=1).tolist(), good.max(axis=1).tolist()]  # fmt: skip
    if finite.all():
        return [names, [size] * count, *figures, zeros, [0] * count, [0] * count]
    kept = zip(*figures, strict=True)  # the finite rows' figures; each other row alone
    rows = [
        TensorStats(name, size, *next(kept), zeros[j], 0, 0)
        if ok
        else tensor_stats(name, values[j])
        for j, (name, ok) in enumerate(zip(names, finite.tolist(), strict=True))
    ]
    return [list(column) for column in zip(*rows, strict=True)]


def add_init_stats(
    model: Any,
    report: Any,
    seed: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> Any:
    """Add ``stats`` to every row of an init report (``apply_scheme``'s); returns it.

    Each row gets ``numel, mean, std, min, max, zeros, zero_fraction, nan, inf`` of
    :func:`tensor_stats` and the ``expected_std`` its recipe promises. Deferred parameters are
    computed one at a time from their name's stream and let go, so a model larger than memory
    can be checked; real ones are measured in place.

    Args:
        model: The module the report was made from.
        report: The :class:`paramtool.nn.init.schemes.InitReport`.
        seed: The seed the values are keyed by (default: the global seed).
        progress: Called with each parameter's name and size in bytes once it is measured.
    """
    params = dict(model.named_parameters())
    for row in report.rows:
        tensor = params[row["name"]]
        stats = tensor_stats(row["name"], tensor.compute(name=row["name"], seed=seed)).to_dict()
        del stats["name"]
        stats["expected_std"] = row["expected_std"]
        row["stats"] = stats
        if progress is not None:
            progress(row["name"], tensor.nbytes)
    return report
