"""Matching a state_dict against a model: the one routine behind every load and load check.

``Module.load_state_dict``, ``checkpoint.load_into`` and ``paramtool load`` (a check from headers
alone) all ask the same question: which of the model's names does a state_dict fill, which does
it lack, which of its names does the model not have, and which shapes or dtypes differ. They all
answer it with :func:`match_state`, from two plain descriptions:

- the model side, a :class:`StateLayout`: its state_dict names in PyTorch's load order, with
  shape, dtype and whether the name may be left out (``num_batches_tracked``), the module paths,
  and the tie groups (names reaching one tensor);
- the checkpoint side: name -> :class:`Found` (shape and dtype; ``None`` for a value that is not
  a tensor).

Names a model class declares ignorable are decided in one place, :func:`ignorable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from paramtool.core.dtypes import dtype_name
from paramtool.errors import ModelLoadError, StateDictError


class Found(NamedTuple):
    """What a state_dict holds under one name: its shape and its dtype's name."""

    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Slot:
    """One name the model's state_dict has.

    Attributes:
        name: The full dotted name.
        shape: The tensor's shape.
        dtype: The dtype's name (``float32``).
        optional: True when a state_dict may leave it out (the current value is kept).
        module: The path of the module that owns it (``""`` for the root, else ``"fc."``).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    optional: bool = False
    module: str = ""


@dataclass
class StateLayout:
    """The model side of a match.

    Attributes:
        slots: Every state_dict name, in PyTorch's load order.
        modules: Every module path (``""``, ``"fc."``, ...) in load order, a shared module under
            each of its paths.
        empty: Paths of child slots holding None; names under them are neither used nor flagged.
        ties: Groups of names reaching one tensor, canonical name first.
        ignore_missing: Patterns of names the model allows a state_dict to lack.
        ignore_unexpected: Patterns of extra names the model allows a state_dict to hold.
    """

    slots: list[Slot]
    modules: list[str] = field(default_factory=lambda: [""])
    empty: list[str] = field(default_factory=list)
    ties: list[list[str]] = field(default_factory=list)
    ignore_missing: tuple[re.Pattern[str], ...] = ()
    ignore_unexpected: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def from_module(cls, model: Any, ties: Iterable[Sequence[str]] | None = None) -> StateLayout:
        """The layout of a Module (a paramtool or a PyTorch one), without touching values.

        Args:
            model: The module.
            ties: Tie groups to use (default: names reaching the same Tensor object).
        """
        slots: list[Slot] = []
        modules: list[str] = []
        empty: list[str] = []
        objects: dict[int, list[str]] = {}
        for path, module in walk_modules(model, ""):
            if module is None:
                empty.append(path)
                continue
            modules.append(path)
            optional = getattr(module, "_optional_state", frozenset())
            for name, tensor in _own_state(module):
                slots.append(
                    Slot(path + name, _shape(tensor), _dtype(tensor.dtype), name in optional, path)
                )
                objects.setdefault(id(tensor), []).append(path + name)
        if ties is None:
            ties = [names for names in objects.values() if len(names) > 1]
        missing, unexpected = ignorable(type(model))
        return cls(slots, modules, empty, [list(g) for g in ties], missing, unexpected)

    @classmethod
    def flat(cls, rows: Iterable[Any], ties: Iterable[Sequence[str]] = ()) -> StateLayout:
        """The layout of a flat list of names (rows with name, shape, dtype), e.g. a checkpoint."""
        slots = [Slot(r.name, tuple(r.shape), str(r.dtype)) for r in rows]
        return cls(slots, ties=[list(g) for g in ties])


def ignorable(model_class: type) -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
    """The patterns of names a model class lets a state_dict lack, and hold in excess.

    This is the one place that decides it; every load and load check goes through here.

    Args:
        model_class: The model's class.

    Hugging Face's conventions: ``_keys_to_ignore_on_load_missing`` and
    ``_keys_to_ignore_on_load_unexpected`` are lists of regular expressions searched in each
    name (``r"position_ids"``); the names of ``_tied_weights_keys`` (a list, or a dict keyed by
    them) may be missing, since a tie fills them.

    Returns:
        ``(ignore_missing, ignore_unexpected)``, compiled regular expressions.

    Raises:
        ModelLoadError: a declared pattern is not a regular expression.
    """
    tied = getattr(model_class, "_tied_weights_keys", None) or ()
    exact = tuple(f"^{re.escape(name)}$" for name in tied if isinstance(name, str))
    missing = _declared(model_class, "_keys_to_ignore_on_load_missing") + exact
    unexpected = _declared(model_class, "_keys_to_ignore_on_load_unexpected")
    return _compiled(model_class, missing), _compiled(model_class, unexpected)


def _declared(model_class: type, attribute: str) -> tuple[str, ...]:
    patterns = getattr(model_class, attribute, None) or ()
    if isinstance(patterns, str):
        patterns = (patterns,)
    return tuple(patterns)


def _compiled(model_class: type, patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    try:
        return tuple(re.compile(p) for p in patterns)
    except (re.error, TypeError) as exc:
        raise ModelLoadError(
            f"{model_class.__name__}: a name pattern to ignore on load is not a regular "
            f"expression ({exc})"
        ) from None


@dataclass(frozen=True)
class Mismatch:
    """A name present on both sides whose shape or dtype differs."""

    name: str
    expected: Any
    found: Any

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "expected": _jsonable(self.expected),
            "found": _jsonable(self.found),
        }


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass
class LoadCheck:
    """How a state_dict fits a model: the result of :func:`match_state`.

    Attributes:
        matched: Names on both sides with equal shapes, in load order.
        missing: Names the model expects that the state_dict lacks (optional ones excepted).
        unexpected: Names of the state_dict the model does not have, in PyTorch's order.
        shape_mismatches: Names on both sides with different shapes (fatal even when not strict).
        dtype_mismatches: Names whose dtype differs (the values are cast on load).
        not_tensors: Names whose value in the state_dict is not a tensor (fatal).
        ties_restored: Tie groups of the model whose every name the state_dict fills.
        filled: Names the state_dict lacks, filled from a stored name of their tie group.
        ignored_missing: Missing names the model declares ignorable.
        ignored_unexpected: Unexpected names the model declares ignorable.
    """

    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatches: list[Mismatch] = field(default_factory=list)
    dtype_mismatches: list[Mismatch] = field(default_factory=list)
    not_tensors: list[str] = field(default_factory=list)
    ties_restored: list[list[str]] = field(default_factory=list)
    filled: dict[str, str] = field(default_factory=dict)
    ignored_missing: list[str] = field(default_factory=list)
    ignored_unexpected: list[str] = field(default_factory=list)

    def ok(self, strict: bool = True) -> bool:
        """True when loading would succeed (``strict``: no missing or unexpected names)."""
        if self.shape_mismatches or self.not_tensors:
            return False
        return not strict or not (self.missing or self.unexpected)

    def to_dict(self, strict: bool = True) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "ok": self.ok(strict),
            "strict": strict,
            "matched": self.matched,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "shape_mismatches": [m.to_dict() for m in self.shape_mismatches],
            "dtype_mismatches": [m.to_dict() for m in self.dtype_mismatches],
            "not_tensors": self.not_tensors,
            "ties_restored": self.ties_restored,
            "ignored_missing": self.ignored_missing,
            "ignored_unexpected": self.ignored_unexpected,
        }


def match_state(
    layout: StateLayout, found: Mapping[str, Found | None], fill_ties: bool = False
) -> LoadCheck:
    """Match a state_dict's names, shapes and dtypes against a model's layout.

    Args:
        layout: The model side.
        found: The state_dict side, name -> :class:`Found` (None: a value that is not a tensor).
        fill_ties: Let one stored name of a model tie group stand for its absent names, as a
            checkpoint that stores a tied tensor once (Hugging Face's ``save_pretrained``) needs.
            ``Module.load_state_dict`` does not (PyTorch's rule); loading a checkpoint does.

    Returns:
        The :class:`LoadCheck`; names keep PyTorch's order (missing in load order, unexpected
        by the module that meets them, then state_dict order).
    """
    check = LoadCheck()
    found = dict(found)
    if fill_ties:
        check.filled = tie_fills(layout.ties, found)
        found.update({name: found[stored] for name, stored in check.filled.items()})
    known = {slot.name for slot in layout.slots}
    for slot in layout.slots:
        _match_slot(slot, found, check)
    extra = [n for n in found if n not in known and n not in check.filled]
    extra = [n for n in extra if not any(n.startswith(path) for path in layout.empty)]
    check.unexpected = _in_module_order(extra, layout.modules)
    _drop_ignorable(check, layout)
    check.ties_restored = [
        list(g) for g in layout.ties if len(g) > 1 and all(n in found for n in g if n in known)
    ]
    return check


def _match_slot(slot: Slot, found: dict[str, Found | None], check: LoadCheck) -> None:
    if slot.name not in found:
        if not slot.optional:
            check.missing.append(slot.name)
        return
    value = found[slot.name]
    if value is None:
        check.not_tensors.append(slot.name)
        return
    shape = value.shape
    if slot.shape == () and shape == (1,):
        shape = ()  # a scalar saved as a 1-element vector
    if shape != slot.shape:
        check.shape_mismatches.append(Mismatch(slot.name, slot.shape, value.shape))
        return
    if value.dtype != slot.dtype:
        check.dtype_mismatches.append(Mismatch(slot.name, slot.dtype, value.dtype))
    check.matched.append(slot.name)


def tie_fills(ties: Iterable[Sequence[str]], found: Mapping[str, Any]) -> dict[str, str]:
    """The names of each tie group that ``found`` lacks, mapped to a member it holds.

    A checkpoint written by Hugging Face's ``save_pretrained`` stores a tied tensor once and
    records nothing about the names it dropped (GPT-2's ``lm_head.weight``).

    Args:
        ties: The model's tie groups.
        found: The state_dict (only its names are read).

    Returns:
        Absent name -> the stored name that stands for it.
    """
    filled: dict[str, str] = {}
    for group in ties:
        present = next((name for name in group if name in found), None)
        if present is None:
            continue
        filled.update({name: present for name in group if name not in found})
    return filled


def _in_module_order(names: list[str], modules: list[str]) -> list[str]:
    """Order names as PyTorch reports them: by the deepest module path holding each (at its
    first visit), then in state_dict order."""
    first: dict[str, int] = {}
    for i, path in enumerate(modules):
        first.setdefault(path, i)

    def owner(name: str) -> int:
        parts = name.split(".")[:-1]
        for depth in range(len(parts), 0, -1):
            index = first.get(".".join(parts[:depth]) + ".")
            if index is not None:
                return index
        return 0

    return sorted(names, key=owner)


def _drop_ignorable(check: LoadCheck, layout: StateLayout) -> None:
    """Move the names the model declares ignorable out of missing and unexpected."""
    for names, patterns, ignored in (
        (check.missing, layout.ignore_missing, check.ignored_missing),
        (check.unexpected, layout.ignore_unexpected, check.ignored_unexpected),
    ):
        if not patterns:
            continue
        ignored += [n for n in names if any(p.search(n) for p in patterns)]
        dropped = set(ignored)
        names[:] = [n for n in names if n not in dropped]


def walk_modules(module: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(path, module)`` for the module and every descendant, as ``load_state_dict`` visits
    them (a shared module under each path; an empty child slot as ``(path, None)``).

    Iterative, so a model thousands of modules deep is walked as any other.

    Raises:
        StateDictError: a module contains itself (its own ancestor), which no load can walk.
    """
    stack: list[tuple[str, Any, tuple[Any, ...] | None]] = [(path, module, None)]
    while stack:
        path, module, ancestors = stack.pop()
        yield path, module
        if module is None:
            continue
        chain = (module, ancestors)
        for name, child in reversed(module._modules.items()):
            if child is not None and _is_ancestor(child, chain):
                raise StateDictError(f"module {path}{name} contains itself")
            stack.append((f"{path}{name}.", child, chain))


def _is_ancestor(module: Any, chain: tuple[Any, ...] | None) -> bool:
    while chain is not None:
        if chain[0] is module:
            return True
        chain = chain[1]
    return False


def _own_state(module: Any) -> Iterator[tuple[str, Any]]:
    """A module's own parameters and persistent buffers that are not None."""
    yield from ((n, p) for n, p in module._parameters.items() if p is not None)
    skip = module._non_persistent_buffers_set
    yield from ((n, b) for n, b in module._buffers.items() if b is not None and n not in skip)


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor.shape)


def _dtype(dtype: Any) -> str:
    try:
        return dtype_name(np.dtype(dtype))
    except TypeError:  # a PyTorch dtype
        return str(dtype).removeprefix("torch.")


def found_of(value: Any) -> Found | None:
    """The :class:`Found` of a state_dict value (a tensor or array); None for anything else."""
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is None or dtype is None or isinstance(value, (str, bytes)):
        return None
    return Found(_shape(value), _dtype(dtype))
