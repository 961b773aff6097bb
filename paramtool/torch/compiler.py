"""``torch.compiler`` and ``torch._dynamo``: compilation hints, all pass-through.

paramtool runs a model file as Python; marking a function for (or against) compilation changes
nothing about the model's parameters.
"""

from __future__ import annotations

from types import SimpleNamespace

from paramtool.torch.functions import pass_through

disable = pass_through
allow_in_graph = pass_through
assume_constant_result = pass_through
mark_static_address = pass_through
config = SimpleNamespace(cache_size_limit=8, suppress_errors=False)


def is_compiling() -> bool:
    """Never compiling: the file runs as Python."""
    return False


is_dynamo_compiling = is_compiling


def reset() -> None:
    """Nothing compiled to forget."""


__all__ = [
    "allow_in_graph", "assume_constant_result", "config", "disable", "is_compiling",
    "is_dynamo_compiling", "mark_static_address", "reset",
]  # fmt: skip
