"""Module: the base class of every layer and model, with ``torch.nn.Module``'s semantics.

A Module keeps three registries, filled on attribute assignment: ``_parameters`` (Parameter
values), ``_buffers`` (tensors registered with :meth:`Module.register_buffer`) and ``_modules``
(child modules). A plain Tensor assigned as an attribute is NOT registered. Every ``named_*``
method walks the tree through one helper, :meth:`Module._named_members`, which deduplicates by
identity, so a tied parameter is listed once, under its first (canonical) name.

Error classes and texts are PyTorch's, with ``paramtool`` written where PyTorch writes ``torch``
(``paramtool.Size([3, 4])``, ``paramtool.nn.Parameter``, ``paramtool.FloatTensor``).
``load_state_dict`` validates the whole state_dict before it changes anything, so a failed load
leaves the model as it was.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np

from paramtool.dtypes import dtype_name, is_floating_point
from paramtool.nn.parameter import Buffer, Parameter
from paramtool.tensor import Size, Tensor, from_array, parse_to_args

M = TypeVar("M", bound="Module")

#: PyTorch's legacy tensor type names, for dtypes that have one (``float32`` -> ``Float``).
_LEGACY_TYPE_STEMS = {
    "float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
    "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
    "bool": "Bool", "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64",
}  # fmt: skip


def tensor_type_name(tensor: Tensor) -> str:
    """PyTorch's ``Tensor.type()`` string: ``paramtool.FloatTensor``, ``paramtool.cuda.HalfTensor``."""
    name = dtype_name(tensor.dtype)
    stem = _LEGACY_TYPE_STEMS.get(name, name[:1].upper() + name[1:])
    where = ".cuda" if tensor.device.type == "cuda" else ""
    return f"paramtool{where}.{stem}Tensor"


def typename(obj: object) -> str:
    """The type of ``obj`` as ``torch.typename`` writes it (used in error messages).

    Args:
        obj: Any object; a Tensor gives its legacy type name, a builtin its bare name.

    Returns:
        ``"paramtool.FloatTensor"``, ``"int"``, ``"package.module.Class"``, ...
    """
    if isinstance(obj, Tensor):
        return tensor_type_name(obj)
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = type(obj).__module__ or ""
        qualname = type(obj).__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys it did not find and those it did not use."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


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


class Module:
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

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

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
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name(self, name, "buffer", self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{typename(tensor)}' object to buffer '{name}' "
                "(paramtool Tensor or None required)"
            )
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
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name(self, name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{typename(param)}' object to parameter '{name}' "
                "(paramtool.nn.Parameter or None required)"
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
        A tied parameter is written once.

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
        plan = _LoadPlan()
        plan.visit(self, dict(state_dict), "")
        errors = list(plan.errors)
        if strict and plan.unexpected_keys:
            errors.insert(0, f"Unexpected key(s) in state_dict: {_quoted(plan.unexpected_keys)}. ")
        if strict and plan.missing_keys:
            errors.insert(0, f"Missing key(s) in state_dict: {_quoted(plan.missing_keys)}. ")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        plan.apply(assign)
        return _IncompatibleKeys(plan.missing_keys, plan.unexpected_keys)

    def _local_state(self) -> dict[str, Tensor]:
        """This module's own parameters and persistent buffers that are not None."""
        state: dict[str, Tensor] = {k: v for k, v in self._parameters.items() if v is not None}
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                state[name] = buf
        return state

    # -- conversion --------------------------------------------------------------------------

    def apply(self: M, fn: Callable[[Module], None]) -> M:
        """Call ``fn`` on every submodule (children first, recursively), then on self.

        Example:
            >>> model.apply(lambda m: init.zeros_(m.bias) if isinstance(m, nn.Linear) else None)
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply(self: M, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> M:
        """Convert every parameter and buffer with ``fn``, each tensor once (ties stay tied).

        A parameter keeps its identity (``param.data = fn(param)``); a buffer is replaced.
        """
        done: dict[int, tuple[Tensor, Tensor]] = {}  # id -> (original kept alive, converted)
        modules = list(self.modules()) if recurse else [self]
        for module in reversed(modules):
            for param in module._parameters.values():
                if param is not None and id(param) not in done:
                    done[id(param)] = (param, param)
                    param.data = fn(param)
            for name, buf in module._buffers.items():
                if buf is not None:
                    if id(buf) not in done:
                        done[id(buf)] = (buf, fn(buf))
                    module._buffers[name] = done[id(buf)][1]
        return self

    def to(self: M, *args: Any, **kwargs: Any) -> M:
        """Move and/or cast parameters and buffers in place: ``to(device)``, ``to(dtype)``,
        ``to(tensor)``, ``to(device, dtype)``. A dtype applies to floating-point tensors only.

        Raises:
            TypeError: the dtype is not a floating-point dtype.
        """
        device, dtype = parse_to_args(*args, **kwargs)
        if dtype is not None and not is_floating_point(dtype):
            raise TypeError(
                "nn.Module.to only accepts floating point or complex dtypes, "
                f"but got desired dtype=paramtool.{dtype_name(dtype)}"
            )
        return self._apply(
            lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None)
        )

    def cpu(self: M) -> M:
        """Move every parameter and buffer to the cpu."""
        return self._apply(lambda t: t.cpu())

    def cuda(self: M, device: int | str | None = None) -> M:
        """Move every parameter and buffer to a CUDA device (default the current one)."""
        return self._apply(lambda t: t.cuda(device))

    def _cast_floating(self: M, dtype: str) -> M:
        return self._apply(lambda t: t.to(dtype=dtype) if t.is_floating_point() else t)

    def float(self: M) -> M:
        """Cast floating-point parameters and buffers to float32."""
        return self._cast_floating("float32")

    def double(self: M) -> M:
        """Cast floating-point parameters and buffers to float64."""
        return self._cast_floating("float64")

    def half(self: M) -> M:
        """Cast floating-point parameters and buffers to float16."""
        return self._cast_floating("float16")

    def bfloat16(self: M) -> M:
        """Cast floating-point parameters and buffers to bfloat16."""
        return self._cast_floating("bfloat16")

    def materialize(self: M, seed: int | None = None) -> M:
        """Make every deferred parameter and buffer real, in place.

        Each tensor's values come from the stream of its canonical name (its first name in
        :meth:`named_parameters` / :meth:`named_buffers`) and ``seed``, so they do not depend
        on which tensors are materialised or in what order. A tied tensor is materialised once.

        Args:
            seed: The seed; default the global one (``paramtool.manual_seed``).
        """
        for name, tensor in (*self.named_parameters(), *self.named_buffers()):
            tensor.materialize(name=name, seed=seed)
        return self

    # -- modes and gradients -----------------------------------------------------------------

    def train(self: M, mode: bool = True) -> M:
        """Set training mode on this module and every submodule.

        Raises:
            ValueError: ``mode`` is not a bool.
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self: M) -> M:
        """Set evaluation mode (``train(False)``)."""
        return self.train(False)

    def requires_grad_(self: M, requires_grad: bool = True) -> M:
        """Set ``requires_grad`` on every parameter (freeze with ``False``)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to None, or to zeros)."""
        for param in self.parameters():
            if param.grad is not None:
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.zero_()

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


def _quoted(keys: list[str]) -> str:
    return ", ".join(f'"{key}"' for key in keys)


def _as_tensor(value: Any) -> Tensor | None:
    """A state_dict value as a Tensor (arrays are wrapped without copying); None if neither."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        return from_array(value)
    return None


class _LoadPlan:
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
        entry = self.writes.setdefault(id(target), (target, source, []))
        entry[2].append((module, name))

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
