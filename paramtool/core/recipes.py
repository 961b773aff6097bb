"""Recipes: how a deferred tensor's values will be produced.

A deferred tensor holds a recipe instead of memory. ``recipe.fill(out, stream)`` writes the
values into a preallocated array of the final shape, dtype and device. Random recipes draw from
``stream`` in fixed-size chunks (``paramtool.core.random.fill_chunks``), so values depend only on the
stream, never on the number of threads. Recipes are frozen dataclasses: plain, comparable,
printable descriptions that the report shows (``describe()``) and checks against
(``expected_std(shape)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from paramtool.core import truncnormal
from paramtool.core.device import check_dtype, device_of, to_device
from paramtool.core.dtypes import dtype_name
from paramtool.core.random import ChunkSource, Stream, fill_chunks, is_portable, work_dtype
from paramtool.errors import InitError

#: The chunk index reserved for a recipe's second, independent draw (sparse_'s zero pattern).
_SIDE_CHUNK = 0xFFFFFFFF


def _fmt(value: float) -> str:
    return f"{value:g}"


def _xp(array: Any) -> Any:
    return device_of(array).xp


@dataclass(frozen=True)
class Recipe:
    """Base class: a description of values, and the code that writes them."""

    random = False

    def fill(self, out: Any, stream: Stream) -> None:
        """Write the values into ``out`` in place, with ``out``'s GPU current.

        cupy 13 allocates arrays of dtypes its kernels cannot handle (bfloat16) and only fails
        inside the first kernel, so the dtype is checked first (``device.check_dtype``). cupy
        allocates on the current device and warns (or, without peer access, raises ValueError)
        when a kernel touches an array that lives on another one (``_check_peer_access``); a
        ``cuda:1`` tensor must therefore be filled with device 1 current.
        """
        device = device_of(out)
        check_dtype(device, out.dtype)
        with device.use():
            self._write(out, stream)

    def _write(self, out: Any, stream: Stream) -> None:
        """Write the values into ``out`` (its device is current); what each recipe defines."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human description, e.g. ``normal(mean=0, std=0.02)``."""
        return type(self).__name__.lower()

    def expected_std(self, shape: tuple[int, ...]) -> float | None:
        """The standard deviation the values should have over a tensor of ``shape``, if known."""
        return None


@dataclass(frozen=True)
class Constant(Recipe):
    """Every element equal to ``value`` (zeros, ones, full, empty)."""

    value: float | int | bool = 0

    def _write(self, out: Any, stream: Stream) -> None:
        out[...] = self.value

    def describe(self) -> str:
        return {0: "zeros", 1: "ones"}.get(self.value, f"constant({self.value})")  # type: ignore[arg-type]

    def expected_std(self, shape: tuple[int, ...]) -> float | None:
        return 0.0


@dataclass(frozen=True)
class Arange(Recipe):
    """``start, start + step, ...`` over the flattened tensor."""

    start: float = 0
    step: float = 1

    def _write(self, out: Any, stream: Stream) -> None:
        xp = _xp(out)
        flat = xp.arange(out.size, dtype=np.float64 if out.dtype.kind == "f" else np.int64)
        out.reshape(-1)[...] = flat * self.step + self.start

    def describe(self) -> str:
        return f"arange(start={_fmt(self.start)}, step={_fmt(self.step)})"


@dataclass(frozen=True)
class Uniform(Recipe):
    """Uniform on [a, b)."""

    a: float = 0.0
    b: float = 1.0
    random = True

    def _write(self, out: Any, stream: Stream) -> None:
        width, low = self.b - self.a, self.a

        def draw(source: ChunkSource, chunk: Any) -> None:
            source.uniform(chunk)
            chunk *= width
            chunk += low

        fill_chunks(out, stream, draw)

    def describe(self) -> str:
        return f"uniform(a={_fmt(self.a)}, b={_fmt(self.b)})"

    def expected_std(self, shape: tuple[int, ...]) -> float | None:
        return abs(self.b - self.a) / math.sqrt(12.0)


class RangeError(InitError, RuntimeError):
    """A bad range for ``uniform_`` / ``normal_``: a RuntimeError, as PyTorch raises there."""


def uniform(a: float, b: float) -> Uniform:
    """The recipe of ``uniform_(a, b)``, with PyTorch's range check (shared by Tensor and init)."""
    if a > b:
        raise RangeError(
            f"uniform_ expects to return a [from, to) range, but found from={a:g} > to={b:g}"
        )
    return Uniform(float(a), float(b))


def normal(mean: float, std: float) -> Normal:
    """The recipe of ``normal_(mean, std)``, with PyTorch's range check."""
    if std < 0:
        raise RangeError(f"normal expects std >= 0.0, but found std {std:g}")
    return Normal(float(mean), float(std))


@dataclass(frozen=True)
class Normal(Recipe):
    """Normal with mean ``mean`` and standard deviation ``std``."""

    mean: float = 0.0
    std: float = 1.0
    random = True

    def _write(self, out: Any, stream: Stream) -> None:
        fill_chunks(out, stream, normal_draw(self.mean, self.std))

    def describe(self) -> str:
        return f"normal(mean={_fmt(self.mean)}, std={_fmt(self.std)})"

    def expected_std(self, shape: tuple[int, ...]) -> float | None:
        return abs(self.std)


def normal_draw(mean: float, std: float) -> Any:
    """The per-chunk draw of :math:`\\mathcal{N}(\\text{mean}, \\text{std}^2)`."""

    def draw(source: ChunkSource, chunk: Any) -> None:
        source.normal(chunk, abs(std))
        if mean:
            chunk += mean

    return draw


@dataclass(frozen=True)
class TruncNormal(Recipe):
    """Normal(mean, std) conditioned on [a, b]: every value inside [a, b] in the output dtype."""

    mean: float = 0.0
    std: float = 1.0
    a: float = -2.0
    b: float = 2.0
    random = True

    def _write(self, out: Any, stream: Stream) -> None:
        lo, hi = truncnormal.inner_bounds(self.a, self.b, out.dtype)
        if lo > hi:
            raise InitError(
                f"trunc_normal_: no {dtype_name(out.dtype)} value lies in [{self.a}, {self.b}]"
            )
        fill_chunks(out, stream, truncnormal.make_draw(self.mean, self.std, lo, hi))

    def describe(self) -> str:
        return (
            f"trunc_normal(mean={_fmt(self.mean)}, std={_fmt(self.std)}, "
            f"a={_fmt(self.a)}, b={_fmt(self.b)})"
        )

    def expected_std(self, shape: tuple[int, ...]) -> float | None:
        return truncnormal.truncated_std(self.mean, self.std, self.a, self.b)


@dataclass(frozen=True)
class Orthogonal(Recipe):
    """A (semi-)orthogonal matrix times ``gain``; dimensions after the first are flattened.

    Q is the orthogonal factor of a Householder QR of a standard normal matrix, with the signs
    of R's diagonal moved into Q, so that Q is Haar-distributed (Mezzadri 2007) as in
    ``torch.nn.init.orthogonal_``. By the rotational invariance of the normal distribution,
    the reflector of column j can be built from fresh normal values (Stewart 1980), so only
    the product of reflectors is formed, in blocks, with matrix products: no ``geqrf`` pass,
    and float32 output is computed in float32.
    """

    gain: float = 1.0
    random = True

    def _write(self, out: Any, stream: Stream) -> None:
        if out.size == 0:
            return
        rows = out.shape[0]
        cols = out.size // rows
        on_gpu = not isinstance(out, np.ndarray) and not is_portable()
        xp = _xp(out) if on_gpu else np
        matrix = xp.empty((max(rows, cols), min(rows, cols)), work_dtype(out.dtype))
        fill_chunks(matrix, stream, normal_draw(0.0, 1.0))
        q = haar_q(matrix, xp)
        if rows < cols:
            q = q.T
        q *= self.gain
        out[...] = to_device(q, device_of(out)).reshape(out.shape).astype(out.dtype, copy=False)

    def describe(self) -> str:
        return f"orthogonal(gain={_fmt(self.gain)})"

    def expected_std(self, shape: tuple[int, ...]) -> float | None:
        rows = shape[0]
        cols = math.prod(shape) // rows if rows else 0
        return abs(self.gain) / math.sqrt(max(rows, cols, 1))


def haar_q(normal: Any, xp: Any, block: int = 128) -> Any:
    """The sign-corrected Q (m x k, m >= k) of Householder reflectors drawn from ``normal``.

    Column j's reflector maps ``x = normal[j:, j]`` to ``beta e_1`` (LAPACK's ``larfg``
    convention, ``beta = -sign(x_0) |x|``); blocks of reflectors are accumulated in compact
    WY form, ``I - V T V^T`` with ``T^-1 = diag(1/tau) + striu(V^T V)`` (Joffrain et al. 2006),
    applied from the last block to the first. Column j is finally multiplied by sign(beta_j).
    """
    m, k = normal.shape
    q = xp.zeros((m, k), normal.dtype)
    diag = xp.arange(k)
    q[diag, diag] = 1
    signs = xp.empty(k, normal.dtype)
    for j in range(((k - 1) // block) * block, -1, -block):
        b = min(block, k - j)
        v = xp.tril(normal[j:, j : j + b])
        alpha = xp.diagonal(v).copy()
        beta = -xp.copysign(xp.sqrt(xp.einsum("ij,ij->j", v, v)), alpha)
        v /= alpha - beta
        d = xp.arange(b)
        v[d, d] = 1
        signs[j : j + b] = xp.sign(beta)
        t_inv = xp.triu(v.T @ v, 1)
        t_inv[d, d] = beta / (beta - alpha)  # 1 / tau
        sub = q[j:, j:]
        sub -= v @ (xp.linalg.inv(t_inv) @ (v.T @ sub))
    q *= signs
    return q


@dataclass(frozen=True)
class Eye(Recipe):
    """The identity matrix (ones on the main diagonal of a 2-d tensor)."""

    def _write(self, out: Any, stream: Stream) -> None:
        out[...] = 0
        idx = _xp(out).arange(min(out.shape))
        out[idx, idx] = 1

    def describe(self) -> str:
        return "eye"


@dataclass(frozen=True)
class Dirac(Recipe):
    """The Dirac delta of a 3/4/5-d convolution weight: identity on the channels, per group."""

    groups: int = 1

    def _write(self, out: Any, stream: Stream) -> None:
        out[...] = 0
        per_group = out.shape[0] // self.groups
        centre = tuple(s // 2 for s in out.shape[2:])
        for g in range(self.groups):
            for d in range(min(per_group, out.shape[1])):
                out[(g * per_group + d, d, *centre)] = 1

    def describe(self) -> str:
        return f"dirac(groups={self.groups})"


@dataclass(frozen=True)
class Sparse(Recipe):
    """Normal(0, std) with ``ceil(sparsity * rows)`` zeros at random rows of every column."""

    sparsity: float
    std: float = 0.01
    random = True

    def _write(self, out: Any, stream: Stream) -> None:
        fill_chunks(out, stream, normal_draw(0.0, self.std))
        rows, cols = out.shape
        zeros = min(math.ceil(self.sparsity * rows), rows)
        if zeros <= 0 or out.size == 0:
            return
        keys = stream.generator(_SIDE_CHUNK).random((rows, cols), dtype=np.float32)
        picked = np.argpartition(keys, zeros - 1, axis=0)[:zeros] if zeros < rows else None
        xp = _xp(out)
        if picked is None:
            out[...] = 0
        else:
            out[xp.asarray(picked), xp.arange(cols)[None, :]] = 0

    def describe(self) -> str:
        return f"sparse(sparsity={_fmt(self.sparsity)}, std={_fmt(self.std)})"

    def expected_std(self, shape: tuple[int, ...]) -> float | None:
        rows = shape[0]
        zeros = min(math.ceil(self.sparsity * rows), rows)
        return abs(self.std) * math.sqrt(1 - zeros / rows) if rows else 0.0


@dataclass(frozen=True)
class ZeroRows(Recipe):
    """Another recipe's values with some rows (first-dimension indices) set to zero."""

    base: Recipe
    rows: tuple[int, ...]

    @property
    def random(self) -> bool:  # type: ignore[override]
        return self.base.random

    def _write(self, out: Any, stream: Stream) -> None:
        self.base._write(out, stream)
        out[list(self.rows)] = 0

    def describe(self) -> str:
        rows = ", ".join(str(r) for r in self.rows)
        return f"{self.base.describe()} with row {rows} zero"
