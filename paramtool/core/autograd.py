"""Gradient-mode switches. paramtool computes no gradients, so these only mirror PyTorch's API,
letting model code written with ``with torch.no_grad():`` run unchanged."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

_enabled = True


def is_grad_enabled() -> bool:
    """Whether gradient mode is on (it is never used for computation here)."""
    return _enabled


@contextlib.contextmanager
def _grad_mode(mode: bool) -> Iterator[None]:
    global _enabled
    previous, _enabled = _enabled, mode
    try:
        yield
    finally:
        _enabled = previous


class no_grad:  # noqa: N801 - PyTorch's name
    """Context manager and decorator that turns gradient mode off, like ``torch.no_grad``."""

    def __enter__(self) -> None:
        self._ctx = _grad_mode(False)
        self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _grad_mode(False):
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):  # noqa: N801
    """Context manager and decorator that turns gradient mode on."""

    def __enter__(self) -> None:
        self._ctx = _grad_mode(True)
        self._ctx.__enter__()


inference_mode = no_grad
