"""Which paramtool layer a PyTorch type becomes, and the recipes its mirrored tensors get.

The deferred mirror of :mod:`paramtool.models.pytorch` asks this module two things about every
torch module it meets:

* its paramtool twin class (:func:`paramtool_layer`): a ``torch.nn`` layer or container, or a
  subclass of one that keeps its initialisation, becomes paramtool's namesake, and the twin's
  tensors get that layer's default values (:func:`_reset`);
* for any other type, the :class:`NoValues` recipes its parameters and buffers carry: asking for
  their values is an :class:`~paramtool.errors.InitError` naming the type, its parameters and
  (:func:`_name_every_type_without_defaults`) the model's other types without a default.

Dtypes map through :func:`torch_dtype`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Any

from paramtool.core.dtypes import as_dtype
from paramtool.core.random import Stream
from paramtool.core.recipes import Recipe
from paramtool.core.tensor import Tensor
from paramtool.errors import DTypeError, InitError
from paramtool.nn import layers as paramtool_layers
from paramtool.nn.module import Module

#: Methods through which a layer (or a subclass redefining them) sets its default values.
_INIT_METHODS = ("reset_parameters", "_reset_parameters", "reset_running_stats")
#: The module that classes made for a model's own subclasses are named as being from.
_MIRROR_MODULE = "paramtool.models.pytorch"


# -- values the mirror cannot give ---------------------------------------------------------


@dataclass(frozen=True)
class NoValues(Recipe):
    """The values of a tensor mirrored from a meta-device module, which paramtool cannot know.

    Attributes:
        reason: The one-line error raised when the values are asked for.
        label: What the init report shows as the recipe.
        torch_type: For a parameter without a default: its module's torch type.
        parameters: That module's parameters without a default.
        others: The model's other types without a default, with their parameters.
    """

    reason: str = ""
    label: str = "no default"
    torch_type: str = ""
    parameters: tuple[str, ...] = ()
    others: tuple[str, ...] = ()

    def _write(self, out: Any, stream: Stream) -> None:
        raise InitError(self.message())

    def message(self) -> str:
        """The error: this tensor's, then (for parameters) every other type to give a rule."""
        if not self.torch_type:
            return self.reason
        also = f"; nor for {', '.join(self.others)}" if self.others else ""
        return f"{self.reason}{also}; choose --scheme or a --rule for them"

    def describe(self) -> str:
        return self.label


def _no_default(path: str, torch_type: str, names: list[str]) -> NoValues:
    where = f"{path} ({torch_type})" if path else torch_type
    return NoValues(
        reason=(
            f"{where}: paramtool has no default initialisation for this PyTorch type "
            f"(parameters: {', '.join(names)})"
        ),
        label=f"no default for {_short(torch_type)}",
        torch_type=torch_type,
        parameters=tuple(names),
    )


def _short(torch_type: str) -> str:
    return torch_type.rsplit(".", 1)[-1]


def _name_every_type_without_defaults(model: Module) -> None:
    """Make each "no default" error name the model's other such types too, so that one run
    shows every ``--rule`` to write."""
    found: dict[str, set[str]] = {}
    for param in model.parameters():
        recipe = param.recipe
        if isinstance(recipe, NoValues) and recipe.torch_type:
            found.setdefault(recipe.torch_type, set()).update(recipe.parameters)
    if len(found) < 2:
        return
    for param in model.parameters():
        recipe = param.recipe
        if isinstance(recipe, NoValues) and recipe.torch_type:
            others = [
                f"{_short(kind)} ({', '.join(sorted(names))})"
                for kind, names in found.items()
                if kind != recipe.torch_type
            ]
            shown = (*others[:5], f"{len(others) - 5} more types") if len(others) > 5 else others
            param._set_recipe(replace(recipe, others=tuple(shown)))


def _unknown_buffer(path: str, name: str, torch_type: str) -> NoValues:
    full = f"{path}.{name}" if path else name
    return NoValues(
        reason=(
            f"buffer {full} of {torch_type}: its values are unknown (the model was built by "
            "PyTorch on the meta device)"
        ),
        label="unknown (meta)",
    )


# -- torch types as paramtool layers -------------------------------------------------------


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def paramtool_layer(cls: type) -> type[Module] | None:
    """paramtool's class for a torch module class, if paramtool knows it.

    The class (or the nearest ``torch.nn`` base it derives from without redefining how it
    initialises) must be one of ``torch.nn``'s layers or containers with a paramtool namesake.
    A subclass (torchvision's ``Conv2dNormActivation(nn.Sequential)``) gets a paramtool
    subclass of the same name, so reports show the model's own class names.
    """
    for klass in cls.__mro__:
        if klass.__module__.startswith("torch.nn.modules."):
            twin = _KNOWN.get(klass.__name__)
            if twin is None or klass is cls:
                return twin
            if cls not in _SUBCLASSES:
                _SUBCLASSES[cls] = type(cls.__name__, (twin,), {"__module__": _MIRROR_MODULE})
            return _SUBCLASSES[cls]
        if any(name in vars(klass) for name in _INIT_METHODS):
            return None  # a subclass with its own initialisation
    return None


def _known_classes() -> dict[str, type[Module]]:
    """paramtool's layers and containers by name (``Module`` itself excluded)."""
    from paramtool.nn import containers  # noqa: PLC0415

    found = {**vars(paramtool_layers), **vars(containers)}
    return {
        name: value
        for name, value in found.items()
        if isinstance(value, type) and issubclass(value, Module) and value is not Module
    }


_KNOWN = _known_classes()
_SUBCLASSES: dict[type, type[Module]] = {}


def _reset(twin: Module, shared: list[Tensor]) -> None:
    """Give a known layer's tensors the layer's default values, as its constructor does.

    ``shared`` are tensors that a module listed earlier also holds: their values are that
    module's, as PyTorch keeps the first (canonical) name's values of a tie. A twin whose
    attributes do not fit paramtool's layer (a parametrised weight, an old-style
    ``weight_norm``) keeps the values it has: none, named in the error when asked for.
    """
    kept = [(t, t._cell.recipe, t._cell.stream) for t in shared]
    for name in _INIT_METHODS[:2]:
        method = getattr(type(twin), name, None)
        if method is not None:
            with contextlib.suppress(AttributeError, TypeError, ValueError, KeyError):
                method(twin)
            break
    for tensor, recipe, stream in kept:
        tensor._cell.recipe, tensor._cell.stream = recipe, stream


def torch_dtype(dtype: Any) -> Any:
    """The numpy dtype (ml_dtypes for bfloat16 and float8) of a torch dtype.

    Raises:
        DTypeError: paramtool cannot hold it (complex, quantized).
    """
    name = str(dtype).removeprefix("torch.")
    try:
        return as_dtype(name)
    except DTypeError:
        raise DTypeError(f"torch.{name} tensors are not supported by paramtool") from None
