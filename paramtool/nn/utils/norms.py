"""Weight and spectral normalisation in PyTorch's original style (``torch.nn.utils.weight_norm``).

The module's ``weight`` parameter is replaced by ``weight_g`` and ``weight_v`` (weight norm,
Salimans & Kingma 2016) or by ``weight_orig`` with the buffers ``weight_u`` and ``weight_v``
(spectral norm, Miyato et al. 2018), registered in PyTorch's order; ``weight`` becomes a plain
attribute recomputed before each forward.
"""

from __future__ import annotations

from typing import Any

from paramtool.core.tensor import Tensor, from_array
from paramtool.nn.module import Module
from paramtool.nn.parameter import Parameter
from paramtool.nn.utils import _math


class WeightNorm:
    """The forward pre-hook of :func:`weight_norm`: ``weight = g * v / ||v||``."""

    def __init__(self, name: str, dim: int | None) -> None:
        self.name, self.dim = name, -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Tensor:
        """``g * v / norm_except_dim(v)`` from the module's ``<name>_g`` and ``<name>_v``."""
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / _math.norm_except_dim(v, self.dim))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Replace ``module.<name>`` by ``<name>_g`` (its norm) and ``<name>_v`` (its direction).

    Args:
        module: The layer.
        name: The parameter to normalise.
        dim: The dimension kept by the norm; None normalises the whole tensor.

    Returns:
        ``module``, changed in place (as PyTorch does).
    """
    hook = WeightNorm(name, dim)
    weight = module._parameters[name]
    g = _math.norm_except_dim(weight, hook.dim)
    del module._parameters[name]
    module.register_parameter(name + "_g", Parameter(g))
    module.register_parameter(name + "_v", Parameter(weight.data))
    setattr(module, name, hook.compute_weight(module))
    _add_pre_hook(module, hook)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`weight_norm`: ``<name>`` is a parameter again, holding ``g * v / ||v||``."""
    hook = _find_hook(module, WeightNorm, name)
    weight = hook.compute_weight(module)
    del module._parameters[name + "_g"], module._parameters[name + "_v"]
    _forget_plain(module, name)
    module.register_parameter(name, Parameter(weight.data))
    return module


class SpectralNorm:
    """The forward pre-hook of :func:`spectral_norm`: ``weight = weight_orig / sigma``."""

    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float) -> None:
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        """``weight_orig / (u . W v)``, first refining ``u`` and ``v`` in training mode."""
        weight = getattr(module, self.name + "_orig")
        u_buf, v_buf = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        xp, matrix = weight._xp(), _math.as_matrix(weight, self.dim)
        u, v = u_buf._array(), v_buf._array()
        if do_power_iteration:
            u, v = _math.power_iteration(xp, matrix, u, v, self.n_power_iterations, self.eps)
            u_buf.copy_(from_array(u))
            v_buf.copy_(from_array(v))
        sigma = float(u @ (matrix @ v))
        return weight / sigma

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))


def spectral_norm(
    module: Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> Module:
    """Replace ``module.<name>`` by ``<name>_orig`` with the buffers ``<name>_u``, ``<name>_v``.

    Args:
        module: The layer.
        name: The parameter to normalise.
        n_power_iterations: Power iterations per forward pass in training mode.
        eps: Added for numerical stability when normalising.
        dim: The output dimension (default 0, or 1 for the ConvTranspose layers).

    Returns:
        ``module``, changed in place.
    """
    if n_power_iterations <= 0:
        raise ValueError(
            "Expected n_power_iterations to be positive, but got "
            f"n_power_iterations={n_power_iterations}"
        )
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    hook = SpectralNorm(name, n_power_iterations, dim, eps)
    weight = module._parameters[name]
    rows = weight.shape[dim]
    cols = weight.numel() // rows
    u, v = _math.random_unit(weight, rows, eps), _math.random_unit(weight, cols, eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    object.__setattr__(module, name, weight.data)
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    _add_pre_hook(module, hook)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`spectral_norm`: ``<name>`` is a parameter again, holding the normalised weight."""
    hook = _find_hook(module, SpectralNorm, name)
    weight = hook.compute_weight(module, do_power_iteration=False)
    del module._parameters[name + "_orig"]
    del module._buffers[name + "_u"], module._buffers[name + "_v"]
    _forget_plain(module, name)
    module.register_parameter(name, Parameter(weight.data))
    return module


def _add_pre_hook(module: Module, hook: Any) -> None:
    module.__dict__.setdefault("_normalization_hooks", []).append(hook)
    register = getattr(module, "register_forward_pre_hook", None)
    hook.handle = register(hook) if register is not None else None


def _find_hook(module: Module, kind: type, name: str) -> Any:
    for hook in module.__dict__.get("_normalization_hooks", []):
        if isinstance(hook, kind) and hook.name == name:
            module.__dict__["_normalization_hooks"].remove(hook)
            if hook.handle is not None:
                hook.handle.remove()
            return hook
    raise ValueError(f"{kind.__name__.lower()} of '{name}' not found in {module}")


def _forget_plain(module: Module, name: str) -> None:
    module.__dict__.pop(name, None)
