"""The state_dict side of Module: saving (``state_dict``) and loading (``load_state_dict``).

A load is planned first: :class:`LoadPlan` walks the tree like PyTorch, collecting the missing
and unexpected keys, every size mismatch and the writes to make. Only when nothing is wrong are
the writes made, so a failed load leaves the model as it was. A tied parameter is written once,
with the value of its last name (PyTorch's result).
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from paramtool.core.autograd import no_grad
from paramtool.core.tensor import Size, Tensor, from_array
from paramtool.errors import StateDictError
from paramtool.nn.parameter import Parameter
from paramtool.nn.state_match import StateLayout, found_of, match_state, walk_modules

if TYPE_CHECKING:
    from paramtool.nn.module import Module


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys it did not find and those it did not use."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class StateDictMethods:
    """``state_dict`` and ``load_state_dict``, as :class:`~paramtool.nn.Module` has them."""

    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers_set: set[str]
    _modules: dict[str, Module | None]
    #: Own entries a state_dict may leave out; loading then keeps their current values.
    _optional_state: frozenset[str] = frozenset()

    # -- state_dict --------------------------------------------------------------------------

    def _save_to_state_dict(
        self, destination: dict[str, Any], prefix: str, keep_vars: bool
    ) -> None:
        """Put this module's own parameters and persistent buffers into ``destination``."""
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()

    def state_dict(
        self, destination: dict[str, Any] | None = None, prefix: str = "", keep_vars: bool = False
    ) -> dict[str, Tensor]:
        """The module's state by name: own parameters, own persistent buffers, then children.

        A tied parameter appears under every name it has. The values share storage with the
        model (they are ``.detach()``-ed views unless ``keep_vars``).

        Args:
            destination: A dict to fill and return (default: a new OrderedDict).
            prefix: Prepended to every key.
            keep_vars: Return the Parameter objects themselves instead of detached tensors.
        """
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=f"{prefix}{name}.",
                                  keep_vars=keep_vars)  # fmt: skip
        return destination

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        Everything is checked before anything is written, so a load that fails changes nothing.
        A tied parameter is written once, with the value of its last name, as PyTorch leaves it.

        Args:
            state_dict: Name -> Tensor (or numpy array), as :meth:`state_dict` gives.
            strict: Whether missing and unexpected keys are errors. A shape mismatch is an
                error either way.
            assign: Replace the tensors by the state_dict's own (keeping each parameter's
                ``requires_grad``) instead of copying values into them.

        Returns:
            ``_IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            TypeError: ``state_dict`` is not a mapping.
            StateDictError: (a ``RuntimeError``) with PyTorch's text, listing missing and
                unexpected keys (when strict) and every size mismatch.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        return load_state(self, state_dict, strict, assign)

    def _local_state(self) -> dict[str, Tensor]:
        """This module's own parameters and persistent buffers that are not None."""
        state: dict[str, Tensor] = {k: v for k, v in self._parameters.items() if v is not None}
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                state[name] = buf
        return state


def _quoted(keys: list[str]) -> str:
    return ", ".join(f'"{key}"' for key in keys)


def _as_tensor(value: Any) -> Tensor | None:
    """A state_dict value as a Tensor (arrays are wrapped without copying); None if neither."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        return from_array(value)
    return None


class LoadPlan:
    """The checks and writes of one load, found before anything is written.

    The names are matched by :func:`~paramtool.nn.state_match.match_state`, the routine every
    load and load check shares; the plan adds PyTorch's error text and the writes.

    Args:
        model: The module to load into.
        state_dict: Name -> Tensor or array.
        fill_ties: Let a stored name of a model tie group stand for its absent names.
        ties: The model's tie groups (default: names reaching one Tensor object).
    """

    def __init__(
        self,
        model: Module,
        state_dict: Mapping[str, Any],
        fill_ties: bool = False,
        ties: list[list[str]] | None = None,
    ) -> None:
        self.model = model
        self.sources = {name: _as_tensor(value) for name, value in state_dict.items()}
        self.types = {name: type(value) for name, value in state_dict.items()}
        layout = StateLayout.from_module(model, ties)
        self.order = [slot.name for slot in layout.slots]
        found = {name: found_of(t) if t is not None else None for name, t in self.sources.items()}
        self.result = match_state(layout, found, fill_ties=fill_ties)
        for name, stored in self.result.filled.items():
            self.sources[name] = self.sources[stored]

    @property
    def missing_keys(self) -> list[str]:
        """The names the model expects that the state_dict lacks."""
        return self.result.missing

    @property
    def unexpected_keys(self) -> list[str]:
        """The names of the state_dict the model does not have."""
        return self.result.unexpected

    def check(self, strict: bool) -> None:
        """Raise PyTorch's error listing every problem found, if there is one.

        Args:
            strict: Whether missing and unexpected keys count as problems.

        Raises:
            StateDictError: with PyTorch's text (missing keys, unexpected keys, then the rest).
        """
        result = self.result
        bad = {m.name: m for m in result.shape_mismatches}
        errors = []
        not_tensors = set(result.not_tensors)
        for name in (n for n in self.order if n in bad or n in not_tensors):
            if name in bad:
                errors.append(
                    f"size mismatch for {name}: copying a param with shape "
                    f"{Size(bad[name].found)} from checkpoint, the shape in current model is "
                    f"{Size(bad[name].expected)}."
                )
            else:
                errors.append(
                    f'While copying the parameter named "{name}", expected paramtool.Tensor or '
                    f"Tensor-like object from checkpoint but received {self.types[name]}"
                )
        if strict and result.unexpected:
            errors.insert(0, f"Unexpected key(s) in state_dict: {_quoted(result.unexpected)}. ")
        if strict and result.missing:
            errors.insert(0, f"Missing key(s) in state_dict: {_quoted(result.missing)}. ")
        if errors:
            heading = f"Error(s) in loading state_dict for {type(self.model).__name__}:"
            raise StateDictError(heading, *errors)

    def apply(self, assign: bool) -> None:
        """Write the checked values: copy into each tensor once, or assign the sources.

        A tie is written once, with the value of its last name: PyTorch's result.
        """
        writes: dict[int, tuple[Tensor, Tensor, list[tuple[Module, str]]]] = {}
        for path, module in walk_modules(self.model, ""):
            if module is None:
                continue
            for name, target in module._local_state().items():
                source = self.sources.get(path + name)
                if path + name not in self.result.matched or source is None:
                    continue
                if target.ndim == 0 and tuple(source.shape) == (1,):
                    source = source[0]  # a scalar saved as a 1-element vector
                slots = writes[id(target)][2] if id(target) in writes else []
                writes[id(target)] = (target, source, [*slots, (module, name)])
        for target, source, slots in writes.values():
            if not assign:
                with no_grad():  # loading is not part of any graph (as in PyTorch)
                    target.copy_(source)
                continue
            if isinstance(target, Parameter):
                source = Parameter(source, requires_grad=target.requires_grad)
            for module, name in slots:
                setattr(module, name, source)


def load_state(
    model: Module,
    state_dict: Mapping[str, Any],
    strict: bool = True,
    assign: bool = False,
    fill_ties: bool = False,
    ties: list[list[str]] | None = None,
) -> _IncompatibleKeys:
    """Check a whole state_dict against ``model``, then write it (nothing written on failure).

    ``Module.load_state_dict`` is this with PyTorch's rules; loading a checkpoint adds
    ``fill_ties`` for files that store a tied tensor once.

    Args:
        model: The module to load into.
        state_dict: Name -> Tensor (or array).
        strict: Whether missing and unexpected keys are errors.
        assign: Replace tensors instead of copying into them.
        fill_ties: Let a stored name of a model tie group stand for its absent names.
        ties: The model's tie groups (default: names reaching one Tensor object).

    Returns:
        ``_IncompatibleKeys(missing_keys, unexpected_keys)``.

    Raises:
        TypeError: ``state_dict`` is not a mapping.
        StateDictError: the state_dict does not fit (PyTorch's text).
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
    plan = LoadPlan(model, state_dict, fill_ties, ties)
    plan.check(strict)
    plan.apply(assign)
    return _IncompatibleKeys(plan.missing_keys, plan.unexpected_keys)
