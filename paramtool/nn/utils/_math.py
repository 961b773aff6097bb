"""The array formulas weight and spectral normalisation share (on the tensor's array module)."""

from __future__ import annotations

from typing import Any

from paramtool.core.tensor import Tensor, from_array


def norm_except_dim(weight: Tensor, dim: int | None) -> Tensor:
    """The 2-norm of ``weight`` over every dimension but ``dim`` (all of them for None or -1).

    The result keeps ``dim`` and has size 1 elsewhere (``torch.norm_except_dim``); for None/-1
    it is a 0-d tensor.
    """
    xp, array = weight._xp(), weight._array()
    if dim is None or dim == -1:
        return from_array(xp.sqrt(xp.sum(array * array)).astype(array.dtype))
    dim = dim % array.ndim
    axes = tuple(i for i in range(array.ndim) if i != dim)
    norm = xp.sqrt(xp.sum(array * array, axis=axes, keepdims=True))
    return from_array(norm.astype(array.dtype))


def as_matrix(weight: Tensor, dim: int) -> Any:
    """``weight`` as a 2-D array with ``dim`` first and the rest flattened."""
    xp, array = weight._xp(), weight._array()
    return xp.moveaxis(array, dim, 0).reshape(array.shape[dim], -1)


def normalize(xp: Any, vector: Any, eps: float) -> Any:
    """``vector / max(||vector||, eps)`` (``F.normalize`` of a 1-D array)."""
    return vector / max(float(xp.linalg.norm(vector)), eps)


def power_iteration(
    xp: Any, matrix: Any, u: Any, v: Any, iterations: int, eps: float
) -> tuple[Any, Any]:
    """Refine the leading singular vectors ``u``, ``v`` of ``matrix`` (spectral normalisation)."""
    for _ in range(iterations):
        u = normalize(xp, matrix @ v, eps)
        v = normalize(xp, matrix.T @ u, eps)
    return u, v


def random_unit(weight: Tensor, size: int, eps: float) -> Tensor:
    """A random unit vector of ``size`` on ``weight``'s device and dtype (PyTorch's start)."""
    from paramtool.core import factories  # noqa: PLC0415 - factories import tensor

    start = factories.randn(size, dtype=weight.dtype, device=weight.device)
    return from_array(normalize(start._xp(), start._array(), eps))
