"""Module: the base class of every layer and model, with ``torch.nn.Module``'s semantics.

A Module keeps three registries, filled on attribute assignment: ``_parameters`` (Parameter
values), ``_buffers`` (tensors registered with :meth:`Module.register_buffer`) and ``_modules``
(child modules). A plain Tensor assigned as an attribute is NOT registered. Every ``named_*``
method walks the tree through one helper, :meth:`Module._named_members`, which deduplicates by
identity, so a tied parameter is listed once, under its first (canonical) name.

Error classes and texts are PyTorch's, with ``paramtool`` written where PyTorch writes ``torch``
(``paramtool.Size([3, 4])``, ``paramtool.nn.Parameter``, ``paramtool.FloatTensor``).
Module inherits ``state_dict``/``load_state_dict`` from ``paramtool.nn._loading`` and the
conversions that act on the whole tree (``to``, ``half``, ``materialize``, ``train``, ...) from
``paramtool.nn._conversion``, and its hooks and call path (``__call__``) from
``paramtool.nn.hooks``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from paramtool.core.tensor import Tensor
from paramtool.core.type_names import typename
from paramtool.nn._conversion import ConversionMethods
from paramtool.nn._loading import StateDictMethods
from paramtool.nn.hooks import (  # noqa: F401 - the global hooks live in torch.nn.modules.module
    HookMethods,
    register_module_forward_hook,
    register_module_forward_pre_hook,
    register_module_full_backward_hook,
    register_module_full_backward_pre_hook,
)
from paramtool.nn.parameter import Buffer, Parameter


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first by ``spaces`` (blank lines stay empty)."""
    first, *rest = text.split("\n")
    if not rest:
        return text
    return "\n".join([first, *((" " * spaces + line) if line.strip() else "" for line in rest)])


def _forward_unimplemented(self: Module, *args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError(
        f'Module [{type(self).__name__}] is missing the required "forward" function'
    )


class Module(StateDictMethods, ConversionMethods, HookMethods):
    """Base class of all neural network modules (``torch.nn.Module``).

    Subclass it, call ``super().__init__()`` first, then assign Parameters, buffers and child
    modules as attributes; they are registered under the attribute's name.

    Example:
        >>> class Net(Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.scale = Parameter(paramtool.ones(3))
        >>> [name for name, _ in Net().named_parameters()]
        ['scale']
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers_set: set[str]
    _modules: dict[str, Module | None]

    forward: Callable[..., Any] = _forward_unimplemented

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                f"'{next(iter(kwargs))}'"
            )
        if args:
            raise TypeError(
                f"{type(self).__name__}.__init__() takes 1 positional argument but "
                f"{len(args) + 1} were given"
            )
        for name, value in (("training", True), ("_parameters", {}), ("_buffers", {}),
                            ("_non_persistent_buffers_set", set()), ("_modules", {})):  # fmt: skip
            object.__setattr__(self, name, value)
        self._init_hooks()

    # -- registration ------------------------------------------------------------------------

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state that is not a parameter (e.g. BatchNorm's ``running_mean``).

        Args:
            name: The attribute name of the buffer.
            tensor: The tensor, or None (then the buffer is skipped by conversions and
                the state_dict).
            persistent: Whether the buffer is part of the module's state_dict.

        Raises:
            AttributeError: called before ``Module.__init__()``.
            TypeError: the name is not a string, or the value is not a Tensor or None.
            KeyError: the name is empty, contains ".", or is taken by another attribute.
        """
        _check_entry(self, "_buffers", "buffer", name, tensor, Tensor, "paramtool Tensor")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter, reachable as an attribute under ``name``.

        Args:
            name: The attribute name of the parameter.
            param: A Parameter, or None (then it is skipped by conversions and the state_dict).

        Raises:
            AttributeError: called before ``Module.__init__()``.
            TypeError: the name is not a string, or the value is not a Parameter or None.
            KeyError: the name is empty, contains ".", or is taken by another attribute.
        """
        _check_entry(
            self, "_parameters", "parameter", name, param, Parameter, "paramtool.nn.Parameter"
        )
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module, reachable as an attribute under ``name``.

        Raises:
            TypeError: ``module`` is not a Module (or None), or the name is not a string.
            KeyError: the name is taken by another attribute, contains ".", or is empty.
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    def register_module(self, name: str, module: Module | None) -> None:
        """Alias of :meth:`add_module`."""
        self.add_module(name, module)

    def __getattr__(self, name: str) -> Any:
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        modules = self.__dict__.get("_modules")
        buffers = self.__dict__.get("_buffers")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{typename(value)}' as parameter '{name}' "
                    "(paramtool.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            modules[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{typename(value)}' as child module '{name}' "
                    "(paramtool.nn.Module or None expected)"
                )
            modules[name] = value
        elif isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{typename(value)}' as buffer '{name}' "
                    "(paramtool.nn.Buffer, paramtool.Tensor or None expected)"
                )
            if isinstance(value, Buffer):
                persistent = value.persistent
            else:
                persistent = name not in self._non_persistent_buffers_set
            self.register_buffer(name, value, persistent)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Remove ``name`` from the instance dict and every registry but ``keep``."""
        self.__dict__.pop(name, None)
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry != keep:
                self.__dict__[registry].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = [*dir(type(self)), *self.__dict__, *self._parameters, *self._modules, *self._buffers]
        return sorted(key for key in keys if not key[0].isdigit())

    # -- traversal ---------------------------------------------------------------------------

    def _named_members(
        self,
        get_members: Callable[[Module], Any],
        prefix: str = "",
        recurse: bool = True,
        remove_duplicate: bool = True,
    ) -> Iterator[tuple[str, Any]]:
        """Yield ``(qualified name, member)`` over the tree, each object once unless told not."""
        memo: set[int] = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None or id(value) in memo:
                    continue
                if remove_duplicate:
                    memo.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Yield ``(name, parameter)``: own parameters first, then each child's, in order.

        Args:
            prefix: Prepended (with ".") to every name.
            recurse: Include the parameters of submodules.
            remove_duplicate: List a tied parameter once, under its first name.
        """
        yield from self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yield every parameter once (see :meth:`named_parameters`)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(name, buffer)``, persistent or not, in the order of :meth:`named_parameters`."""
        yield from self._named_members(
            lambda m: m._buffers.items(), prefix, recurse, remove_duplicate
        )

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yield every buffer once."""
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, child)`` for the immediate children, each module once."""
        memo: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """Yield the immediate children, each once."""
        for _, module in self.named_children():
            yield module

    def named_modules(
        self, memo: set[Module] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for this module (name ``prefix``) and all below, depth first.

        Args:
            memo: Modules already yielded (shared across the recursion).
            prefix: The name of this module.
            remove_duplicate: Yield a module reached by several paths once.
        """
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(
                    memo, f"{prefix}.{name}" if prefix else name, remove_duplicate
                )

    def modules(self, remove_duplicate: bool = True) -> Iterator[Module]:
        """Yield this module and every module below it, each once."""
        for _, module in self.named_modules(remove_duplicate=remove_duplicate):
            yield module

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path (``"encoder.layers.0"``); ``""`` is self.

        Raises:
            AttributeError: a step of the path does not exist or is not a Module.
        """
        module = self
        for item in target.split(".") if target else []:
            if not hasattr(module, item):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (``"encoder.0.weight"``).

        Raises:
            AttributeError: the path does not exist or does not end at a Parameter.
        """
        value = self._get_attribute(target)
        if not isinstance(value, Parameter):
            raise AttributeError(f"`{target.rpartition('.')[2]}` is not an nn.Parameter")
        return value

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at a dotted path (``"bn.running_mean"``).

        Raises:
            AttributeError: the path does not exist or does not end at a buffer.
        """
        module_path, _, name = target.rpartition(".")
        value = self._get_attribute(target)
        if name not in self.get_submodule(module_path)._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return value

    def _get_attribute(self, target: str) -> Any:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        return getattr(module, name)

    # -- printing ----------------------------------------------------------------------------

    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The module's own settings for ``repr`` (one or several lines); override it."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): {_addindent(repr(module), 2)}" for name, module in self._modules.items()
        ]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


def _check_entry(
    module: Module, registry: str, kind: str, name: Any, value: Any, cls: type, required: str
) -> None:
    """PyTorch's checks, in its order, before ``value`` is registered as a parameter or buffer."""
    if registry not in module.__dict__:
        raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
    _check_name(module, name, kind, module.__dict__[registry])
    if value is not None and not isinstance(value, cls):
        raise TypeError(
            f"cannot assign '{typename(value)}' object to {kind} '{name}' "
            f"({required} or None required)"
        )


def _check_name(module: Module, name: Any, kind: str, registry: dict[str, Any]) -> None:
    """PyTorch's checks, in its order, on the name of a parameter or buffer."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {typename(name)}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain "."')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if hasattr(module, name) and name not in registry:
        raise KeyError(f"attribute '{name}' already exists")
