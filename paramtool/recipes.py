"""Recipes: how a deferred tensor's values will be produced.

A deferred tensor holds a recipe instead of memory. ``recipe.fill(out, stream)`` writes the
values into a preallocated array of the final shape, dtype and device. Random recipes draw from
``stream`` (see ``paramtool.random``) in fixed-size chunks, so values depend only on the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from paramtool.random import CHUNK, Stream


def _fmt(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Recipe:
    """Base class: a description of values, and the code that writes them."""

    random = False

    def fill(self, out: Any, stream: Stream) -> None:
        """Write the values into ``out`` in place."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human description, e.g. ``normal(mean=0, std=0.02)``."""
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Constant(Recipe):
    """Every element equal to ``value`` (zeros, ones, full, empty)."""

    value: float | int | bool = 0

    def fill(self, out: Any, stream: Stream) -> None:
        out[...] = self.value

    def describe(self) -> str:
        return {0: "zeros", 1: "ones"}.get(self.value, f"constant({self.value})")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Arange(Recipe):
    """``start, start + step, ...`` over the flattened tensor."""

    start: float = 0
    step: float = 1

    def fill(self, out: Any, stream: Stream) -> None:
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

    def fill(self, out: Any, stream: Stream) -> None:
        def draw(gen: np.random.Generator, chunk: np.ndarray) -> None:
            gen.random(out=chunk, dtype=np.float32 if chunk.dtype == np.float32 else np.float64)
            chunk *= self.b - self.a
            chunk += self.a

        fill_chunks(out, stream, draw)

    def describe(self) -> str:
        return f"uniform(a={_fmt(self.a)}, b={_fmt(self.b)})"


@dataclass(frozen=True)
class Normal(Recipe):
    """Normal with mean ``mean`` and standard deviation ``std``."""

    mean: float = 0.0
    std: float = 1.0
    random = True

    def fill(self, out: Any, stream: Stream) -> None:
        def draw(gen: np.random.Generator, chunk: np.ndarray) -> None:
            gen.standard_normal(
                out=chunk, dtype=np.float32 if chunk.dtype == np.float32 else np.float64
            )
            chunk *= self.std
            chunk += self.mean

        fill_chunks(out, stream, draw)

    def describe(self) -> str:
        return f"normal(mean={_fmt(self.mean)}, std={_fmt(self.std)})"


def _xp(array: Any) -> Any:
    from paramtool.device import device_of  # noqa: PLC0415

    return device_of(array).xp


def fill_chunks(out: Any, stream: Stream, draw: Any) -> None:
    """Fill ``out`` chunk by chunk: chunk i from ``stream.generator(i)``.

    ``draw(gen, chunk)`` writes one 1-d float32 or float64 chunk in place. Outputs of other
    dtypes (float16, bfloat16, float8, or a cupy array) are generated per chunk in float32 (float64
    for float64) and cast, so memory stays bounded by one chunk.
    """
    work_dtype = np.float64 if out.dtype == np.float64 else np.float32
    on_cpu = isinstance(out, np.ndarray)
    direct = on_cpu and out.dtype == work_dtype and out.flags.c_contiguous
    flat = out.reshape(-1) if direct else None
    buf = None if direct else np.empty(min(CHUNK, out.size), dtype=work_dtype)
    target = out.reshape(-1)
    for i, start in enumerate(range(0, out.size, CHUNK)):
        stop = min(start + CHUNK, out.size)
        gen = stream.generator(i)
        if direct:
            draw(gen, flat[start:stop])
        else:
            chunk = buf[: stop - start]
            draw(gen, chunk)
            target[start:stop] = chunk if on_cpu else _xp(out).asarray(chunk).astype(out.dtype)
