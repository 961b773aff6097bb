"""The package layout: imports only go downward (``core < nn < checkpoint, models < export,
report < cli``), so a reader can guess a folder from its concept and lower folders never depend
on higher ones. Every import is checked, including the lazy ones inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "paramtool"

# Each top folder (or root module) and its level; a module may import its own level or lower.
# ``torch`` holds the names ``import torch`` gives a model file: bound to core/nn/optim objects.
LEVELS = {
    "errors": 0,
    "core": 1,
    "nn": 2,
    "optim": 2,
    "torch": 3,
    "checkpoint": 3,
    "models": 4,
    "export": 5,
    "report": 5,
    "cli": 6,
    "__main__": 6,
}
# ``import paramtool`` (the torch-shaped top level) sits at the nn level.
ROOT_LEVEL = 2


def _level(module: str) -> int:
    parts = module.split(".")
    assert parts[0] == "paramtool"
    if len(parts) == 1:
        return ROOT_LEVEL
    return LEVELS[parts[1]]


def _modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE
    )


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "paramtool"
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "paramtool":
                continue
            if node.module == "paramtool":  # from paramtool import nn -> paramtool.nn
                found += [(node.lineno, f"paramtool.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_every_top_folder_has_a_level() -> None:
    tops = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    tops -= {"__init__", "py.typed"}
    unknown = {t for t in tops if t not in LEVELS and not t.endswith(".json")}
    assert not unknown, f"give these a level in LEVELS: {sorted(unknown)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_downward(path: Path) -> None:
    source = _name(path)
    upward = []
    for line, target in _imports(path):
        top = target.split(".")
        if len(top) > 1 and top[1] not in LEVELS:
            # ``from paramtool import __version__`` and other root attributes
            target = "paramtool"
        if _level(target) > _level(source):
            upward.append(f"{path.name}:{line} imports {target}")
    assert not upward, "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from paramtool.cli import main\n")
    assert _imports(bad) == [(2, "paramtool.cli")]
    assert _level("paramtool.cli") > _level("paramtool.core.tensor")
