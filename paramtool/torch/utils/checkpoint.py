"""``torch.utils.checkpoint``: activation checkpointing runs the function directly.

Recomputing activations in the backward pass saves memory and gives the same values, so
running the function once is a faithful stand-in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool | None = None,
               **kwargs: Any) -> Any:  # fmt: skip
    """``torch.utils.checkpoint.checkpoint``: ``function(*args, **kwargs)``."""
    kwargs.pop("preserve_rng_state", None)
    kwargs.pop("determinism_check", None)
    kwargs.pop("debug", None)
    kwargs.pop("context_fn", None)
    return function(*args, **kwargs)


def checkpoint_sequential(functions: Sequence[Callable[..., Any]] | Any, segments: int,
                          input: Any, use_reentrant: bool | None = None, **kwargs: Any) -> Any:  # noqa: A002 # fmt: skip
    """``torch.utils.checkpoint.checkpoint_sequential``: the functions in order."""
    modules = list(functions.children()) if hasattr(functions, "children") else list(functions)
    for module in modules:
        input = module(input)
    return input
