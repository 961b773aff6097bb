"""``paramtool.nn.init``: PyTorch's initialisation functions, names, signatures and errors.

Each function fills a tensor in place and returns it. On a deferred tensor it only records a
recipe (``Tensor._set_recipe``): nothing is allocated until the values are needed, and then they
come from the tensor's stream (its parameter name and the seed). On a real tensor it fills now.
Zero-element tensors are left alone, as in PyTorch. The formulas (fan, gain, std, bound) live in
``paramtool.nn.init.fan``; the samplers in ``paramtool.core.recipes``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from paramtool.core import recipes
from paramtool.core.random import Generator
from paramtool.core.tensor import Tensor
from paramtool.errors import InitError
from paramtool.nn.init import fan as _fan
from paramtool.nn.init.variance_scaling import (
    glorot_normal_,
    glorot_uniform_,
    he_normal_,
    he_uniform_,
    lecun_normal_,
    lecun_uniform_,
    variance_scaling_,
)

calculate_gain = _fan.calculate_gain

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
    "variance_scaling_",
    "lecun_normal_",
    "lecun_uniform_",
    "glorot_normal_",
    "glorot_uniform_",
    "he_normal_",
    "he_uniform_",
]


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight laid out ``(out, in, *kernel)``.

    Raises:
        InitError: (a ValueError) fewer than two dimensions, with PyTorch's message.
    """
    return _fan.fan_in_and_fan_out(tensor.shape)


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    """``fan_in`` or ``fan_out`` of ``tensor`` as ``mode`` says.

    Raises:
        InitError: (a ValueError) an unknown mode, or fewer than two dimensions.
    """
    return int(_fan.correct_fan(tensor.shape, mode))


def _set(tensor: Tensor, recipe: recipes.Recipe, generator: Generator | None = None) -> Tensor:
    return tensor._set_recipe(recipe, generator)


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None
) -> Tensor:
    r"""Fill ``tensor`` with values drawn from :math:`\mathcal{U}(a, b)`.

    Args:
        tensor: An n-dimensional tensor.
        a: The lower bound.
        b: The upper bound.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: (a RuntimeError, as in PyTorch) ``a > b``.
    """
    return _set(tensor, recipes.uniform(a, b), generator)


def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None
) -> Tensor:
    r"""Fill ``tensor`` with values drawn from :math:`\mathcal{N}(\text{mean}, \text{std}^2)`.

    Args:
        tensor: An n-dimensional tensor.
        mean: The mean.
        std: The standard deviation.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: (a RuntimeError, as in PyTorch) ``std < 0``.
    """
    return _set(tensor, recipes.normal(mean, std), generator)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Generator | None = None,
) -> Tensor:
    r"""Fill ``tensor`` from :math:`\mathcal{N}(\text{mean}, \text{std}^2)` truncated to [a, b].

    ``a`` and ``b`` are absolute bounds (not multiples of ``std``). Every value lies inside
    ``[a, b]`` in the tensor's dtype, for any ``std`` and for float16/bfloat16 outputs: the
    bounds are rounded inwards to values the dtype holds, out-of-range draws are redrawn, and
    narrow or far-tail intervals are sampled through the inverse CDF.

    Args:
        tensor: An n-dimensional tensor.
        mean: The mean of the normal distribution.
        std: The standard deviation of the normal distribution.
        a: The minimum value.
        b: The maximum value.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: ``std`` is not positive, or ``b < a``.
    """
    if not std > 0:
        raise InitError(f"trunc_normal_: std must be positive, got {std}")
    if b < a:
        raise InitError(f"trunc_normal_: expected a <= b, got a={a}, b={b}")
    if a == b:
        return _set(tensor, recipes.Constant(float(a)))
    return _set(tensor, recipes.TruncNormal(float(mean), float(std), float(a), float(b)), generator)


def constant_(tensor: Tensor, val: float) -> Tensor:
    r"""Fill ``tensor`` with the value :math:`\text{val}`.

    Args:
        tensor: An n-dimensional tensor.
        val: The value.

    Returns:
        ``tensor``.
    """
    return _set(tensor, recipes.Constant(val))


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with ones; returns it."""
    return _set(tensor, recipes.Constant(1))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with zeros; returns it."""
    return _set(tensor, recipes.Constant(0))


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-d ``tensor`` with the identity matrix (a Linear layer passing its inputs on).

    Raises:
        InitError: (a ValueError) ``tensor`` is not 2-d.
    """
    if tensor.dim() != 2:
        raise InitError("Only tensors with 2 dimensions are supported")
    return _set(tensor, recipes.Eye())


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a {3, 4, 5}-d convolution weight with the Dirac delta.

    The convolution then passes as many input channels through unchanged as it can; with
    ``groups > 1``, each group of output channels does so for its own inputs.

    Args:
        tensor: A {3, 4, 5}-dimensional tensor.
        groups: The number of groups of the convolution.

    Returns:
        ``tensor``.

    Raises:
        InitError: (a ValueError) the wrong number of dimensions, or ``groups`` not dividing
            dimension 0 (PyTorch's messages).
    """
    if tensor.dim() not in (3, 4, 5):
        raise InitError("Only tensors with 3, 4, or 5 dimensions are supported")
    if tensor.shape[0] % groups != 0:
        raise InitError("dim 0 must be divisible by groups")
    return _set(tensor, recipes.Dirac(int(groups)))


def xavier_uniform_(
    tensor: Tensor, gain: float = 1.0, generator: Generator | None = None
) -> Tensor:
    r"""Fill ``tensor`` from :math:`\mathcal{U}(-a, a)`, Glorot & Bengio (2010).

    .. math::
        a = \text{gain} \times \sqrt{\frac{6}{\text{fan\_in} + \text{fan\_out}}}

    "Understanding the difficulty of training deep feedforward neural networks".

    Args:
        tensor: An n-dimensional tensor, n >= 2.
        gain: A scaling factor.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: (a ValueError) fewer than two dimensions.
    """
    _calculate_fan_in_and_fan_out(tensor)
    if tensor.numel() == 0:
        return tensor
    bound = _fan.uniform_bound(_fan.xavier_std(tensor.shape, gain))
    return _set(tensor, recipes.Uniform(-bound, bound), generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    r"""Fill ``tensor`` from :math:`\mathcal{N}(0, \text{std}^2)`, Glorot & Bengio (2010).

    .. math::
        \text{std} = \text{gain} \times \sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}

    Args:
        tensor: An n-dimensional tensor, n >= 2.
        gain: A scaling factor.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: (a ValueError) fewer than two dimensions.
    """
    _calculate_fan_in_and_fan_out(tensor)
    if tensor.numel() == 0:
        return tensor
    std = _fan.xavier_std(tensor.shape, gain)
    return _set(tensor, recipes.Normal(0.0, std), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    """The kaiming std, or None (with PyTorch's warning) for a zero-element tensor."""
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    return _fan.kaiming_std(tensor.shape, a, mode, nonlinearity)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    r"""Fill ``tensor`` from :math:`\mathcal{U}(-\text{bound}, \text{bound})`, He et al. (2015).

    .. math::
        \text{bound} = \text{gain} \times \sqrt{\frac{3}{\text{fan\_mode}}}

    "Delving deep into rectifiers: Surpassing human-level performance on ImageNet
    classification". Fans assume the ``(out, in, *kernel)`` layout (``x @ w.T``).

    Args:
        tensor: An n-dimensional tensor, n >= 2.
        a: The negative slope of the rectifier after this layer (``leaky_relu`` only).
        mode: ``"fan_in"`` keeps the forward pass's variance, ``"fan_out"`` the backward's.
        nonlinearity: The ``nn.functional`` name of the nonlinearity.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: (a ValueError) an unknown mode or nonlinearity, or fewer than 2 dimensions.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = _fan.uniform_bound(std)
    return _set(tensor, recipes.Uniform(-bound, bound), generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    r"""Fill ``tensor`` from :math:`\mathcal{N}(0, \text{std}^2)`, He et al. (2015).

    .. math::
        \text{std} = \frac{\text{gain}}{\sqrt{\text{fan\_mode}}}

    Args:
        tensor: An n-dimensional tensor, n >= 2.
        a: The negative slope of the rectifier after this layer (``leaky_relu`` only).
        mode: ``"fan_in"`` keeps the forward pass's variance, ``"fan_out"`` the backward's.
        nonlinearity: The ``nn.functional`` name of the nonlinearity.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: (a ValueError) an unknown mode or nonlinearity, or fewer than 2 dimensions.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return _set(tensor, recipes.Normal(0.0, std), generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Generator | None = None) -> Tensor:
    r"""Fill ``tensor`` with a (semi-)orthogonal matrix, Saxe et al. (2013).

    "Exact solutions to the nonlinear dynamics of learning in deep linear neural networks".
    Dimensions after the first are flattened; the matrix is Q of the QR factorisation of a
    standard normal matrix, signs corrected so Q is uniformly (Haar) distributed, times ``gain``.

    Args:
        tensor: An n-dimensional tensor, n >= 2.
        gain: A scaling factor.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: (a ValueError) fewer than two dimensions.
    """
    if tensor.dim() < 2:
        raise InitError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    return _set(tensor, recipes.Orthogonal(float(gain)), generator)


def sparse_(
    tensor: Tensor, sparsity: float, std: float = 0.01, generator: Generator | None = None
) -> Tensor:
    r"""Fill a 2-d ``tensor`` as a sparse matrix, Martens (2010).

    "Deep learning via Hessian-free optimization": values from :math:`\mathcal{N}(0,
    \text{std}^2)`, then :math:`\lceil \text{sparsity} \times \text{rows} \rceil` elements of
    every column, at random rows, set to zero.

    Args:
        tensor: A 2-dimensional tensor.
        sparsity: The fraction of elements in each column set to zero.
        std: The standard deviation of the non-zero values.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: (a ValueError) ``tensor`` is not 2-d.
    """
    if tensor.dim() != 2:
        raise InitError("Only tensors with 2 dimensions are supported")
    return _set(tensor, recipes.Sparse(float(sparsity), float(std)), generator)


def _deprecated(function: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """PyTorch's old name without the trailing underscore, warning as PyTorch does."""
    old, new = function.__name__[:-1], function.__name__

    @functools.wraps(function)
    def alias(*args: Any, **kwargs: Any) -> Tensor:
        warnings.warn(
            f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new}`.",
            FutureWarning,
            stacklevel=2,
        )
        return function(*args, **kwargs)

    alias.__name__ = old
    alias.__doc__ = f"Deprecated alias of :func:`{new}`."
    return alias


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
