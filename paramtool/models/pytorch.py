"""Real PyTorch modules as paramtool models: a deferred mirror of a ``torch.nn.Module``.

A model that only PyTorch can build (torchvision, timm, transformers internals) is built on the
meta device, where no tensor holds memory, and mirrored here into a tree of paramtool Modules:

* every module of the torch tree has a twin at the same place, under the same child name;
* every parameter and buffer has a deferred twin with the same name, shape, dtype and
  ``requires_grad``, registered in the same order (buffers keep their persistence), so the
  mirror's ``state_dict`` lists PyTorch's names in PyTorch's order;
* a tensor (or module) reached by several names in torch is one object in the mirror, so ties
  are found by identity exactly as PyTorch's ``named_parameters`` finds them.

Values come from paramtool's recipes. A module whose type is one of ``torch.nn``'s layers
(also through a subclass that does not redefine its initialisation) becomes an instance of
paramtool's layer of that name and gets that layer's default initialisation
(``reset_parameters``); everything else (e.g. a model's own ``LayerScale``) is mirrored by a
:class:`TorchModule` whose tensors have no default values: making them real under the
``default`` scheme is an :class:`~paramtool.errors.InitError` naming the type and its
parameters, while any named scheme or rule gives them values. Buffers of such modules (built on
meta, their values were never computed) cannot be exported unless they stay out of the
state_dict (non-persistent), as rotary tables and causal masks usually are.

Which types become paramtool layers, and the recipes of the others' tensors, are
:mod:`paramtool.models.torch_defaults`'s. PyTorch is imported only when this path is used.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from paramtool.core.recipes import Recipe
from paramtool.core.tensor import Tensor
from paramtool.errors import ModelLoadError
from paramtool.models.torch_defaults import (
    _name_every_type_without_defaults,
    _no_default,
    _reset,
    _unknown_buffer,
    paramtool_layer,
    qualified_name,
    torch_dtype,
)
from paramtool.nn.module import Module
from paramtool.nn.parameter import Parameter

#: What to install for the PyTorch path.
INSTALL_TORCH = "pip install torch"
#: Class attributes by which a transformers model declares names a checkpoint may lack or add.
_LOAD_CONVENTIONS = (
    "_keys_to_ignore_on_load_missing",
    "_keys_to_ignore_on_load_unexpected",
    "_tied_weights_keys",
)
#: Attribute values copied from a torch layer onto its paramtool twin.
_PLAIN = (int, float, str, bool, type(None))


def import_torch(purpose: str = "this model") -> ModuleType:
    """Import PyTorch, or fail with one line saying what to install.

    Args:
        purpose: What needs PyTorch, for the message (``"--torch pytorch"``).

    Raises:
        ModelLoadError: PyTorch is not installed.
    """
    try:
        import torch  # noqa: PLC0415 - imported only on the PyTorch path
    except ImportError as exc:
        raise ModelLoadError(f"{purpose} needs PyTorch, not installed: {INSTALL_TORCH}") from exc
    except Exception as exc:  # a broken install (missing shared libraries, ...)
        raise ModelLoadError(f"{purpose} needs PyTorch, which failed to import: {exc}") from exc
    return torch


def torch_installed() -> bool:
    """True when PyTorch can be imported (without importing it)."""
    import importlib.util  # noqa: PLC0415

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a ``torch`` in sys.modules without a spec
        return False


def is_torch_module_class(cls: type) -> bool:
    """True for ``torch.nn.Module`` itself (without importing PyTorch)."""
    return cls.__name__ == "Module" and cls.__module__ == "torch.nn.modules.module"


def is_torch_module(value: Any) -> bool:
    """True when ``value`` is a ``torch.nn.Module`` (without importing PyTorch)."""
    return any(is_torch_module_class(cls) for cls in type(value).__mro__)


@contextlib.contextmanager
def on_meta(purpose: str = "this model") -> Iterator[Any]:
    """Build torch modules on the meta device: shapes and dtypes, no memory, no values.

    Raises:
        ModelLoadError: PyTorch is not installed (``purpose`` says what needed it).
    """
    torch = import_torch(purpose)
    with torch.device("meta"):
        yield torch


# -- the mirror ----------------------------------------------------------------------------


class TorchModule(Module):
    """The twin of a torch module whose type paramtool does not know.

    Holds the same parameters, buffers and children; ``forward`` is PyTorch's and is not
    available. The twin's class is named after the torch class (``LayerScale``).
    """

    #: The torch class, qualified (``timm.layers.layer_scale.LayerScale``).
    torch_type: str = ""
    #: What the torch module's own ``extra_repr`` gave, so ``repr`` reads as PyTorch's.
    torch_extra_repr: str = ""
    #: The torch module's whole ``repr``, when its class defines its own ``__repr__``.
    torch_repr: str | None = None

    def extra_repr(self) -> str:
        return self.torch_extra_repr

    def __repr__(self) -> str:
        return self.torch_repr if self.torch_repr is not None else super().__repr__()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Not available: the computation of a PyTorch-only module is PyTorch's.

        Raises:
            ModelLoadError: always (a limit of the model, not a bug: one line at the CLI).
        """
        raise ModelLoadError(
            f"{self.torch_type}: the forward pass of a module PyTorch built is PyTorch's code, "
            "which paramtool does not run; use a model file paramtool's core runs"
        )


_MIRROR_CLASSES: dict[type, type[TorchModule]] = {}


def _mirror_class(cls: type) -> type[TorchModule]:
    """A TorchModule subclass named as ``cls``, one per torch class."""
    if cls not in _MIRROR_CLASSES:
        attrs = {"torch_type": qualified_name(cls), "__module__": __name__}
        for name in _LOAD_CONVENTIONS:  # Hugging Face's names a checkpoint may lack or add
            value = getattr(cls, name, None)
            if value and _is_plain(value):
                attrs[name] = value
        _MIRROR_CLASSES[cls] = type(cls.__name__, (TorchModule,), attrs)
    return _MIRROR_CLASSES[cls]


def to_paramtool(module: Any) -> Module:
    """The deferred paramtool mirror of a torch module (see the module docs).

    Args:
        module: A ``torch.nn.Module``, typically built on the meta device.

    Returns:
        A paramtool Module with the same names, shapes, dtypes, persistence, ``requires_grad``
        and ties; no tensor is allocated.

    Raises:
        DTypeError: a tensor has a dtype paramtool cannot hold (e.g. complex).
        ModelLoadError: ``module`` is not a torch module.
    """
    if not is_torch_module(module):
        raise ModelLoadError(f"expected a torch.nn.Module, got {type(module).__name__}")
    mirror = _Mirror().module(module, "")
    _name_every_type_without_defaults(mirror)
    return mirror


class _Mirror:
    """One mirroring pass: the twins made so far, by the torch object's identity."""

    def __init__(self) -> None:
        self.modules: dict[int, Module] = {}
        self.tensors: dict[int, Tensor] = {}
        self.made: dict[int, int] = {}  # id of a twin tensor -> the order it was made in
        self.keep: list[Any] = []  # holds the torch objects so their ids stay unique

    def module(self, source: Any, path: str) -> Module:
        if id(source) in self.modules:
            return self.modules[id(source)]
        self.keep.append(source)
        layer = paramtool_layer(type(source))
        twin = _blank(layer or _mirror_class(type(source)), source)
        if layer is None:
            twin.torch_extra_repr, twin.torch_repr = _reprs(source)
        self.modules[id(source)] = twin
        start = len(self.tensors)  # tensors made before are owned by a module met before
        self.own_tensors(source, twin, path)
        for name, child in source._modules.items():
            sub = f"{path}.{name}" if path else name
            twin._modules[name] = None if child is None else self.module(child, sub)
        if layer is not None:
            _reset(twin, [t for t in _tensors(twin) if self.made[id(t)] < start])
        return twin

    def own_tensors(self, source: Any, twin: Module, path: str) -> None:
        """Register twins of ``source``'s own parameters and buffers, in their order."""
        torch_type = qualified_name(type(source))
        prefix = f"{path}." if path else ""
        params = [n for n, p in source._parameters.items() if p is not None]
        default = _no_default(path, torch_type, params)
        for name, param in source._parameters.items():
            made = None if param is None else self.tensor(param, default, prefix + name)
            twin._parameters[name] = made  # type: ignore[assignment]
        for name, buffer in source._buffers.items():
            unknown = _unknown_buffer(path, name, torch_type)
            twin._buffers[name] = None if buffer is None else self.tensor(buffer, unknown, None)
        twin._non_persistent_buffers_set = set(source._non_persistent_buffers_set)

    def tensor(self, source: Any, recipe: Recipe, parameter: str | None) -> Tensor:
        """The twin of a torch tensor (``parameter``: its name, when it is a parameter)."""
        if id(source) in self.tensors:
            return self.tensors[id(source)]
        if type(source).__name__.startswith("Uninitialized"):
            raise ModelLoadError(
                f"{parameter or 'a buffer'}: a lazy module's tensor has no shape until the model "
                "runs once; give the lazy layer its input size (Linear instead of LazyLinear)"
            )
        self.keep.append(source)
        tensor = Tensor._deferred(tuple(source.shape), recipe, torch_dtype(source.dtype))
        if parameter is not None:
            tensor = Parameter(tensor, requires_grad=bool(source.requires_grad))
        self.made[id(tensor)] = len(self.tensors)
        self.tensors[id(source)] = tensor
        return tensor


def _blank(cls: type[Module], source: Any) -> Module:
    """An instance of ``cls`` with Module's registries, ``training`` and the torch module's
    plain attributes (``in_features``, ``kernel_size``, ``eps``, ...), without ``__init__``."""
    twin = cls.__new__(cls)
    Module.__init__(twin)
    object.__setattr__(twin, "training", bool(source.training))
    for name, value in vars(source).items():
        if name not in vars(twin) and _is_plain(value):
            with contextlib.suppress(AttributeError, TypeError):  # a read-only property
                object.__setattr__(twin, name, dict(value) if isinstance(value, dict) else value)
    return twin


def _reprs(source: Any) -> tuple[str, str | None]:
    """A torch module's ``extra_repr()``, and its whole ``repr`` when its class writes its own
    (transformers' ``Conv1D``); empty when they fail on the meta device."""
    own = next(c.__repr__ for c in type(source).__mro__ if is_torch_module_class(c))
    try:
        extra = str(source.extra_repr())
        whole = repr(source) if type(source).__repr__ is not own else None
    except Exception:  # noqa: BLE001 - a model's own repr code, run only for display
        return "", None
    return extra, whole


def _is_plain(value: Any) -> bool:
    """Numbers, strings, None, and tuples, lists and dicts of them (``kernel_size``, the keys
    of a ParameterDict)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, tuple | list):
        return all(isinstance(v, _PLAIN) for v in value)
    return isinstance(value, _PLAIN)


def _tensors(module: Module) -> list[Tensor]:
    """Every parameter and buffer of ``module``'s tree, each once."""
    return [*module.parameters(), *module.buffers()]


# -- model files run with PyTorch ----------------------------------------------------------


def build_file(
    path: str | os.PathLike[str],
    entry: str | None = None,
    args: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Any:
    """Run a model file with the installed PyTorch, building its model on the meta device.

    The model is found and constructed as :func:`paramtool.models.loader.load_model` does,
    with ``torch.nn.Module`` in place of paramtool's Module.

    Returns:
        The ``torch.nn.Module`` (on meta).

    Raises:
        ModelLoadError: PyTorch is missing, or the file fails as a model file can.
    """
    from paramtool.models import loader  # noqa: PLC0415 - loader imports this module lazily

    with on_meta(f"{path}: --torch pytorch") as torch:
        return loader.load_model(Path(path), entry, args, config, base=torch.nn.Module)
