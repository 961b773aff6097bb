"""``parameters_to_vector`` / ``vector_to_parameters``: all parameters as one flat tensor."""

from __future__ import annotations

from collections.abc import Iterable

from paramtool.core.tensor import Tensor, from_array


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters' values flattened and concatenated, in order."""
    params = list(parameters)
    xp = params[0]._xp()
    return from_array(xp.concatenate([p._array().reshape(-1) for p in params]))


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters, in order."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    flat, start = vec._array(), 0
    for p in parameters:
        n = p.numel()
        p.data = from_array(flat[start : start + n].reshape(tuple(p.shape)).copy())
        start += n
