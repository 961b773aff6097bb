"""Where a model comes from: a model file, or a model of the PyTorch ecosystem named by source.

:func:`open_model` is the one entry point every command uses. Its target is

* a ``.py`` model file, run on paramtool's core (``torch="paramtool"``), on the installed
  PyTorch on the meta device (``torch="pytorch"``), or on paramtool's core unless the file needs
  a torch name the core lacks and PyTorch is installed (``torch="auto"``, the default: a
  :class:`PytorchFallback` warning says so);
* ``torchvision:NAME`` (``torchvision.models.get_model``), ``timm:NAME`` (``timm.create_model``),
  or ``hf:PATH`` where PATH is a Hugging Face ``config.json`` or a folder holding one (the class
  its ``architectures`` names, else ``AutoModelForCausalLM``, else ``AutoModel``, built from the
  config with ``tie_weights`` applied as transformers does). ``--arg`` values are keyword
  arguments of the builder (``num_classes=10``) or, for ``hf:``, config attributes
  (``num_hidden_layers=2``).

Models of a source are built by PyTorch on the meta device (no weights are downloaded or
allocated) and read through :mod:`paramtool.models.pytorch`, so everything above sees one kind of
model.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from paramtool.errors import MissingTorchFeature, ModelLoadError
from paramtool.models.loader import DEFAULT_MODEL_FILE, load_model, read_config

if TYPE_CHECKING:
    from paramtool.nn.module import Module


def _pytorch() -> ModuleType:
    """The PyTorch adapter, imported when a model is built (a checkpoint never loads the nn
    core)."""
    from paramtool.models import pytorch  # noqa: PLC0415

    return pytorch


#: ``--torch`` choices.
TORCH_MODES = ("auto", "paramtool", "pytorch")


class PytorchFallback(UserWarning):
    """``--torch auto`` built a model file with PyTorch because paramtool's core lacks a name."""


def source_kind(target: str | os.PathLike[str]) -> str | None:
    """``"torchvision"``, ``"timm"`` or ``"hf"`` when ``target`` names a source, else None."""
    prefix, sep, rest = str(target).partition(":")
    return prefix if sep and rest and prefix in _BUILDERS else None


def is_model_target(target: str | os.PathLike[str]) -> bool:
    """True when ``target`` names a model (a ``.py`` file or a source), not a checkpoint."""
    return Path(target).suffix == ".py" or source_kind(target) is not None


def absolute_target(target: str | os.PathLike[str]) -> str:
    """``target`` with an absolute path (``hf:PATH`` too), for a process started elsewhere."""
    kind = source_kind(target)
    if kind is None:
        return os.path.abspath(target)
    if kind == "hf":
        return f"hf:{os.path.abspath(str(target).partition(':')[2])}"
    return str(target)


def target_label(target: str | os.PathLike[str]) -> str:
    """A short name for a target: the file's name (``gpt2.py``), a source as written, with
    an ``hf:`` path cut to its folder (``hf:llama-2-7b``, ``hf:llama-2-7b/config.json``)."""
    kind = source_kind(target)
    if kind is None:
        return Path(target).name
    if kind == "hf":
        path = Path(str(target).partition(":")[2])
        return f"hf:{path.parent.name}/{path.name}" if path.suffix == ".json" else f"hf:{path.name}"
    return str(target)


def open_model(
    target: str | os.PathLike[str] = DEFAULT_MODEL_FILE,
    entry: str | None = None,
    args: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    torch: str = "auto",
) -> Module:
    """Build the (deferred) paramtool model a target names.

    Args:
        target: A ``.py`` model file, or ``torchvision:NAME``, ``timm:NAME``, ``hf:PATH``.
        entry: For a model file: the model's name in it.
        args: Constructor keyword arguments (``--arg``); config attributes for ``hf:``.
        config: For a model file: a config dict (``--config``).
        torch: ``auto``, ``paramtool`` or ``pytorch``: what runs a model file's ``import torch``.

    Returns:
        A :class:`paramtool.nn.Module`; for PyTorch-built models, its deferred mirror.

    Raises:
        ModelLoadError: the target fails to build, or needs a library that is not installed
            (the message says what to install).

    Example:
        >>> model = open_model("torchvision:resnet50")  # doctest: +SKIP
    """
    if torch not in TORCH_MODES:
        raise ModelLoadError(f"--torch {torch}: expected one of {', '.join(TORCH_MODES)}")
    kind = source_kind(target)
    if kind is not None:
        if entry is not None or config is not None:
            raise ModelLoadError(f"{target}: --entry/--config apply to model files, not sources")
        return _pytorch().to_paramtool(build_source(str(target), args))
    if torch == "pytorch":
        return _pytorch().to_paramtool(_pytorch().build_file(target, entry, args, config))
    try:
        return load_model(target, entry, args, config)
    except MissingTorchFeature as exc:
        if torch == "paramtool" or not _pytorch().torch_installed():
            raise
        missing = sorted({m.name for m in exc.names})
        try:
            model = _pytorch().build_file(target, entry, args, config)
        except ModelLoadError as failed:
            raise ModelLoadError(
                f"{failed} (built with PyTorch since paramtool's core lacks {_listed(missing)})"
            ) from failed
        _warn_fallback(target, missing)
        return _pytorch().to_paramtool(model)


def build_source(target: str, args: Mapping[str, Any] | None = None) -> Any:
    """Build the ``torch.nn.Module`` a source names, on the meta device.

    Raises:
        ModelLoadError: not a source, the library is missing, the name is unknown, or the
            builder rejects an argument.
    """
    kind = source_kind(target)
    if kind is None:
        raise ModelLoadError(f"{target}: not a model source (torchvision:, timm: or hf:)")
    name = target.partition(":")[2]
    builder, package, install = _BUILDERS[kind]
    library = _import(package, install, target)
    with _pytorch().on_meta(target):
        try:
            return builder(library, name, dict(args or {}), target)
        except ModelLoadError:
            raise
        except Exception as exc:  # the library's own error: one line, naming the source
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ModelLoadError(f"{target}: {type(exc).__name__}: {first}") from exc


def _import(package: str, install: str, target: str) -> ModuleType:
    """Import ``package`` (and PyTorch), or fail with one line saying what to install."""
    if not _pytorch().torch_installed():
        raise ModelLoadError(f"{target} needs PyTorch and {package}, not installed: {install}")
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise ModelLoadError(
            f"{target} needs {package}, which is not installed: {install}"
        ) from exc
    except Exception as exc:  # a broken install, e.g. torchvision built for another torch
        raise ModelLoadError(f"{target}: importing {package} failed: {exc}") from exc


def _torchvision(library: ModuleType, name: str, args: dict[str, Any], target: str) -> Any:
    models = importlib.import_module(f"{library.__name__}.models")
    if name not in models.list_models():
        raise ModelLoadError(f"{target}: torchvision has no model {name!r}{_close(name, models)}")
    return models.get_model(name, weights=None, **args)


def _close(name: str, models: ModuleType) -> str:
    import difflib  # noqa: PLC0415

    near = difflib.get_close_matches(name, models.list_models(), n=3)
    return f"; did you mean {', '.join(near)}?" if near else ""


def _timm(library: ModuleType, name: str, args: dict[str, Any], target: str) -> Any:
    if not library.is_model(name):
        raise ModelLoadError(f"{target}: timm has no model {name!r}{_close(name, library)}")
    return library.create_model(name, pretrained=False, **args)


def _hf(library: ModuleType, path: str, args: dict[str, Any], target: str) -> Any:
    config = hf_config(library, Path(path), args)
    cls = _hf_class(library, config)
    if cls.__name__.startswith("AutoModel"):
        return cls.from_config(config)
    return cls._from_config(config)


def hf_config(library: ModuleType, path: Path, args: Mapping[str, Any]) -> Any:
    """The transformers config of a ``config.json`` (or a folder holding one), with ``args``
    set as attributes.

    Raises:
        ModelLoadError: no config, no ``model_type``, or an ``--arg`` the config lacks.
    """
    file = path / "config.json" if path.is_dir() else path
    data = read_config(file)
    model_type = data.pop("model_type", None)
    if not model_type:
        raise ModelLoadError(f"{file}: no model_type; transformers needs it to pick the model")
    config = library.AutoConfig.for_model(model_type, **data)
    for key, value in args.items():
        if not hasattr(config, key):
            raise ModelLoadError(f"hf:{path}: --arg {key}: {type(config).__name__} has no {key!r}")
        setattr(config, key, value)
    return config


def _hf_class(library: ModuleType, config: Any) -> Any:
    """The class a config's ``architectures`` names, else the causal-LM or base auto class."""
    for name in getattr(config, "architectures", None) or ():
        cls = getattr(library, name, None)
        if isinstance(cls, type):
            return cls
    auto = library.AutoModelForCausalLM
    mapping = getattr(auto, "_model_mapping", {})
    return auto if type(config) in mapping else library.AutoModel


_Builder = Callable[[ModuleType, str, dict[str, Any], str], Any]

#: source prefix -> (builder, package to import, what to install).
_BUILDERS: dict[str, tuple[_Builder, str, str]] = {
    "torchvision": (_torchvision, "torchvision", "pip install torch torchvision"),
    "timm": (_timm, "timm", "pip install torch timm"),
    "hf": (_hf, "transformers", "pip install torch transformers"),
}


def _listed(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _warn_fallback(path: str | os.PathLike[str], missing: list[str]) -> None:
    """Say (as a :class:`PytorchFallback` warning) that a file was built with PyTorch."""
    warnings.warn(
        f"{path} needs {_listed(missing)}, which paramtool's core lacks: built with PyTorch on the "
        "meta device instead",
        PytorchFallback,
        stacklevel=3,
    )
