"""Per-tensor statistics: mean, std, min, max, zeros, NaN and Inf counts.

Values are visited in chunks so that a multi-GB tensor costs one chunk of float64 scratch
memory, and the moments are merged with Chan's parallel formula (numerically stable).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from paramtool.core.device import to_host
from paramtool.report.inventory import Inventory

#: Elements per chunk: 4M float64 scratch values (32 MB).
CHUNK = 1 << 22


@dataclass(frozen=True)
class TensorStats:
    """Statistics of one tensor's finite values (NaN/Inf are counted, not averaged).

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
        data = dict(vars(self))
        for key in ("mean", "std", "min", "max"):
            if not math.isfinite(data[key]):
                data[key] = None
        data["zero_fraction"] = self.zero_fraction
        return data


def _chunks(array: np.ndarray) -> Iterator[np.ndarray]:
    flat = array.reshape(-1)
    for start in range(0, flat.size, CHUNK):
        yield flat[start : start + CHUNK]


def tensor_stats(name: str, array: Any) -> TensorStats:
    """Statistics of an array (numpy or cupy; any dtype, bool and float8 included).

    Args:
        name: The tensor's name, kept in the result.
        array: The values.
    """
    array = np.asarray(to_host(array))
    count, mean, m2 = 0, 0.0, 0.0
    low, high = math.inf, -math.inf
    zeros = nan = inf = 0
    for chunk in _chunks(array):
        values = chunk.astype(np.float64)
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


def inventory_stats(
    inventory: Inventory, progress: Callable[[str, int], None] | None = None
) -> list[TensorStats]:
    """Statistics of every distinct tensor of an inventory (aliases are skipped).

    Values are read in row order, one tensor at a time. Small tensors (a checkpoint of a
    million may hold mostly scalars and biases) of one size and dtype are measured together as
    the rows of one 2-D array: the same reductions on the same elements, so the same results,
    with numpy called once per batch instead of once per tensor.

    Args:
        inventory: What to measure; values are computed or read one tensor at a time.
        progress: Called with (name, nbytes) after each tensor.
    """
    rows = inventory.unique_rows()
    result: list[TensorStats | None] = [None] * len(rows)
    batches: dict[tuple[int, np.dtype], list[tuple[int, np.ndarray]]] = {}
    values = inventory.values
    for i, row in enumerate(rows):
        array = values(row.name)
        if type(array) is not np.ndarray:
            array = np.asarray(to_host(array))
        size = array.size
        if 0 < size <= SMALL and array.dtype.kind != "c":
            key = (size, array.dtype)
            batch = batches.get(key)
            if batch is None:
                batch = batches[key] = []
            batch.append((i, array))
            if len(batch) * size >= BATCH:
                _measure_batch(rows, batches.pop(key), result)
        else:
            result[i] = tensor_stats(row.name, array)
        if progress is not None:
            progress(row.name, row.nbytes)
    for batch in batches.values():
        _measure_batch(rows, batch, result)
    return result  # type: ignore[return-value] - every slot is filled


def _measure_batch(
    rows: list[Any], batch: list[tuple[int, np.ndarray]], result: list[TensorStats | None]
) -> None:
    """Fill ``result`` for tensors of one size and dtype, as :func:`tensor_stats` would.

    Each row of the 2-D array goes through the same numpy reductions as a tensor alone, and the
    merge of :func:`tensor_stats` (from nothing, one chunk) is applied with the same float
    operations; a tensor holding NaN or Inf is measured alone.
    """
    flat = np.concatenate([a for _, a in batch], axis=None)  # one row of values per tensor
    values = flat.reshape(len(batch), -1).astype(np.float64)
    size = values.shape[1]
    finite = np.isfinite(values).all(axis=1)
    zeros = (values == 0).sum(axis=1).tolist()
    good = values[finite] if not finite.all() else values
    c_mean = good.mean(axis=1)
    c_m2 = np.square(good - c_mean[:, None]).sum(axis=1)
    mean = 0.0 + c_mean * size / size  # the merge into an empty total, as in tensor_stats
    m2 = 0.0 + (c_m2 + c_mean * c_mean * 0 * size / size)
    columns = zip(
        mean.tolist(),
        np.sqrt(m2 / size).tolist(),
        good.min(axis=1).tolist(),
        good.max(axis=1).tolist(),
        strict=True,
    )
    kept = iter(columns)
    for j, (i, array) in enumerate(batch):
        name = rows[i].name
        if not finite[j]:
            result[i] = tensor_stats(name, array)
            continue
        avg, std, low, high = next(kept)
        result[i] = TensorStats(name, size, avg, std, low, high, zeros[j], 0, 0)


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
