"""How public model files are laid out, so that paramtool finds and builds their model as is.

Two conventions of real files (nanoGPT's ``model.py``, llama2.c's, minGPT's):

- **The root class.** A file defines its building blocks and the model that composes them;
  the model is the one Module class no other class of the file mentions (``GPT`` uses
  ``Block``, ``Block`` uses ``CausalSelfAttention``).
- **A config object.** The model takes one config argument (``GPT(config)``,
  ``Transformer(params: ModelArgs)``) built from a dataclass the file defines (``GPTConfig``)
  or from the class's ``get_default_config()`` (minGPT); ``--arg``/``--config`` values set its
  fields, and the defaults give the file's default model.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from paramtool.errors import ModelLoadError

#: Parameter names that hold a model's configuration object.
CONFIG_NAMES = frozenset({"config", "cfg", "args", "params", "model_args", "conf", "hparams"})


def root_classes(path: Path, classes: list[tuple[str, type]]) -> list[tuple[str, type]]:
    """The classes that no other class in ``path`` mentions (in its bases or body)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, RecursionError, MemoryError):
        return classes
    mentioned: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            mentioned.setdefault(node.name, set()).update(names - {node.name})
    wanted = {name for name, _ in classes}
    used = {name for owner, names in mentioned.items() if owner in wanted for name in names}
    return [(name, cls) for name, cls in classes if name not in used]


def config_arguments(
    func: Callable[..., Any],
    module: ModuleType,
    args: dict[str, Any],
    config: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """Keyword arguments with a config object built for ``func``, or None when none applies.

    Raises:
        ModelLoadError: an ``--arg`` that is neither a parameter of ``func`` nor a field of
            the config.
    """
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    for name, param in params.items():
        if param.default is not inspect.Parameter.empty or name in args:
            continue
        make = _config_factory(func, module, name, param)
        if make is None:
            continue
        direct = {k: v for k, v in args.items() if k in params}
        settings = {k: v for k, v in args.items() if k not in params}
        return {**direct, name: make({**(config or {}), **settings}, set(settings))}
    return None


def _config_factory(
    func: Callable[..., Any], module: ModuleType, name: str, param: inspect.Parameter
) -> Callable[[dict[str, Any], set[str]], Any] | None:
    """How to build the config object of parameter ``name``, if the file has one."""
    annotation = _resolve(param.annotation, module)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _dataclass_factory(annotation)
    if name not in CONFIG_NAMES:
        return None
    default_config = getattr(func, "get_default_config", None)
    if callable(default_config):
        return _default_config_factory(default_config)
    local = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == module.__name__
    ]
    return _dataclass_factory(local[0]) if len(local) == 1 else None


def _resolve(annotation: Any, module: ModuleType) -> Any:
    if isinstance(annotation, str):
        return vars(module).get(annotation.strip("'\""))
    return annotation


def _dataclass_factory(cls: type) -> Callable[[dict[str, Any], set[str]], Any]:
    fields = {f.name for f in dataclasses.fields(cls) if f.init}

    def make(values: dict[str, Any], required: set[str]) -> Any:
        unknown = sorted(required - fields)
        if unknown:
            raise ModelLoadError(
                f"--arg {', '.join(unknown)}: not a field of {cls.__name__} "
                f"(fields: {', '.join(sorted(fields))})"
            )
        return cls(**{k: v for k, v in values.items() if k in fields})

    return make


def _default_config_factory(
    default_config: Callable[[], Any],
) -> Callable[[dict[str, Any], set[str]], Any]:
    def make(values: dict[str, Any], required: set[str]) -> Any:
        built = default_config()
        for key, value in values.items():
            setattr(built, key, value)
        return built

    return make
