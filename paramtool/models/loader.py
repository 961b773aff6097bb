"""Loading model definitions: run a ``.py`` file and find the model it defines.

A model file is run as ``python model.py`` would run it (:mod:`paramtool.models.runner`), with
``import torch`` resolved to paramtool (:mod:`paramtool.models.torch_scope`). The model is, in
this order of preference:

1. ``entry`` when given: a Module instance, a Module subclass, or a callable returning a Module;
2. a ``build_model`` callable;
3. a top-level ``model`` (a Module instance, subclass or callable);
4. the single root Module instance the file creates, else the single Module subclass it defines,
   else the single one of them no other class in the file uses (the model composing the blocks,
   :mod:`paramtool.models.conventions`).

Constructor arguments come from ``args`` (``--arg key=value``) and ``config`` (a Hugging Face style
``config.json``). A callable that takes a parameter named ``config`` receives the config dict;
the ``args`` it takes by name (any, when it has ``**kwargs``) are passed as keyword arguments,
the others are merged over the config. Any other callable receives the config keys it accepts
as keyword arguments, plus ``args``. So a config file may hold keys a model ignores
(``architectures``, ``torch_dtype``), while an ``--arg`` the model does not know is an error.
A class whose required argument is a config object (``GPT(config)`` with the file's
``GPTConfig`` dataclass, minGPT's ``get_default_config()``) gets one built from its defaults,
with ``args`` and ``config`` setting its fields.

Construction is deferred, as everything in paramtool is: building a 70B-parameter model allocates
no parameter memory. Every failure is a :class:`~paramtool.errors.ModelLoadError` whose message
names the file and, where there is one, the line in the user's code.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from paramtool.errors import ModelLoadError
from paramtool.models.containment import EscapedOutput, contained
from paramtool.models.conventions import config_arguments, root_classes
from paramtool.models.runner import describe_failure, model_code, run_file
from paramtool.models.structure import check_structure
from paramtool.models.torch_scope import missing_error, torch_scope

#: The file a MODEL argument names when none is given.
DEFAULT_MODEL_FILE = "model.py"

_ENTRY_NAMES = ("build_model", "model")


def split_assignments(items: Iterable[str], what: str, names_only: bool = False) -> dict[str, str]:
    """Split ``key=value`` strings at the first ``=``.

    Args:
        items: Strings such as ``"license=mit"``.
        what: The option name used in error messages (``--metadata``).
        names_only: Require each key to be a Python name.

    Returns:
        The keys mapped to their (string) values, in order (a later key wins).

    Raises:
        ModelLoadError: an item has no ``=``, or a bad key.
    """
    result: dict[str, str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or (names_only and not key.isidentifier()):
            kind = "a Python name" if names_only else "not empty"
            raise ModelLoadError(f"{what} {item!r}: expected KEY=VALUE with KEY {kind}")
        result[key] = text
    return result


#: Characters of Python syntax: a value holding one must be a literal, not a plain word.
_SYNTAX = frozenset("()[]{}'\"")


def parse_assignments(items: Iterable[str], what: str = "--arg") -> dict[str, Any]:
    """Parse ``key=value`` strings; values are Python literals, else plain words.

    A value is never run: it is read with ``ast.literal_eval`` (numbers, strings, tuples,
    lists, dicts, True/False/None); a value that is no literal is a plain string when it holds
    no brackets or quotes (``act=gelu``, ``size=70b``) and an error otherwise.

    Args:
        items: Strings such as ``"n_layer=2"``, ``"dims=(3, 4)"``, ``"act=gelu"``.
        what: The option name used in error messages.

    Returns:
        The keys mapped to their values, in order (a later key wins).

    Raises:
        ModelLoadError: an item has no ``=``, a key that is not a Python name, or a value that
            looks like code or a literal and is not one (or is nested too deeply to read).
    """
    result: dict[str, Any] = {}
    for key, text in split_assignments(items, what, names_only=True).items():
        try:
            result[key] = ast.literal_eval(text.strip())
        except (MemoryError, RecursionError) as exc:
            raise ModelLoadError(f"{what} {key}: value nested too deeply to read") from exc
        except (ValueError, SyntaxError, TypeError) as exc:
            if _SYNTAX & set(text):
                raise ModelLoadError(
                    f"{what} {key}={_shorten(text)}: not a Python literal (numbers, strings, "
                    "tuples, lists, dicts, True/False/None; a plain word is a string)"
                ) from exc
            result[key] = text
    return result


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON config file holding one object (a Hugging Face ``config.json``).

    Raises:
        ModelLoadError: the file is missing, is not JSON, or does not hold an object.
    """
    path = Path(path)
    if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
        raise ModelLoadError(f"{path}: not a regular file; a config is read from a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{path}: config file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: cannot read config: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except ValueError as exc:  # a number of more than 4,300 digits
        raise ModelLoadError(f"{path}: invalid JSON: {str(exc).split(';')[0]}") from exc
    except RecursionError as exc:
        raise ModelLoadError(f"{path}: config nested too deeply to read") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: a config must hold a JSON object, not {type(data).__name__}")
    return data


def load_model(
    path: str | os.PathLike[str] = DEFAULT_MODEL_FILE,
    entry: str | None = None,
    args: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    base: type | None = None,
    output: TextIO | None = None,
) -> Any:
    """Run a model file and return the (deferred) Module it defines.

    While the file runs and its model is built, ``import torch`` gives paramtool's namespace
    (:func:`~paramtool.models.torch_scope.torch_scope`) and what the file prints goes to
    ``output``, never to stdout.

    Args:
        path: The ``.py`` file.
        entry: The name of the model object in the file (instance, subclass or callable).
        args: Keyword arguments for the constructor (``--arg``).
        config: A config dict (``--config``), see the module docstring for how it is passed.
        base: The Module class to look for. Default: paramtool's, with ``import torch``
            resolved to paramtool; another class (``torch.nn.Module``) runs the file as it is.
        output: Where the file's prints go (default: stderr, control characters escaped).

    Returns:
        The model, an instance of ``base`` (default :class:`paramtool.nn.Module`).

    Raises:
        MissingTorchFeature: building the model needs torch names paramtool lacks (all of them
            listed; one imported but not used to build the model, such as ``torchvision`` for
            a training script's data, is not an error).
        ModelLoadError: the file is missing, does not run (an exception or ``sys.exit``),
            holds no model or several, its constructor raises, or the model's module tree is
            cyclic or too deep; the message names the file and line.

    Example:
        >>> model = load_model("sample_models/mlp.py")  # doctest: +SKIP
    """
    path = Path(path)
    # realpath, not resolve(): a link loop is then run_file's one-line error, not a RuntimeError
    folder = Path(os.path.realpath(path)).parent
    scope = torch_scope(folder) if base is None else contextlib.nullcontext()
    printed = output or EscapedOutput(sys.stderr)
    with scope as missing, contained(printed):
        try:
            module = run_file(path)
            name, candidate = _pick_candidate(module, path, entry, base or _module_type())
            model = _construct(candidate, name, module, path, dict(args or {}), config, base)
        except ModelLoadError as exc:
            if missing is not None and (missing.used or _missing_package(exc)):
                # a failure after using a missing name, or an uncaught missing package: its cause
                raise missing_error(missing.used or [_missing_package(exc)], path) from exc
            raise
        if missing is not None and missing.used:
            raise missing_error(missing.used, path)
    check_structure(model, path)
    with model_code(path, "while listing the model's tensors", printed):
        # the traversals reports and exports make, so a model class overriding one of them
        # with code that raises fails here, naming its file and line
        list(model.named_parameters(remove_duplicate=False))
        list(model.named_buffers(remove_duplicate=False))
        list(model.named_modules(remove_duplicate=False))
        model.state_dict(keep_vars=True)
    return model


def _missing_package(exc: BaseException) -> Any:
    """The recorded name of a missing package whose ImportError made the file fail, if any."""
    from paramtool.torch.missing import MissingModule  # noqa: PLC0415

    cause = exc.__cause__
    return cause.entry if isinstance(cause, MissingModule) else None


def _module_type() -> type:
    from paramtool.nn import Module  # noqa: PLC0415 - the loader stands above nn

    return Module


def _pick_candidate(
    module: ModuleType, path: Path, entry: str | None, base: type
) -> tuple[str, Any]:
    """The (name, object) the model comes from, by the preference order of the module docs."""
    namespace = vars(module)
    if entry is not None:
        if entry not in namespace:
            raise ModelLoadError(
                f"{path}: no {entry!r} defined (--entry); candidates: "
                f"{_names_or_none(_candidate_names(module, base))}"
            )
        return entry, namespace[entry]
    for name in _ENTRY_NAMES:
        if name in namespace:
            return name, namespace[name]
    instances = _root_instances(module, base)
    if len(instances) == 1:
        return instances[0]
    if not instances:
        classes = _defined_subclasses(module, base)
        if len(classes) > 1:  # blocks and the model composing them: the model is the root
            roots = root_classes(path, classes)
            classes = roots if len(roots) == 1 else classes
        if len(classes) == 1:
            return classes[0]
        if len(classes) > 1:
            raise _several(path, [n for n, _ in classes])
        raise ModelLoadError(
            f"{path}: no model found; define build_model() or a top-level `model`, "
            "or name one with --entry"
        )
    raise _several(path, [n for n, _ in instances])


def _several(path: Path, names: list[str]) -> ModelLoadError:
    return ModelLoadError(
        f"{path}: several models found ({', '.join(names)}); choose one with --entry NAME"
    )


def _names_or_none(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def _candidate_names(module: ModuleType, base: type) -> list[str]:
    entries = [n for n in _ENTRY_NAMES if n in vars(module)]
    found = [n for n, _ in _root_instances(module, base)]
    found += [n for n, _ in _defined_subclasses(module, base)]
    return entries + [n for n in found if n not in entries]


def _root_instances(module: ModuleType, base: type) -> list[tuple[str, Any]]:
    """Module instances at the file's top level that are not part of another one."""
    found: dict[int, tuple[str, Any]] = {}
    for name, value in vars(module).items():
        if isinstance(value, base) and not name.startswith("_") and id(value) not in found:
            found[id(value)] = (name, value)
    inner = {id(sub) for _, obj in found.values() for sub in list(obj.modules())[1:]}
    return [pair for key, pair in found.items() if key not in inner]


def _defined_subclasses(module: ModuleType, base: type) -> list[tuple[str, type]]:
    """Module subclasses defined in the file itself (not imported into it)."""
    return [
        (name, value)
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, base)
        and value.__module__ == module.__name__
        and not name.startswith("_")
    ]


def _construct(
    candidate: Any,
    name: str,
    module: ModuleType,
    path: Path,
    args: dict[str, Any],
    config: Mapping[str, Any] | None,
    base: type | None = None,
) -> Any:
    base = base or _module_type()
    if isinstance(candidate, base):
        if args or config:
            raise ModelLoadError(
                f"{path}: {name!r} is an already built model; --arg/--config need a class or "
                "a function such as build_model"
            )
        return candidate
    if not callable(candidate):
        raise ModelLoadError(
            f"{path}: {name!r} is a {type(candidate).__name__}, not a Module, a Module class "
            "or a function returning one"
        )
    try:
        kwargs = config_arguments(candidate, module, args, config)
        if kwargs is None:
            kwargs = _call_arguments(candidate, args, config)
        model = candidate(**kwargs)
    except ModelLoadError:
        raise
    except BaseException as exc:  # noqa: BLE001 - a model file cannot end paramtool
        raise ModelLoadError(describe_failure(exc, path, f"while building {name!r}")) from exc
    if not isinstance(model, base):
        raise ModelLoadError(
            f"{path}: {name}() returned a {type(model).__name__}, not a "
            f"{base.__module__.replace('paramtool.nn.module', 'paramtool.nn')}.{base.__name__}"
        )
    return model


def _call_arguments(
    func: Callable[..., Any], args: dict[str, Any], config: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The keyword arguments ``func`` is called with, from --arg and --config."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # no signature to look at: pass everything
        return {**(config or {}), **args}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "config" in params:
        direct = {k: v for k, v in args.items() if (k in params or takes_any) and k != "config"}
        rest = {k: v for k, v in args.items() if k not in direct}
        if config is None and not rest:
            return direct
        return {**direct, "config": {**(config or {}), **rest}}
    if config is None or takes_any:
        return {**(config or {}), **args}
    return {**{k: v for k, v in config.items() if k in params}, **args}
