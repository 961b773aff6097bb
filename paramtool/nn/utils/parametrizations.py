"""``torch.nn.utils.parametrizations``: weight and spectral normalisation as parametrizations.

``weight_norm`` stores ``parametrizations.weight.original0`` (the norm g) and ``original1``
(the direction v); ``spectral_norm`` stores ``parametrizations.weight.original`` with the
buffers ``parametrizations.weight.0._u`` and ``._v`` — PyTorch's names and order.
"""

from __future__ import annotations

from paramtool.core.tensor import Tensor, from_array
from paramtool.nn.module import Module
from paramtool.nn.utils import _math
from paramtool.nn.utils.parametrize import register_parametrization


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_v * (weight_g / _math.norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _math.norm_except_dim(weight, self.dim), weight


class _SpectralNorm(Module):
    def __init__(
        self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(
                "Dimension out of range (expected to be in range of "
                f"[-{ndim}, {ndim - 1}] but got {dim})"
            )
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but got "
                f"n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps, self.n_power_iterations = eps, n_power_iterations
        if ndim > 1:
            rows = weight.shape[self.dim]
            u = _math.random_unit(weight, rows, eps)
            v = _math.random_unit(weight, weight.numel() // rows, eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            self._power_method(15, weight)

    def _power_method(self, iterations: int, weight: Tensor) -> None:
        xp, matrix = weight._xp(), _math.as_matrix(weight, self.dim)
        u, v = _math.power_iteration(xp, matrix, self._u._array(), self._v._array(),
                                     iterations, self.eps)  # fmt: skip
        self._u.copy_(from_array(u))
        self._v.copy_(from_array(v))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return weight / float(weight._xp().linalg.norm(weight._array()))
        if self.training:
            self._power_method(self.n_power_iterations, weight)
        matrix = _math.as_matrix(weight, self.dim)
        sigma = float(self._u._array() @ (matrix @ self._v._array()))
        return weight / sigma


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation (Salimans & Kingma 2016) as a parametrization of ``module.<name>``."""
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


def spectral_norm(
    module: Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> Module:
    """Spectral normalisation (Miyato et al. 2018) as a parametrization of ``module.<name>``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    return register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps)
    )


__all__ = ["spectral_norm", "weight_norm"]
