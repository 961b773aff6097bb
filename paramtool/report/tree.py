"""The module tree: per-module totals, with runs of identical blocks collapsed.

``build_tree`` works from an :class:`~paramtool.report.inventory.Inventory`, so a model and a
checkpoint give the same kind of tree; a model adds its module class names. Consecutive
numbered children of one type and identical contents (the decoder layers of a transformer)
collapse into one node: ``layers.0-31: 32 x LlamaDecoderLayer, 202,383,360 each``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paramtool.report.inventory import BUFFER, Inventory, TensorRow


@dataclass
class TreeNode:
    """One module (or name prefix) and what it holds, its descendants included.

    Attributes:
        name: The label relative to the parent (``attn``, ``layers.0-31`` for a run).
        path: The full dotted prefix (of the first block, for a run).
        type: The module class name, or "" for a checkpoint.
        parameters: Elements of parameters whose canonical name lies below (once per block).
        buffers: Elements of buffers below (once per block).
        tied: Elements reached below through names tied to a tensor that lives elsewhere.
        repeat: How many identical blocks this node stands for (1 when not collapsed).
        children: Child nodes (those of the first block, for a run).
        tensors: The rows held directly by this node.
    """

    name: str
    path: str
    type: str = ""
    parameters: int = 0
    buffers: int = 0
    tied: int = 0
    repeat: int = 1
    children: list[TreeNode] = field(default_factory=list)
    tensors: list[TensorRow] = field(default_factory=list)

    @property
    def total_parameters(self) -> int:
        """Elements of parameters over all ``repeat`` blocks."""
        return self.parameters * self.repeat

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        """A JSON-ready dict, children cut below ``depth`` levels (None: all)."""
        more = depth is None or depth > 0
        return {
            "name": self.name,
            "path": self.path,
            "type": self.type,
            "parameters": self.parameters,
            "buffers": self.buffers,
            "tied": self.tied,
            "repeat": self.repeat,
            "children": [
                c.to_dict(None if depth is None else depth - 1) for c in self.children if more
            ],
        }


def build_tree(inventory: Inventory, collapse: bool = True) -> TreeNode:
    """The module tree of an inventory.

    Args:
        inventory: A model's or checkpoint's inventory.
        collapse: Collapse runs of identical numbered blocks.

    Returns:
        The root node (path ``""``), holding the totals of the inventory's rows. Modules
        without rows are kept (an activation), unless the inventory was filtered.
    """
    types = _module_types(inventory.model)
    root = TreeNode(name="", path="", type=types.get("", ""))
    nodes = {"": root}
    for path in types:
        if path:
            _node(nodes, path, types)
    for row in inventory.rows:
        prefix, _, _ = row.name.rpartition(".")
        _node(nodes, prefix, types).tensors.append(row)
    _sum(root)
    if inventory.pattern:
        _prune(root)
    if collapse:
        _collapse(root)
    return root


def _module_types(model: Any) -> dict[str, str]:
    if model is None:
        return {}
    try:
        pairs = model.named_modules(remove_duplicate=False)
    except TypeError:
        pairs = model.named_modules()
    return {name: type(module).__name__ for name, module in pairs}


def _node(nodes: dict[str, TreeNode], path: str, types: dict[str, str]) -> TreeNode:
    if path in nodes:
        return nodes[path]
    parent_path, _, name = path.rpartition(".")
    parent = _node(nodes, parent_path, types)
    node = TreeNode(name=name, path=path, type=types.get(path, ""))
    parent.children.append(node)
    nodes[path] = node
    return node


def _sum(node: TreeNode) -> list[TensorRow]:
    """Fill in the totals below ``node``; returns the alias rows found below it."""
    aliases = [row for row in node.tensors if row.tied_to is not None]
    for row in node.tensors:
        if row.tied_to is None:
            if row.kind == BUFFER:
                node.buffers += row.numel
            else:
                node.parameters += row.numel
    for child in node.children:
        aliases += _sum(child)
        node.parameters += child.parameters
        node.buffers += child.buffers
    prefix = f"{node.path}." if node.path else ""
    node.tied = sum(r.numel for r in aliases if not r.tied_to.startswith(prefix))
    return aliases


def _prune(node: TreeNode) -> bool:
    """Drop subtrees holding no rows (after filtering); True when ``node`` holds some."""
    node.children = [child for child in node.children if _prune(child)]
    return bool(node.tensors or node.children)


def _signature(node: TreeNode) -> tuple[Any, ...]:
    """What makes two blocks identical: type, tensors (relative names) and children."""
    tensors = tuple(
        (r.name.rpartition(".")[2], r.shape, r.dtype, r.kind, r.trainable, r.tied_to is None)
        for r in node.tensors
    )
    children = tuple((c.name, c.repeat, _signature(c)) for c in node.children)
    return (node.type, tensors, children)


def _collapse(node: TreeNode) -> None:
    for child in node.children:
        _collapse(child)
    merged: list[TreeNode] = []
    for child in node.children:
        last = merged[-1] if merged else None
        if last is not None and _continues(last, child):
            last.repeat += 1
            continue
        merged.append(child)
    for run in merged:
        if run.repeat > 1:
            first = int(run.name)
            run.name = f"{first}-{first + run.repeat - 1}"
    node.children = merged
    _fold_single_run(node)


def _continues(run: TreeNode, child: TreeNode) -> bool:
    """True when ``child`` is the next numbered block after ``run`` and identical to it."""
    if not (run.name.isdigit() and child.name.isdigit()):
        return False
    return int(child.name) == int(run.name) + run.repeat and _signature(run) == _signature(child)


def _fold_single_run(node: TreeNode) -> None:
    """A container holding one run and nothing else shows as ``layers.0-31`` directly."""
    for i, child in enumerate(node.children):
        only = child.children[0] if len(child.children) == 1 else None
        if only is not None and only.repeat > 1 and not child.tensors:
            only.name = f"{child.name}.{only.name}"
            node.children[i] = only
