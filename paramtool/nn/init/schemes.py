"""Named initialisation schemes, rules by parameter name, and their report.

A scheme is a name and parameters, written as the CLI takes it: ``kaiming``,
``kaiming:mode=fan_out,nonlinearity=relu``, ``normal:std=0.01``. Parameters are typed by the
signature of the init function behind the scheme. :func:`apply_scheme` applies one to a model:

* weights of rank >= 2 get the scheme;
* biases (a name whose last part contains ``bias``) get zeros, and the rank-1 weights of
  normalisation layers get ones. A normalisation layer is one marked ``is_normalization``
  (LayerNorm, RMSNorm, BatchNorm, GroupNorm, InstanceNorm and their subclasses), or one of
  PyTorch's own normalisation classes; a class name holding "Norm" does not make one;
* other rank-1 parameters (and a normalisation layer's weight of higher rank) keep their
  layer's default;
* rules ``PATTERN=SCHEME`` override all of that, the last matching rule winning. PATTERN is
  an ``fnmatch`` glob on the full name (``*.bias=zeros``, ``*embed*=normal:std=0.02``), or
  ``type:NAME`` for the parameters of modules of that class or a subclass of it
  (``type:Embedding=normal:std=0.02``).

Tied parameters are initialised once, under their first name. On deferred parameters only
recipes are recorded; real parameters are filled with the values of their name's stream. The
result is an :class:`InitReport` of plain data, and :func:`tensor_stats` summarises values.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from paramtool.core import factories
from paramtool.core.autograd import no_grad
from paramtool.core.dtypes import dtype_name
from paramtool.core.random import Generator
from paramtool.core.recipes import Recipe
from paramtool.core.tensor import Tensor
from paramtool.errors import InitError
from paramtool.nn import init
from paramtool.nn.init import lsuv

InitFn = Callable[..., Tensor]

#: name -> (init function, defaults that differ from the function's own, summary).
_REGISTRY: dict[str, tuple[InitFn | None, dict[str, Any], str]] = {
    "default": (None, {}, "each layer's own PyTorch default (reset_parameters)"),
    "kaiming": (init.kaiming_normal_, {}, "He et al. 2015, normal (kaiming_normal_)"),
    "kaiming_normal": (init.kaiming_normal_, {}, "He et al. 2015, normal"),
    "kaiming_uniform": (init.kaiming_uniform_, {}, "He et al. 2015, uniform"),
    "xavier": (init.xavier_uniform_, {}, "Glorot & Bengio 2010, uniform (xavier_uniform_)"),
    "xavier_uniform": (init.xavier_uniform_, {}, "Glorot & Bengio 2010, uniform"),
    "xavier_normal": (init.xavier_normal_, {}, "Glorot & Bengio 2010, normal"),
    "normal": (init.normal_, {"std": 0.02}, "N(mean, std^2), std 0.02 by default"),
    "trunc_normal": (init.trunc_normal_, {"std": 0.02}, "N(mean, std^2) cut to [a, b]"),
    "uniform": (init.uniform_, {}, "U(a, b)"),
    "orthogonal": (init.orthogonal_, {}, "Saxe et al. 2013, (semi-)orthogonal times gain"),
    "constant": (init.constant_, {"val": 0.0}, "every value equal to val"),
    "zeros": (init.zeros_, {}, "all zeros"),
    "ones": (init.ones_, {}, "all ones"),
    "variance_scaling": (init.variance_scaling_, {}, "Keras variance scaling"),
    "lecun": (init.lecun_normal_, {}, "LeCun 1998: variance 1/fan_in, truncated normal"),
    "lecun_normal": (init.lecun_normal_, {}, "LeCun 1998, truncated normal"),
    "lecun_uniform": (init.lecun_uniform_, {}, "LeCun 1998, uniform"),
    "glorot": (init.glorot_uniform_, {}, "Glorot 2010: variance 1/fan_avg, uniform"),
    "glorot_normal": (init.glorot_normal_, {}, "Glorot 2010, truncated normal"),
    "glorot_uniform": (init.glorot_uniform_, {}, "Glorot 2010, uniform"),
    "he": (init.he_normal_, {}, "He 2015: variance 2/fan_in, truncated normal"),
    "he_normal": (init.he_normal_, {}, "He 2015, truncated normal"),
    "he_uniform": (init.he_uniform_, {}, "He 2015, uniform"),
    "lsuv": (lsuv.lsuv_start_, {}, "Mishkin & Matas 2016: orthogonal, then unit output variance"),
}

_SKIPPED_PARAMS = ("tensor", "generator")


@dataclass(frozen=True)
class Scheme:
    """A parsed scheme: a registered name and its typed parameters.

    Attributes:
        name: The registered name (``"kaiming"``).
        params: Parameters given explicitly, typed (``{"mode": "fan_out"}``).
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def is_default(self) -> bool:
        """True for ``default``: keep each layer's own initialisation."""
        return self.name == "default"

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.params)

    def apply(self, tensor: Tensor, generator: Generator | None = None) -> Tensor:
        """Initialise ``tensor`` in place with this scheme (``default`` leaves it alone)."""
        function, defaults, _ = _REGISTRY[self.name]
        if function is None:
            return tensor
        kwargs = {**defaults, **dict(self.params)}
        if generator is not None and "generator" in inspect.signature(function).parameters:
            kwargs["generator"] = generator
        return function(tensor, **kwargs)


def scheme_names() -> dict[str, str]:
    """Every registered scheme and a one-line summary of it, for ``--help``/listing."""
    return {name: summary for name, (_, _, summary) in _REGISTRY.items()}


def scheme_parameters(name: str) -> dict[str, Any]:
    """The parameters ``name`` accepts, with their default values."""
    function, defaults, _ = _lookup(name)
    if function is None:
        return {}
    sig = inspect.signature(function)
    return {
        p: defaults.get(p, param.default)
        for p, param in sig.parameters.items()
        if p not in _SKIPPED_PARAMS
    }


def _lookup(name: str) -> tuple[InitFn | None, dict[str, Any], str]:
    if name not in _REGISTRY:
        raise InitError(f"unknown scheme {name!r}; expected one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def parse_scheme(text: str | Scheme) -> Scheme:
    """Parse ``name`` or ``name:key=value,key=value`` into a validated :class:`Scheme`.

    Values are converted to the type of the init function's parameter (float, int, str, bool);
    the scheme is then tried on a small deferred tensor, so bad values fail here.

    Raises:
        InitError: an unknown scheme, an unknown parameter (named), or a bad value.
    """
    if isinstance(text, Scheme):
        return text
    name, _, rest = text.strip().partition(":")
    function, _, _ = _lookup(name.strip())
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise InitError(f"scheme {text!r}: expected key=value, got {item!r}")
        params[key] = _convert(name, function, key, value.strip())
    scheme = Scheme(name.strip(), tuple(params.items()))
    try:
        scheme.apply(factories.empty(4, 4), Generator())  # a private key: no global draw
    except (InitError, ValueError, TypeError) as exc:
        raise InitError(f"scheme {text!r}: {exc}") from None
    return scheme


def _convert(scheme: str, function: InitFn | None, key: str, value: str) -> Any:
    accepted = scheme_parameters(scheme)
    if key not in accepted:
        expected = ", ".join(accepted) or "no parameters"
        raise InitError(f"scheme {scheme!r}: unknown parameter {key!r}; expected {expected}")
    kind = _param_type(function, key)
    try:
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        converted = kind(value)
    except ValueError:
        raise InitError(
            f"scheme {scheme!r}: parameter {key!r} expects {kind.__name__}, got {value!r}"
        ) from None
    if kind is float and not math.isfinite(converted):
        raise InitError(f"scheme {scheme!r}: parameter {key!r} must be finite, got {value!r}")
    return converted


def _param_type(function: InitFn | None, key: str) -> type:
    """The Python type of ``function``'s parameter ``key`` (float, int, str or bool)."""
    hint = typing.get_type_hints(function).get(key, float)
    for kind in (bool, int, float, str):
        if hint is kind or kind in typing.get_args(hint):
            return float if kind is int and float in typing.get_args(hint) else kind
    return float


#: Marks a rule pattern that names a module class instead of parameter names.
TYPE_PREFIX = "type:"


@dataclass(frozen=True)
class Rule:
    """``PATTERN=SCHEME``: parameters whose name matches ``pattern`` get ``scheme``.

    A pattern ``type:NAME`` matches the parameters of modules whose class, or a base class of
    it, is called NAME.
    """

    pattern: str
    scheme: Scheme
    text: str

    def matches(self, names: Iterable[str], types: Iterable[str] = ()) -> bool:
        """True when the rule selects a parameter.

        Args:
            names: The parameter's full names (ties included), for glob patterns.
            types: Class names of the modules holding it and their bases, for ``type:``.
        """
        if self.pattern.startswith(TYPE_PREFIX):
            return self.pattern[len(TYPE_PREFIX) :] in types
        return any(fnmatchcase(name, self.pattern) for name in names)


def parse_rule(text: str | Rule) -> Rule:
    """Parse ``PATTERN=SCHEME`` (``*.bias=zeros``, ``*embed*=normal:std=0.02``).

    Raises:
        InitError: the rule has no ``=``, an empty side, or a bad scheme; the message names it.
    """
    if isinstance(text, Rule):
        return text
    pattern, eq, scheme = text.partition("=")
    if not eq or not pattern.strip() or not scheme.strip():
        raise InitError(f"malformed rule {text!r}: expected PATTERN=SCHEME, e.g. '*.bias=zeros'")
    try:
        parsed = parse_scheme(scheme)
    except InitError as exc:
        raise InitError(f"malformed rule {text!r}: {exc}") from None
    return Rule(pattern.strip(), parsed, text)


@dataclass
class InitReport:
    """What :func:`apply_scheme` did, as plain data.

    Attributes:
        scheme: The scheme applied to weights, as written.
        rules: The rules, as written.
        rows: One dict per parameter (tied parameters once): ``name``, ``aliases``, ``shape``,
            ``dtype``, ``numel``, ``source`` (``rule``/``scheme``/``bias``/``norm``/``default``),
            ``scheme``, ``rule``, ``recipe`` and ``expected_std``.
        unmatched_rules: Rules that matched no parameter.
    """

    scheme: str
    rules: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    unmatched_rules: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "scheme": self.scheme,
            "rules": list(self.rules),
            "parameters": [dict(row) for row in self.rows],
            "unmatched_rules": list(self.unmatched_rules),
        }


def apply_scheme(
    model: Any,
    scheme: str | Scheme = "default",
    rules: Sequence[str | Rule] = (),
    seed: int | None = None,
) -> InitReport:
    """Initialise ``model``'s parameters with ``scheme`` and ``rules``; see the module doc.

    Args:
        model: A ``paramtool.nn.Module``.
        scheme: A scheme name with optional parameters, e.g. ``"kaiming:mode=fan_out"``.
        rules: ``PATTERN=SCHEME`` overrides; the last matching rule wins.
        seed: The seed that real (already materialised) parameters are refilled from.

    Returns:
        The :class:`InitReport`.

    Raises:
        InitError: an unknown scheme or parameter, or a malformed rule.
    """
    base = parse_scheme(scheme)
    parsed = [parse_rule(rule) for rule in rules]
    report = InitReport(str(scheme), [r.text for r in parsed])
    used: set[int] = set()
    owners = _owner_types(model)
    norm_owned = _norm_weight_ids(model)
    for name, aliases, param in _parameters(model):
        names = [name, *aliases]
        types = owners.get(id(param), set())
        hits = [i for i, rule in enumerate(parsed) if rule.matches(names, types)]
        used.update(hits)
        rule = parsed[hits[-1]] if hits else None
        source, chosen = _choose(name, param, base, rule, id(param) in norm_owned)
        try:
            recipe = _initialise(param, chosen, name, seed)
        except ValueError as exc:  # InitError, or a torch-style ValueError from a formula
            via = f"rule {rule.text!r}" if rule is not None else f"scheme {chosen.name!r}"
            raise InitError(f"{name} {list(param.shape)} ({via}): {exc}") from exc
        report.rows.append(_row(name, aliases, param, source, chosen, rule, recipe))
    report.unmatched_rules = [r.text for i, r in enumerate(parsed) if i not in used]
    if base.name == "lsuv":  # a model pass: each layer rescaled on a forward of a random batch
        lsuv.run_scheme(model, dict(base.params), report.rows, seed)
    return report


def _parameters(model: Any) -> list[tuple[str, list[str], Tensor]]:
    """``(canonical name, other names, parameter)`` for each distinct parameter."""
    aliases: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(param), []).append(name)
    return [(name, aliases[id(p)][1:], p) for name, p in model.named_parameters()]


#: PyTorch's normalisation classes with an affine weight, for models built by PyTorch itself.
_TORCH_NORMS = frozenset({
    "_NormBase", "LayerNorm", "GroupNorm", "RMSNorm", "LocalResponseNorm", "CrossMapLRN2d",
})  # fmt: skip


def is_normalization(module: Any) -> bool:
    """True for a normalisation layer: marked ``is_normalization`` (paramtool's layers and
    their subclasses) or derived from one of PyTorch's own normalisation classes."""
    if getattr(type(module), "is_normalization", False):
        return True
    return any(
        cls.__module__.startswith("torch.nn.modules.") and cls.__name__ in _TORCH_NORMS
        for cls in type(module).__mro__
    )


def _norm_weight_ids(model: Any) -> set[int]:
    """ids of the ``weight`` parameters of normalisation layers."""
    ids = set()
    for module in model.modules():
        weight = module._parameters.get("weight")
        if weight is not None and is_normalization(module):
            ids.add(id(weight))
    return ids


def _owner_types(model: Any) -> dict[int, set[str]]:
    """id of each parameter -> class names (bases included) of the modules holding it."""
    owners: dict[int, set[str]] = {}
    for module in model.modules():
        names = {cls.__name__ for cls in type(module).__mro__}
        for param in module._parameters.values():
            if param is not None:
                owners.setdefault(id(param), set()).update(names)
    return owners


_ZEROS, _ONES = Scheme("zeros"), Scheme("ones")


def _choose(
    name: str, param: Tensor, base: Scheme, rule: Rule | None, is_norm: bool
) -> tuple[str, Scheme]:
    """Which scheme a parameter gets, and why."""
    if rule is not None:
        return "rule", rule.scheme
    if base.is_default:
        return "default", base
    if "bias" in name.rsplit(".", 1)[-1]:
        return "bias", _ZEROS
    if is_norm:
        return ("norm", _ONES) if param.dim() == 1 else ("default", Scheme("default"))
    if param.dim() >= 2:
        return "scheme", base
    return "default", Scheme("default")


def _initialise(param: Tensor, scheme: Scheme, name: str, seed: int | None) -> Recipe | None:
    """Apply ``scheme``: record it on a deferred parameter, refill a real one from its name.

    Returns:
        The recipe the parameter's values follow (None for a real parameter left alone).
    """
    if scheme.is_default or param.numel() == 0 or param.is_deferred:
        scheme.apply(param)
        return param.recipe
    fresh = factories.empty(*param.shape, dtype=param.dtype, device=param.device)
    scheme.apply(fresh)
    with no_grad():  # initialisation is not part of any graph (as in PyTorch)
        param.copy_(fresh.compute(name=name, seed=seed))
    return fresh.recipe


def _row(
    name: str,
    aliases: list[str],
    param: Tensor,
    source: str,
    scheme: Scheme,
    rule: Rule | None,
    recipe: Recipe | None,
) -> dict[str, Any]:
    shape = tuple(param.shape)
    return {
        "name": name,
        "aliases": list(aliases),
        "shape": list(shape),
        "dtype": dtype_name(param.dtype),
        "numel": param.numel(),
        "source": source,
        "scheme": str(scheme),
        "rule": rule.text if rule else None,
        "recipe": recipe.describe() if recipe is not None else None,
        "expected_std": recipe.expected_std(shape) if recipe is not None else None,
    }
