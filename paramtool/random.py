"""Seeding: random values as a function of (seed, name), never of order.

A tensor materialised under the name ``layers.3.mlp.weight`` with seed ``s`` draws from
``Stream(s, name_key("layers.3.mlp.weight"))``; the same values come out whether the whole
model or only that tensor is materialised, in any order. A tensor that has no name draws from
a key handed out at creation by a global counter that ``manual_seed`` resets, so unnamed tensors
are still reproducible for a seed. Long tensors are generated in fixed-size chunks, each from
its own generator (``Stream.generator(i)``), so the values do not depend on how many threads
fill them.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass

import numpy as np

#: Elements per independently seeded chunk. Fixed: changing it changes every value.
CHUNK = 1 << 20


_lock = threading.Lock()
_seed = 0
_counter = itertools.count()


def manual_seed(seed: int) -> Generator:
    """Set the global seed (and restart the counter that keys unnamed tensors).

    Returns:
        The default generator, like ``torch.manual_seed``.
    """
    global _seed, _counter
    with _lock:
        _seed = int(seed)
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
        self._seed = int(seed)
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

    def generator(self, chunk: int = 0) -> np.random.Generator:
        """The independent numpy generator of chunk ``chunk`` of this stream."""
        seq = np.random.SeedSequence(self.seed, spawn_key=(*self.key, chunk))
        return np.random.Generator(np.random.PCG64(seq))


def named_stream(name: str, seed: int | None = None) -> Stream:
    """The stream of the tensor named ``name`` under ``seed`` (default: the global seed)."""
    return Stream(_seed if seed is None else int(seed), name_key(name))
