"""``import torch`` inside a model file, resolved to paramtool while the file runs.

:func:`torch_scope` puts paramtool's torch namespace (:data:`paramtool.torch.MODULES`) into
``sys.modules`` and a finder at the front of ``sys.meta_path``; on leaving, it takes them out
and puts back whatever was there before, so a process that also uses the real PyTorch (a test,
a notebook) finds its own ``torch`` again. Modules the model file imported from its own folder,
and any module that imported our ``torch``, are dropped too: the next file gets fresh ones.

A torch path paramtool lacks (``torch.fft``), or an installed package built on PyTorch
(``torchvision``), is recorded with the user's file and line and stands in as a placeholder
module, so one run finds every missing name; an optional kernel package (``apex``,
``flash_attn``) that is not installed at all is an ``ImportError`` at the import, as Python gives
it (a file's ``except ImportError`` fallback runs), recorded too. :func:`missing_error` turns them into one error.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from paramtool.errors import MissingTorchFeature

if TYPE_CHECKING:
    from paramtool.torch.missing import MissingName, Record

#: Packages built on PyTorch itself: a model file importing them needs PyTorch.
NEEDS_PYTORCH = frozenset(
    {
        "torchvision", "torchaudio", "torchtext", "torchdata", "timm", "transformers",
        "accelerate", "peft", "diffusers", "lightning", "pytorch_lightning", "torchmetrics",
        "xformers", "flash_attn", "triton", "apex", "fairscale", "deepspeed", "mamba_ssm",
        "causal_conv1d", "functorch", "torch_geometric", "bitsandbytes", "liger_kernel",
    }
)  # fmt: skip
#: Optional kernel packages model files import inside ``try``/``except ImportError`` (falling
#: back to plain layers): when one is not installed at all, its import fails as in Python.
#: The others stand in as placeholders, so a model built without them (an example importing
#: ``torchvision`` for its data) still builds.
OPTIONAL_KERNELS = frozenset(
    {
        "apex", "flash_attn", "xformers", "triton", "mamba_ssm", "causal_conv1d", "deepspeed",
        "bitsandbytes", "liger_kernel",
    }
)  # fmt: skip


def _installed(package: str) -> bool:
    """Whether ``package`` is installed (found on ``sys.path`` without our finder)."""
    try:
        return importlib.machinery.PathFinder.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _is_torch_name(name: str) -> bool:
    root = name.partition(".")[0]
    return root == "torch" or root in NEEDS_PYTORCH


class _MissingFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds every torch path (and PyTorch-based package) not in the namespace: a placeholder."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not _is_torch_name(fullname):
            return None
        root = fullname.partition(".")[0]
        if root in OPTIONAL_KERNELS and fullname == root and not _installed(root):
            from paramtool.torch import missing  # noqa: PLC0415

            raise missing.missing_module(root)  # as Python would: try/except ImportError works
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        from paramtool.torch import missing  # noqa: PLC0415
        from paramtool.torch.missing import PlaceholderModule  # noqa: PLC0415

        parent = sys.modules.get(spec.name.rpartition(".")[0])
        if isinstance(parent, PlaceholderModule):  # inside what is missing: the same name
            return PlaceholderModule(spec.name, parent._entry)
        return PlaceholderModule(spec.name, missing.missing(spec.name)._entry)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: every attribute of a placeholder module is a placeholder."""


@contextlib.contextmanager
def torch_scope(folder: str | Path | None = None) -> Iterator[Record]:
    """While the block runs, ``import torch`` gives paramtool; yields the missing names met.

    Args:
        folder: The model file's folder: modules imported from it are dropped on leaving.

    Yields:
        The :class:`~paramtool.torch.missing.Record` of missing names met and used (it grows).
    """
    from paramtool import torch as namespace  # noqa: PLC0415 - only when a model file runs
    from paramtool.torch import missing  # noqa: PLC0415

    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _is_torch_name(name)}
    einops_saved = _swap_einops_torch_backend({})
    before = set(sys.modules)
    bound = namespace.namespace()
    sys.modules.update(bound)
    finder = _MissingFinder()
    sys.meta_path.insert(0, finder)
    try:
        with missing.recording() as record:
            yield record
    finally:
        sys.meta_path.remove(finder)
        _drop_new_modules(before, set(map(id, bound.values())), folder)
        _drop_placeholders(bound.values())
        sys.modules.update(saved)
        _swap_einops_torch_backend(einops_saved)


def _drop_new_modules(before: set[str], ours: set[int], folder: str | Path | None) -> None:
    """Take out torch paths, modules from ``folder``, and new modules holding our torch."""
    root = Path(folder).resolve() if folder is not None else None
    for name in list(sys.modules):
        module = sys.modules[name]
        if _is_torch_name(name) or (
            name not in before and (_is_in(module, root) or _holds(module, ours))
        ):
            del sys.modules[name]


def _swap_einops_torch_backend(restore: dict[str, dict[Any, Any]]) -> dict[str, dict[Any, Any]]:
    """Take einops' cached torch backends out (returned) and put ``restore``'s back.

    einops keeps the backend it made for ``torch`` in module-level caches: one made for the real
    PyTorch must not serve paramtool's tensors in the file, nor one made for paramtool's
    namespace serve real tensors after it.
    """
    backends = sys.modules.get("einops._backends")
    if backends is None:
        return {}
    taken: dict[str, dict[Any, Any]] = {}
    for table_name in ("_loaded_backends", "_type2backend"):
        table = getattr(backends, table_name, None)
        if not isinstance(table, dict):
            continue
        torch_keys = [k for k, b in table.items() if getattr(b, "framework_name", "") == "torch"]
        taken[table_name] = {key: table.pop(key) for key in torch_keys}
        table.update(restore.get(table_name, {}))
    return taken


def _drop_placeholders(modules: Any) -> None:
    """Take out the placeholder submodules the import system set on our namespace modules."""
    from paramtool.torch.missing import PlaceholderModule  # noqa: PLC0415

    for module in modules:
        for name, value in list(vars(module).items()):
            if isinstance(value, PlaceholderModule):
                delattr(module, name)


def _is_in(module: Any, folder: Path | None) -> bool:
    file = getattr(module, "__file__", None)
    if folder is None or not file:
        return False
    try:
        return Path(file).resolve().is_relative_to(folder)
    except (OSError, ValueError):
        return False


def _holds(module: Any, ours: set[int]) -> bool:
    if getattr(module, "__name__", "").startswith("paramtool"):
        return False
    namespace = getattr(module, "__dict__", {})
    return any(id(value) in ours for value in list(namespace.values()))


def missing_error(met: Sequence[MissingName], path: Path) -> MissingTorchFeature:
    """One error naming every missing torch name with its files and lines, and what to install."""
    packages = sorted({m.name.partition(".")[0] for m in met} - {"torch"})
    places: dict[str, list[str]] = {}
    for entry in met:
        places.setdefault(entry.name, []).append(_short(entry, path))
    listed = ", ".join(f"{name} ({_places(where)})" for name, where in places.items())
    install = " ".join(["torch", *packages])
    return MissingTorchFeature(
        f"{path}: needs what paramtool's core does not provide: {listed}; "
        f"install PyTorch (pip install {install}) to build it with PyTorch",
        names=list(met),
    )


def _places(where: list[str]) -> str:
    """``line 3`` / ``lines 3, 9`` / ``other.py:4, line 9``."""
    lines = [w.removeprefix("line ") for w in where if w.startswith("line ")]
    others = [w for w in where if not w.startswith("line ")]
    if lines:
        others.append(("line " if len(lines) == 1 else "lines ") + ", ".join(lines))
    return ", ".join(others)


def _short(entry: MissingName, path: Path) -> str:
    """``line N`` for the model file itself, ``file:N`` for another file."""
    try:
        same = Path(entry.file).resolve() == path.resolve()
    except (OSError, ValueError):
        same = False
    return f"line {entry.line}" if same else entry.where()
