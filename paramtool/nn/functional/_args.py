"""Argument handling shared by the spatial and recurrent functional ops."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from paramtool.core import autograd


def expand(value: Any, n: int, name: str, op: str = "the operation") -> tuple[int, ...]:
    """``value`` as an n-tuple: an int repeated, or a sequence of length 1 or n.

    Raises:
        RuntimeError: a sequence of another length (PyTorch's message).
    """
    if isinstance(value, Iterable) and not isinstance(value, str):
        values = tuple(int(v) for v in value)
        if len(values) == 1:
            return values * n
        if len(values) != n:
            raise RuntimeError(
                f"expected {name} to be a single integer value or a list of {n} values to match "
                f"{op}, but got {name}={list(values)}"
            )
        return values
    return (int(value),) * n


def needs_grad(value: Any) -> bool:
    """Whether an op input will receive a gradient (a Tensor requiring grad, grad mode on)."""
    return autograd.is_grad_enabled() and bool(getattr(value, "requires_grad", False))


def array_of(value: Any) -> Any:
    """The backing array of a Tensor (None stays None)."""
    return None if value is None else value._array()


def check_dims(input: Any, dims: int, op: str) -> bool:  # noqa: A002 - PyTorch's name
    """Check ``input`` is unbatched ``dims + 1``-d or batched ``dims + 2``-d; True if unbatched.

    Raises:
        RuntimeError: another number of dimensions (PyTorch's message).
    """
    if input.dim() not in (dims + 1, dims + 2):
        raise RuntimeError(
            f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to {op}, but got "
            f"input of size: {list(input.shape)}"
        )
    return input.dim() == dims + 1
