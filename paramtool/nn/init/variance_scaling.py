"""Keras-style variance scaling, and the lecun / glorot / he presets built on it.

One function covers the scaled initialisers of Keras (``tf.keras.initializers.VarianceScaling``):
the variance is ``scale / fan`` with the fan chosen by ``mode``, and the values come from a
truncated normal, a normal or a uniform distribution. Fans follow PyTorch's layout convention
(``(out, in, *kernel)``), not Keras' (``(*kernel, in, out)``), so a PyTorch weight gets the fan
its layer really has.
"""

from __future__ import annotations

from paramtool.core import recipes
from paramtool.core.random import Generator
from paramtool.core.tensor import Tensor
from paramtool.errors import InitError
from paramtool.nn.init import fan as _fan

DISTRIBUTIONS = ("truncated_normal", "normal", "untruncated_normal", "uniform")


def variance_scaling_recipe(
    shape: tuple[int, ...], scale: float, mode: str, distribution: str
) -> recipes.Recipe:
    """The recipe of :func:`variance_scaling_` for a tensor of ``shape``.

    Raises:
        InitError: a non-positive scale, an unknown mode or distribution, or fewer than 2 dims.
    """
    if distribution not in DISTRIBUTIONS:
        raise InitError(
            f"variance_scaling: unknown distribution {distribution!r}; "
            f"expected one of {', '.join(DISTRIBUTIONS)}"
        )
    std = _fan.variance_scaling_std(shape, scale, mode)
    if distribution == "uniform":
        bound = _fan.uniform_bound(std)
        return recipes.Uniform(-bound, bound)
    if distribution == "truncated_normal":
        # Keras: the std of a normal truncated at +-2 std is 0.8796 of it; correct for that.
        std /= _fan.TRUNCATED_NORMAL_STD
        return recipes.TruncNormal(0.0, std, -2.0 * std, 2.0 * std)
    return recipes.Normal(0.0, std)


def variance_scaling_(
    tensor: Tensor,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    generator: Generator | None = None,
) -> Tensor:
    r"""Fill ``tensor`` with values of variance :math:`\text{scale} / \text{fan}` (Keras).

    With :math:`n` = fan_in, fan_out or (fan_in + fan_out) / 2 as ``mode`` says:

    * ``truncated_normal``: :math:`\mathcal{N}(0, \sigma^2)` truncated to :math:`\pm 2\sigma`,
      :math:`\sigma = \sqrt{\text{scale}/n} / 0.8796`, so that the truncated values have
      std :math:`\sqrt{\text{scale}/n}`;
    * ``normal`` (``untruncated_normal``): :math:`\mathcal{N}(0, \text{scale}/n)`;
    * ``uniform``: :math:`\mathcal{U}(-l, l)`, :math:`l = \sqrt{3\,\text{scale}/n}`.

    ``scale=1, fan_in`` is LeCun et al. (1998), "Efficient BackProp"; ``scale=1, fan_avg`` is
    Glorot & Bengio (2010); ``scale=2, fan_in`` is He et al. (2015).

    Args:
        tensor: An n-dimensional tensor, n >= 2.
        scale: The scaling factor (positive).
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"``, ``"normal"`` or ``"uniform"``.
        generator: The generator to key the values by (default: the global stream).

    Returns:
        ``tensor``.

    Raises:
        InitError: a non-positive scale, an unknown mode or distribution, or fewer than 2 dims.
    """
    recipe = variance_scaling_recipe(tuple(tensor.shape), scale, mode, distribution)
    if tensor.numel() == 0:
        return tensor
    return tensor._set_recipe(recipe, generator)


def _preset(name: str, scale: float, mode: str, distribution: str, paper: str):  # noqa: ANN202
    def init(tensor: Tensor, generator: Generator | None = None) -> Tensor:
        return variance_scaling_(tensor, scale, mode, distribution, generator)

    init.__name__ = init.__qualname__ = name
    init.__doc__ = (
        f"Variance scaling with scale={scale:g}, mode={mode!r}, distribution={distribution!r}"
        f" ({paper}).\n\nArgs:\n    tensor: An n-dimensional tensor, n >= 2.\n"
        "    generator: The generator to key the values by.\n\nReturns:\n    ``tensor``.\n"
    )
    return init


lecun_normal_ = _preset("lecun_normal_", 1.0, "fan_in", "truncated_normal", "LeCun et al. 1998")
lecun_uniform_ = _preset("lecun_uniform_", 1.0, "fan_in", "uniform", "LeCun et al. 1998")
glorot_normal_ = _preset("glorot_normal_", 1.0, "fan_avg", "truncated_normal", "Glorot 2010")
glorot_uniform_ = _preset("glorot_uniform_", 1.0, "fan_avg", "uniform", "Glorot 2010")
he_normal_ = _preset("he_normal_", 2.0, "fan_in", "truncated_normal", "He et al. 2015")
he_uniform_ = _preset("he_uniform_", 2.0, "fan_in", "uniform", "He et al. 2015")
