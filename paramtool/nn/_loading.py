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

from paramtool.core.tensor import Size, Tensor, from_array
from paramtool.nn.parameter import Parameter

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
            RuntimeError: with PyTorch's text, listing missing/unexpected keys (when strict)
                and every size mismatch.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        plan = LoadPlan()
        plan.visit(self, dict(state_dict), "")
        plan.check(type(self).__name__, strict)
        plan.apply(assign)
        return _IncompatibleKeys(plan.missing_keys, plan.unexpected_keys)

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
    """The checks and writes of one ``load_state_dict`` call, found before anything is written.

    Walks the tree like PyTorch (each module sees the keys under its prefix), so the missing
    and unexpected keys come out in PyTorch's order.
    """

    def __init__(self) -> None:
        self.missing_keys: list[str] = []
        self.unexpected_keys: list[str] = []
        self.errors: list[str] = []
        # id(target) -> (target, source, [(module, attribute name), ...]); a tie is one entry.
        self.writes: dict[int, tuple[Tensor, Tensor, list[tuple[Module, str]]]] = {}

    def visit(self, module: Module, state_dict: dict[str, Any], prefix: str) -> None:
        """Check ``module``'s own entries, then each child's with the keys under its prefix."""
        local = module._local_state()
        for name, target in local.items():
            self._check_entry(module, name, target, state_dict, prefix + name)
        for key in state_dict:
            head, dot, _ = key[len(prefix) :].partition(".")
            if (dot and head not in module._modules) or (not dot and head not in local):
                self.unexpected_keys.append(key)
        for name, child in module._modules.items():
            if child is not None:
                child_prefix = f"{prefix}{name}."
                keys = {k: v for k, v in state_dict.items() if k.startswith(child_prefix)}
                self.visit(child, keys, child_prefix)

    def _check_entry(
        self, module: Module, name: str, target: Tensor, state_dict: dict[str, Any], key: str
    ) -> None:
        if key not in state_dict:
            if name not in module._optional_state:
                self.missing_keys.append(key)
            return
        source = _as_tensor(state_dict[key])
        if source is None:
            self.errors.append(
                f'While copying the parameter named "{key}", expected paramtool.Tensor or '
                f"Tensor-like object from checkpoint but received {type(state_dict[key])}"
            )
            return
        if target.ndim == 0 and tuple(source.shape) == (1,):
            source = source[0]  # a scalar saved as a 1-element vector
        if tuple(source.shape) != tuple(target.shape):
            self.errors.append(
                f"size mismatch for {key}: copying a param with shape {Size(source.shape)} from "
                f"checkpoint, the shape in current model is {target.shape}."
            )
            return
        # A tie is written once, with the value of its last name: PyTorch's result.
        slots = self.writes[id(target)][2] if id(target) in self.writes else []
        self.writes[id(target)] = (target, source, [*slots, (module, name)])

    def check(self, model_name: str, strict: bool) -> None:
        """Raise PyTorch's error listing every problem found, if there is one.

        Args:
            model_name: The class name of the module being loaded.
            strict: Whether missing and unexpected keys count as problems.

        Raises:
            RuntimeError: with PyTorch's text (missing keys, unexpected keys, then the rest).
        """
        errors = list(self.errors)
        if strict and self.unexpected_keys:
            errors.insert(0, f"Unexpected key(s) in state_dict: {_quoted(self.unexpected_keys)}. ")
        if strict and self.missing_keys:
            errors.insert(0, f"Missing key(s) in state_dict: {_quoted(self.missing_keys)}. ")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {model_name}:\n\t" + "\n\t".join(errors)
            )

    def apply(self, assign: bool) -> None:
        """Write the checked values: copy into each target once, or assign the sources."""
        for target, source, slots in self.writes.values():
            if not assign:
                target.copy_(source)
                continue
            if isinstance(target, Parameter):
                source = Parameter(source, requires_grad=target.requires_grad)
            for module, name in slots:
                setattr(module, name, source)
