"""The inventory of a model or checkpoint: one row per tensor name, tie groups and totals.

An :class:`Inventory` is plain data built either from a Module (:func:`from_module`, nothing is
materialised) or from a checkpoint's header (:func:`from_checkpoint`, no tensor data is read).
It also remembers how to get a tensor's values (:meth:`Inventory.values`) for statistics and
diffs, so that everything downstream treats models and files alike.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import chain, compress, repeat
from json.encoder import encode_basestring_ascii as _text
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np

from paramtool.checkpoint.checkpoint import Checkpoint
from paramtool.checkpoint.entry import dtype_label
from paramtool.checkpoint.sharing import tie_groups
from paramtool.core.collection import collection_paused
from paramtool.core.device import to_host
from paramtool.core.dtypes import dtype_name

#: Row kinds: a model's parameters and buffers, or a checkpoint's tensors.
PARAMETER, BUFFER, TENSOR = "parameter", "buffer", "tensor"

#: JSON of the values of a row's bool-or-None fields.
_LITERAL: dict[Any, str] = {None: "null", True: "true", False: "false"}


class TensorRow(NamedTuple):
    """One tensor name (a named tuple: a checkpoint may list millions).

    Attributes:
        name: The dotted name (``layers.0.attn.q_proj.weight``).
        shape: The shape.
        dtype: The dtype's name (``float32``, ``bfloat16``).
        numel: Number of elements.
        nbytes: Size in bytes.
        kind: ``parameter``, ``buffer`` (models) or ``tensor`` (checkpoints).
        trainable: ``requires_grad`` of a parameter; None for buffers and file tensors.
        tied_to: The canonical name when this name reaches a tensor listed earlier, else None.
        tie_group: Index into :attr:`Inventory.ties` when the tensor has several names.
        persistent: False for a buffer left out of the state_dict.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    numel: int
    nbytes: int
    kind: str = TENSOR
    trainable: bool | None = None
    tied_to: str | None = None
    tie_group: int | None = None
    persistent: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "numel": self.numel,
            "nbytes": self.nbytes,
            "kind": self.kind,
            "trainable": self.trainable,
            "tied_to": self.tied_to,
            "tie_group": self.tie_group,
            "persistent": self.persistent,
        }

    def to_json(self) -> str:
        """The one-line JSON text of :meth:`to_dict` (``json.dumps`` with ``", "`` and ``": "``
        separators), written without the dict: a checkpoint may list a million rows."""
        tied_to = "null" if self.tied_to is None else _text(self.tied_to)
        group = "null" if self.tie_group is None else self.tie_group
        return (
            f'{{"name": {_text(self.name)}, "shape": [{", ".join(map(str, self.shape))}], '
            f'"dtype": {_text(self.dtype)}, "numel": {self.numel}, "nbytes": {self.nbytes}, '
            f'"kind": {_text(self.kind)}, "trainable": {_LITERAL[self.trainable]}, '
            f'"tied_to": {tied_to}, "tie_group": {group}, '
            f'"persistent": {_LITERAL[self.persistent]}}}'
        )


@dataclass(frozen=True)
class Totals:
    """Counts over unique tensors (a tied tensor counts once).

    Attributes:
        parameters: Elements of parameters (of every floating-point tensor, for a checkpoint).
        trainable: Elements of parameters with ``requires_grad``.
        frozen: Elements of parameters without it.
        buffers: Elements of buffers (of every integer or bool tensor, for a checkpoint).
        tensors: Number of unique tensors.
        names: Number of names, aliases included.
        nbytes: Bytes of all unique tensors.
        bytes_by_dtype: Bytes per dtype name.
        tie_groups: Number of groups of names sharing one tensor.
    """

    parameters: int
    trainable: int
    frozen: int
    buffers: int
    tensors: int
    names: int
    nbytes: int
    bytes_by_dtype: dict[str, int]
    tie_groups: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(vars(self))


@dataclass
class Inventory:
    """Every tensor of a model or checkpoint, as plain data.

    Attributes:
        source: What was inspected (a path, or a model's class name).
        kind: ``model`` or ``checkpoint``.
        rows: One row per name, in state_dict (or file) order.
        ties: Groups of names reaching one tensor; the canonical name first.
        metadata: A checkpoint's ``__metadata__`` (empty for models); for a ``torch.save``
            file, its plain non-tensor entries as JSON.
        overlapping: Groups of names of distinct tensors viewing one storage (a ``torch.save``
            file's transposed or sliced views); each is stored in full when converted.
        contents: For a file nesting its state dict: each top-level key and what it holds.
        key: For such a file: the key whose tensors the rows are.
        model: The Module, for a model inventory.
        pattern: The glob the rows were filtered with, if any.
    """

    source: str
    kind: str
    rows: list[TensorRow]
    ties: list[list[str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    overlapping: list[list[str]] = field(default_factory=list)
    contents: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    model: Any = None
    pattern: str | None = None
    _values: Callable[[str], Any] | None = field(default=None, repr=False)
    _stacked: Callable[[list[str]], np.ndarray] | None = field(default=None, repr=False)

    @property
    def totals(self) -> Totals:
        """The totals over unique tensors."""
        return compute_totals(self.rows, len(self.ties))

    def row(self, name: str) -> TensorRow:
        """The row of ``name`` (KeyError when absent)."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def unique_rows(self) -> list[TensorRow]:
        """Rows of distinct tensors: the canonical name of each tie group, or the first of its
        names that a filter kept when it dropped the canonical one."""
        if not any(map(_TIED_TO, self.rows)):
            return list(self.rows)
        seen: set[str] = set()
        result = []
        for row in self.rows:
            key = row.tied_to or row.name
            if key not in seen:
                seen.add(key)
                result.append(row)
        return result

    def values(self, name: str) -> np.ndarray:
        """The values of ``name`` as a numpy array (computed or read; not kept)."""
        if self._values is None:
            raise KeyError(f"{self.source}: values are not available")
        return self._values(name)

    def stacked(self, names: list[str]) -> np.ndarray:
        """The values of ``names``, tensors of one dtype and one size, as the rows of a 2-D
        array (a checkpoint reads them in bulk; a model computes them one by one)."""
        if self._stacked is not None:
            return self._stacked(names)
        return np.stack([np.asarray(self.values(name)).reshape(-1) for name in names])

    def filtered(self, pattern: str | None) -> Inventory:
        """A copy keeping only rows whose name matches a glob (``*attn*``), or all rows."""
        if not pattern:
            return self
        rows = [row for row in self.rows if fnmatch.fnmatchcase(row.name, pattern)]
        return replace(self, rows=rows, pattern=pattern)


def _floating(dtype: str) -> bool:
    """True for a floating-point or complex dtype name: the values a parameter can hold."""
    return dtype.startswith(("float", "bfloat", "complex"))


def compute_totals(rows: Iterable[TensorRow], tie_groups: int = 0) -> Totals:
    """Totals over ``rows``; aliases (rows with ``tied_to``) add names but no elements.

    A checkpoint's tensors count as parameters when floating point; its integer and bool
    tensors (``position_ids``, ``num_batches_tracked``) count as buffers. Rows are summed by
    groups of one kind, dtype and ``trainable``, each group in one pass at C speed: a
    checkpoint may list a million rows.
    """
    rows = list(rows)
    kept = [row for row in rows if row.tied_to is None] if any(map(_TIED_TO, rows)) else rows
    group_of: dict[tuple[str, str, bool | None], int] = {}
    keys = zip(map(_KIND, kept), map(_DTYPE, kept), map(_TRAINABLE, kept), strict=True)
    codes = list(map(group_of.setdefault, keys, itertools.count()))
    numel, nbytes = list(map(_NUMEL, kept)), list(map(_NBYTES, kept))
    counts = dict.fromkeys(("parameters", "trainable", "frozen", "buffers"), 0)
    by_dtype: dict[str, int] = {}
    for (kind, dtype, trainable), code in group_of.items():
        members = list(map(code.__eq__, codes)) if len(group_of) > 1 else None
        elements = sum(compress(numel, members) if members else numel)
        by_dtype[dtype] = by_dtype.get(dtype, 0) + sum(compress(nbytes, members) if members else nbytes)  # fmt: skip
        if kind == BUFFER or (kind == TENSOR and not _floating(dtype)):
            counts["buffers"] += elements
            continue
        counts["parameters"] += elements
        counts["frozen" if trainable is False else "trainable"] += elements
    return Totals(
        **counts,
        tensors=len(kept),
        names=len(rows),
        nbytes=sum(by_dtype.values()),
        bytes_by_dtype=dict(sorted(by_dtype.items(), key=lambda kv: -kv[1])),
        tie_groups=tie_groups,
    )


def _group_ties(rows: list[TensorRow], keys: list[Any]) -> tuple[list[TensorRow], list[list[str]]]:
    """Mark rows sharing a key (the tensor's identity) as tied to the first of them."""
    members: dict[Any, list[str]] = {}
    for row, key in zip(rows, keys, strict=True):
        members.setdefault(key, []).append(row.name)
    groups = [names for names in members.values() if len(names) > 1]
    index = {name: i for i, names in enumerate(groups) for name in names}
    alias_of = {name: names[0] for names in groups for name in names[1:]}
    marked = [  # only rows in a group change: a checkpoint of a million tensors has few
        row._replace(tie_group=index[row.name], tied_to=alias_of.get(row.name))
        if row.name in index
        else row
        for row in rows
    ]
    return marked, groups


def _row(
    name: str, shape: Iterable[int], dtype: Any, nbytes: int | None = None, **extra: Any
) -> TensorRow:
    """A row; ``dtype`` is a numpy dtype, or a name when ``nbytes`` is given."""
    shape = tuple(map(int, shape))
    numel = math.prod(shape)
    if nbytes is None:
        nbytes = numel * np.dtype(dtype).itemsize
    label = dtype if isinstance(dtype, str) else dtype_name(np.dtype(dtype))
    return TensorRow(name=name, shape=shape, dtype=label, numel=numel, nbytes=int(nbytes), **extra)


def from_module(model: Any, source: str | None = None, seed: int | None = None) -> Inventory:
    """The inventory of a Module: parameters and buffers, every name, without materialising.

    Rows follow ``state_dict()`` order, non-persistent buffers at their place in it (as PyTorch
    lists them) and marked so. Names that
    reach one tensor (the same object or the same storage, as the safetensors writer sees it)
    form a tie group, the first name being canonical.

    Args:
        model: A :class:`paramtool.nn.Module`.
        source: What to call it in reports (default: the class name).
        seed: The seed deferred values are computed with (default: the global seed), as an
            export with that seed writes them.
    """
    named: list[tuple[str, Any, str]] = [
        (name, t, PARAMETER) for name, t in model.named_parameters(remove_duplicate=False)
    ]
    named += [(name, t, BUFFER) for name, t in model.named_buffers(remove_duplicate=False)]
    saved = set(model.state_dict(keep_vars=True))
    order = {name: i for i, name in enumerate(_module_order(model))}
    named.sort(key=lambda item: order.get(item[0], len(order)))
    rows = [
        _row(
            name,
            tuple(t.shape),
            t.dtype,
            kind=kind,
            trainable=bool(t.requires_grad) if kind == PARAMETER else None,
            persistent=kind == PARAMETER or name in saved,
        )
        for name, t, kind in named
    ]
    tensors = {name: t for name, t, _ in named}
    kept_of = {name: kept for kept, names in tie_groups(tensors).items() for name in names}
    rows, ties = _group_ties(rows, [kept_of[row.name] for row in rows])
    return Inventory(
        source=source or type(model).__name__,
        kind="model",
        rows=rows,
        ties=ties,
        model=model,
        # a tied name's values are those of its canonical name, as exported and materialised
        _values=lambda name: _module_values(tensors[name], kept_of[name], seed),
    )


def _module_order(model: Any) -> list[str]:
    """Every parameter and buffer name in PyTorch's order: each module's own parameters, then
    its own buffers (non-persistent ones at their place), then its children's."""
    names = []
    for prefix, module in model.named_modules(remove_duplicate=False):
        dot = f"{prefix}." if prefix else ""
        for registry in (module._parameters, module._buffers):
            names += [dot + name for name, tensor in registry.items() if tensor is not None]
    return names


def _module_values(tensor: Any, name: str, seed: int | None) -> np.ndarray:
    array = tensor.compute(name=name, seed=seed) if tensor.is_deferred else tensor.numpy()
    return np.asarray(to_host(array))


def from_checkpoint(checkpoint: Checkpoint, source: str | None = None) -> Inventory:
    """The inventory of an open checkpoint, from its header alone.

    Names the file records as tied (``__metadata__`` ``{dropped: kept}``) appear as alias rows
    after the file's own tensors.

    Args:
        checkpoint: The object ``paramtool.checkpoint.open_checkpoint`` returns.
        source: What to call it in reports (default: its path).
    """
    with collection_paused():  # a million rows, no cycles
        return _checkpoint_inventory(checkpoint, source)


#: Fields of a checkpoint entry, read at C speed over millions of them.
_DTYPE, _NBYTES = attrgetter("dtype"), attrgetter("nbytes")
_TIED_TO = attrgetter("tied_to")
_KIND, _TRAINABLE, _NUMEL = attrgetter("kind"), attrgetter("trainable"), attrgetter("numel")
#: ``TensorRow._make`` without its Python-level length check (the zip gives every field).
_new_row = partial(tuple.__new__, TensorRow)


def _checkpoint_inventory(checkpoint: Checkpoint, source: str | None) -> Inventory:
    names, shapes, dtypes, sizes = checkpoint.columns()  # a checkpoint may hold millions
    labels = {dtype: dtype_label(dtype) for dtype in set(dtypes)}
    if not set(map(type, chain.from_iterable(shapes))) <= {int}:
        shapes = [tuple(map(int, shape)) for shape in shapes]
    columns = (names, shapes, map(labels.__getitem__, dtypes), map(math.prod, shapes))
    defaults = (repeat(value) for value in (TENSOR, None, None, None, True))
    rows = list(map(_new_row, zip(*columns, sizes, *defaults)))  # noqa: B905 - repeats are endless
    tied = checkpoint.tied  # only names the file does not store, each tied to a stored one
    ties: list[list[str]] = []
    if tied:  # a file of a million tensors and no ties skips the grouping
        stored = {row.name: row for row in rows}
        rows += [stored[kept]._replace(name=dropped) for dropped, kept in tied.items()]
        rows, ties = _group_ties(rows, [tied.get(row.name, row.name) for row in rows])
    return Inventory(
        source=source or str(checkpoint.path),
        kind="checkpoint",
        rows=rows,
        ties=ties,
        metadata=dict(checkpoint.metadata),
        overlapping=[list(group) for group in checkpoint.overlapping],
        contents=dict(checkpoint.contents),
        key=checkpoint.key,
        _values=checkpoint.array,  # resolves a tied name to its kept tensor
        _stacked=checkpoint.stacked,
    )
