"""The shape of a model's module tree: refuse cycles and depths traversals cannot handle.

PyTorch's traversals (``state_dict``, ``named_modules``, ``repr``) recurse once per level, so a
module that contains itself never ends and a tree thousands of levels deep exhausts Python's
stack. Both are found here, without recursion, before anything traverses the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paramtool.errors import ModelLoadError

#: Deepest module tree accepted (real models are a few dozen levels deep at most).
MAX_DEPTH = 200


def check_structure(model: Any, path: Path | str, max_depth: int = MAX_DEPTH) -> None:
    """Raise when ``model``'s tree of submodules is cyclic or deeper than ``max_depth``.

    Works on any object keeping its children in ``_modules`` (paramtool's and torch's Module).

    Raises:
        ModelLoadError: naming the module that contains an ancestor, or the depth found.
    """
    done: set[int] = set()
    on_path = {id(model): "(root)"}
    names: list[str] = []
    stack = [(model, iter(_children(model)))]
    while stack:
        module, children = stack[-1]
        for name, child in children:
            if id(child) in on_path:
                where = ".".join(names + [name])
                raise ModelLoadError(
                    f"{path}: the model's modules form a cycle: {where} is {on_path[id(child)]}, "
                    "which contains it"
                )
            if id(child) in done:
                continue
            if len(stack) >= max_depth:
                raise ModelLoadError(
                    f"{path}: the model's modules are nested more than {max_depth} levels deep "
                    f"(at {'.'.join(names[:3])}...); paramtool supports up to {max_depth}"
                )
            names.append(name)
            on_path[id(child)] = ".".join(names)
            stack.append((child, iter(_children(child))))
            break
        else:
            stack.pop()
            on_path.pop(id(module), None)
            done.add(id(module))
            if names:
                names.pop()


def _children(module: Any) -> list[tuple[str, Any]]:
    registry = getattr(module, "_modules", None) or {}
    return [(name, child) for name, child in registry.items() if child is not None]
