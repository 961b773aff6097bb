"""Seeding: random values as a function of (seed, name), never of order.

A tensor materialised under the name ``layers.3.mlp.weight`` with seed ``s`` draws from
``Stream(s, name_key("layers.3.mlp.weight"))``; the same values come out whether the whole
model or only that tensor is materialised, in any order. A tensor that has no name draws from
a key handed out at creation by a global counter that ``manual_seed`` resets, so unnamed tensors
are still reproducible for a seed. Long tensors are generated in fixed-size chunks, each from
its own generator (``Stream.generator(i)``), so the values do not depend on how many threads
fill them (``set_num_threads``; env ``PARAMTOOL_NUM_THREADS``).

On CUDA, values are generated on the GPU by cupy's generator, chunk i seeded from the same
stream. They differ from the CPU's values; ``set_portable(True)`` (env ``PARAMTOOL_PORTABLE=1``)
generates on the CPU and copies, so a seed gives the same values on every device.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from paramtool.core.device import device_of

#: Elements per independently seeded chunk. Fixed: changing it changes every value.
CHUNK = 1 << 20


_lock = threading.Lock()
_seed = 0
_counter = itertools.count()

#: Seeds are 64-bit: a negative seed stands for its two's complement, as in PyTorch.
SEED_RANGE = (-(2**63), 2**64 - 1)


def as_seed(seed: int) -> int:
    """``seed`` as the unsigned 64-bit seed PyTorch makes of it.

    Raises:
        ValueError: outside ``SEED_RANGE``.
    """
    value = int(seed)
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise ValueError(f"seed must be within [{SEED_RANGE[0]}, {SEED_RANGE[1]}], got {value}")
    return value & (2**64 - 1)


def manual_seed(seed: int) -> Generator:
    """Set the global seed (and restart the counter that keys unnamed tensors).

    Returns:
        The default generator, like ``torch.manual_seed``.
    """
    global _seed, _counter
    with _lock:
        _seed = as_seed(seed)
        _counter = itertools.count()
    default_generator._seed = _seed
    return default_generator


def initial_seed() -> int:
    """The global seed (0 unless ``manual_seed`` was called)."""
    return _seed


def next_stream(generator: Generator | None = None) -> Stream:
    """A fresh stream for a tensor that has no name: from ``generator``, else the global counter."""
    if generator is not None:
        return generator.next_stream()
    with _lock:
        return Stream(_seed, (0xFFFFFFFF, next(_counter)))


def name_key(name: str) -> tuple[int, ...]:
    """The stream key of a parameter name: two 32-bit words of its BLAKE2b digest."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little"))


class Generator:
    """A seedable source of stream keys, like ``torch.Generator``.

    Passing ``generator=g`` to a factory or an init function makes that tensor's values depend on
    ``g``'s seed and how many tensors ``g`` has keyed before, instead of the global counter.
    """

    def __init__(self, device: object = "cpu") -> None:
        self.device = device
        self._seed = 0
        self._count = itertools.count()

    def manual_seed(self, seed: int) -> Generator:
        """Reset this generator to ``seed``; returns itself."""
        self._seed = as_seed(seed)
        self._count = itertools.count()
        return self

    def initial_seed(self) -> int:
        """The seed this generator was last set to."""
        return self._seed

    def seed(self) -> int:
        """Re-seed from OS entropy; returns the new seed."""
        return self.manual_seed(int(np.random.SeedSequence().entropy) & (2**63 - 1))._seed

    def next_stream(self) -> Stream:
        """The stream for the next tensor keyed by this generator."""
        return Stream(self._seed, (0xFFFFFFFE, next(self._count)))


default_generator = Generator()


@dataclass(frozen=True)
class Stream:
    """One reproducible random stream: a seed and a key (from a name or a counter)."""

    seed: int
    key: tuple[int, ...]

    def seed_sequence(self, chunk: int = 0) -> np.random.SeedSequence:
        """The seed sequence of chunk ``chunk`` of this stream."""
        return np.random.SeedSequence(self.seed, spawn_key=(*self.key, chunk))

    def generator(self, chunk: int = 0) -> np.random.Generator:
        """The independent numpy generator of chunk ``chunk`` of this stream."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence(chunk)))


def named_stream(name: str, seed: int | None = None) -> Stream:
    """The stream of the tensor named ``name`` under ``seed`` (default: the global seed)."""
    return Stream(_seed if seed is None else as_seed(seed), name_key(name))


# -- chunked, threaded generation ------------------------------------------------------------

_settings = {
    "threads": int(os.environ.get("PARAMTOOL_NUM_THREADS", "0") or 0) or os.cpu_count() or 1,
    "portable": os.environ.get("PARAMTOOL_PORTABLE", "") not in ("", "0"),
}
_pool: dict[int, ThreadPoolExecutor] = {}
# A forked child (a local export worker) has none of its parent's threads: it starts its own.
os.register_at_fork(after_in_child=_pool.clear)
_scratch = threading.local()


def set_num_threads(count: int) -> None:
    """Set how many threads fill random tensors on the CPU (values do not depend on it)."""
    if int(count) < 1:
        raise ValueError(f"set_num_threads: expected a positive count, got {count}")
    _settings["threads"] = int(count)


def get_num_threads() -> int:
    """The number of threads that fill random tensors on the CPU."""
    return _settings["threads"]


def set_portable(portable: bool = True) -> None:
    """Generate CUDA tensors' random values on the CPU, so they equal the CPU values exactly."""
    _settings["portable"] = bool(portable)


def is_portable() -> bool:
    """True when CUDA tensors take their random values from the CPU generator."""
    return _settings["portable"]


class ChunkSource:
    """The random source of one chunk; fills arrays of its own array module in place.

    Wraps a ``numpy.random.Generator`` (CPU, or portable CUDA) or a cupy ``RandomState``.
    Draw functions see only this interface, so one piece of code serves both backends. On the
    CPU, float32 values are built directly from the generator's raw 64-bit words (no float64
    intermediates): uniforms from the top 24 bits of each 32-bit half, normals by the Box-Muller
    transform (Box & Muller, 1958), which is exact and about three times faster than numpy's
    float32 ziggurat here.
    """

    def __init__(self, gen: Any, xp: Any) -> None:
        self.gen = gen
        self.xp = xp

    def normal(self, out: Any, std: float = 1.0) -> Any:
        """Fill 1-d ``out`` (float32 or float64) with normal values N(0, std^2); returns it."""
        if self.xp is np and out.dtype == np.float32:
            _box_muller(self.gen.bit_generator, out, std)
            return out
        if self.xp is np:
            self.gen.standard_normal(out=out)
        else:
            out[...] = self.gen.standard_normal(out.shape, dtype=out.dtype)
        if std != 1:
            out *= std
        return out

    def uniform(self, out: Any) -> Any:
        """Fill 1-d ``out`` (float32 or float64) with values uniform on [0, 1); returns it."""
        if self.xp is not np:
            out[...] = self.gen.random_sample(out.shape, dtype=out.dtype)
        elif out.dtype == np.float32:
            words = self.gen.bit_generator.random_raw((out.size + 1) // 2).view(np.uint32)
            np.right_shift(words, 8, out=words)
            np.multiply(
                words[: out.size], _F32(2.0**-24), out=out, dtype=np.float32, casting="unsafe"
            )
        else:
            self.gen.random(out=out)
        return out

    def normal_values(self, count: int, dtype: Any) -> Any:
        """``count`` fresh standard normal values."""
        return self.normal(self.xp.empty(count, dtype=dtype))


_F32 = np.float32


def _box_muller(bitgen: Any, out: np.ndarray, std: float = 1.0) -> None:
    """N(0, std^2) float32 values into 1-d ``out``, two per raw 64-bit word.

    ``r = std sqrt(-2 log u)`` (the scale costs nothing: it joins the -2) with ``u = (k + 1/2) / 2**32`` in (0, 1) (tails reach 6.7 std),
    ``theta = 2 pi v``; ``r cos(theta)`` fills the first half, ``r sin(theta)`` the second.
    """
    half = (out.size + 1) // 2
    words = bitgen.random_raw(half).view(np.uint32)
    radius, rest = out[:half], out[half:]
    np.multiply(words[:half], _F32(2.0**-32), out=radius, dtype=np.float32, casting="unsafe")
    radius += _F32(2.0**-33)
    np.log(radius, out=radius)
    radius *= _F32(-2.0 * std * std)
    np.sqrt(radius, out=radius)
    angle = words[half:].view(np.float32)  # converted in place: same size, same positions
    np.multiply(
        words[half:], _F32(2 * np.pi * 2.0**-32), out=angle, dtype=np.float32, casting="unsafe"
    )
    np.sin(angle[: rest.size], out=rest)
    rest *= radius[: rest.size]
    np.cos(angle, out=angle)
    radius *= angle


Draw = Callable[[ChunkSource, Any], None]


def work_dtype(dtype: Any) -> np.dtype:
    """The dtype values are drawn in for an output dtype: float64 for float64, else float32."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def fill_chunks(out: Any, stream: Stream, draw: Draw) -> None:
    """Fill ``out`` in place, chunk by chunk: chunk i from ``stream.generator(i)``.

    ``draw(source, chunk)`` writes one 1-d chunk of ``work_dtype(out.dtype)`` in place. A
    contiguous float32/float64 numpy ``out`` is written directly; other outputs (float16,
    bfloat16, float8, non-contiguous, cupy) are drawn per chunk into a scratch buffer and cast,
    so memory stays bounded by one chunk per thread. Chunks run on ``get_num_threads()`` threads.

    Args:
        out: The numpy or cupy array to fill.
        stream: The stream the values come from.
        draw: The per-chunk draw function.
    """
    if out.size == 0:
        return
    device = device_of(out)
    if not out.flags.c_contiguous:
        # reshape(-1) of a non-contiguous array is a copy (numpy and cupy alike), so the values
        # would be written to it and lost: fill a contiguous array, then copy it in.
        with device.use():
            tmp = device.xp.empty(out.shape, out.dtype)
        fill_chunks(tmp, stream, draw)
        with device.use():
            out[...] = tmp
        return
    if device.type != "cpu" and not is_portable():
        _fill_on_gpu(out, stream, draw)
        return
    flat = out.reshape(-1)
    wdt = work_dtype(out.dtype)
    direct = isinstance(out, np.ndarray) and out.dtype == wdt
    bounds = [(s, min(s + CHUNK, out.size)) for s in range(0, out.size, CHUNK)]

    def one(i: int) -> None:
        start, stop = bounds[i]
        source = ChunkSource(stream.generator(i), np)
        if direct:
            draw(source, flat[start:stop])
            return
        chunk = _scratch_buffer(stop - start, wdt)
        draw(source, chunk)
        if isinstance(out, np.ndarray):
            flat[start:stop] = chunk
        else:
            # a host array assigned into a cupy array raises (cupy routes it to fill(), which
            # takes scalars only): copy the chunk to the device first, then cast there.
            with device.use():
                flat[start:stop] = device.xp.asarray(chunk).astype(out.dtype)

    _run(one, len(bounds))


def _scratch_buffer(size: int, dtype: np.dtype) -> np.ndarray:
    """A per-thread reusable buffer of at least one chunk."""
    buf = getattr(_scratch, dtype.name, None)
    if buf is None:
        buf = np.empty(CHUNK, dtype)
        setattr(_scratch, dtype.name, buf)
    return buf[:size]


def _run(task: Callable[[int], None], count: int) -> None:
    """Run ``task(i)`` for i in range(count) on the fill thread pool; re-raise any error."""
    threads = min(get_num_threads(), count)
    if threads <= 1:
        for i in range(count):
            task(i)
        return
    pool = _pool.get(threads)
    if pool is None:
        pool = _pool[threads] = ThreadPoolExecutor(threads, thread_name_prefix="paramtool-fill")
    for future in [pool.submit(task, i) for i in range(count)]:
        future.result()


def chunk_seed(stream: Stream, chunk: int) -> int:
    """A 63-bit seed for a non-numpy generator of chunk ``chunk`` of ``stream``."""
    state = stream.seed_sequence(chunk).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def _fill_on_gpu(out: Any, stream: Stream, draw: Draw) -> None:
    """Draw on the GPU with cupy's generator, chunk i seeded from chunk i of ``stream``."""
    device = device_of(out)
    xp = device.xp
    flat = out.reshape(-1)
    wdt = work_dtype(out.dtype)
    with device.use():
        for i, start in enumerate(range(0, out.size, CHUNK)):
            stop = min(start + CHUNK, out.size)
            source = ChunkSource(xp.random.RandomState(chunk_seed(stream, i)), xp)
            if out.dtype == wdt:
                draw(source, flat[start:stop])
            else:
                chunk = xp.empty(stop - start, wdt)
                draw(source, chunk)
                flat[start:stop] = chunk.astype(out.dtype)
