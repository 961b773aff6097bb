"""``torch.nn.utils.parametrize``: a tensor computed from stored originals by small modules.

:func:`register_parametrization` moves ``module.<name>`` into
``module.parametrizations.<name>`` (a :class:`ParametrizationList`) as ``original`` (or
``original0``, ``original1``, ... when the parametrization's ``right_inverse`` returns several
tensors), and turns the module's class into ``Parametrized<Class>`` whose ``<name>`` property
computes the parametrized value, as PyTorch does; names, order and repr are PyTorch's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from paramtool.core.tensor import Tensor
from paramtool.nn.containers import ModuleDict, ModuleList
from paramtool.nn.module import Module
from paramtool.nn.parameter import Parameter


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, holding its original(s)."""

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False) -> None:
        super().__init__(modules)
        self.unsafe = unsafe
        new: Any = original
        for module in reversed(list(self)):
            if hasattr(module, "right_inverse"):
                new = module.right_inverse(new)
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if new is not original:
                original.data = new.data
            _register(self, "original", original)
            return
        for i, tensor in enumerate(new):
            if isinstance(original, Parameter):
                tensor = Parameter(tensor.data, original.requires_grad)
            _register(self, f"original{i}", tensor)

    def forward(self) -> Tensor:
        """The parametrized tensor: the originals through each parametrization in order."""
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in list(self)[1:]:
            x = module(x)
        return x


def _register(owner: Module, name: str, tensor: Tensor) -> None:
    if isinstance(tensor, Parameter):
        owner.register_parameter(name, tensor)
    else:
        owner.register_buffer(name, tensor)


def register_parametrization(
    module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False
) -> Module:
    """Parametrize ``module.<tensor_name>`` by ``parametrization`` (PyTorch's names and order).

    Returns:
        ``module``, changed in place.
    """
    if is_parametrized(module, tensor_name):
        module.parametrizations[tensor_name].append(parametrization)
        return module
    if tensor_name not in module._parameters and tensor_name not in module._buffers:
        raise ValueError(
            f"Module '{module}' does not have a parameter, a buffer, or a parametrized element "
            f"with name '{tensor_name}'"
        )
    original = getattr(module, tensor_name)
    parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if not is_parametrized(module):
        _inject_new_class(module)
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = parametrizations
    _inject_property(module, tensor_name)
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` (or its ``tensor_name``) has a parametrization."""
    parametrizations = module._modules.get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return tensor_name is None or tensor_name in parametrizations


def type_before_parametrizations(module: Module) -> type:
    """The module's class before :func:`register_parametrization` changed it."""
    cls = type(module)
    return cls.__bases__[0] if is_parametrized(module) else cls


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """``parametrize.cached()``: accepted; values are recomputed on each access."""
    yield


def _inject_new_class(module: Module) -> None:
    cls = type(module)
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {})


def _inject_property(module: Module, tensor_name: str) -> None:
    def get(self: Module) -> Tensor:
        return self.parametrizations[tensor_name]()

    setattr(type(module), tensor_name, property(get))
