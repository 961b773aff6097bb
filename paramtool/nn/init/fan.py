"""Fans, gains and the standard deviations built from them.

The small pure steps behind every scaled initialisation: the fan of a weight shape, the gain of
a nonlinearity, and the std (or uniform bound) that a scheme derives from the two. The
conventions are PyTorch's (``torch.nn.init``): a weight is laid out ``(out, in, *kernel)``, so
``fan_in = shape[1] * prod(kernel)`` and ``fan_out = shape[0] * prod(kernel)``. ConvTranspose
weights, laid out ``(in, out / groups, *kernel)``, follow the same formula on their own layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from paramtool.errors import InitError

#: Nonlinearities whose recommended gain is 1.
_UNIT_GAIN = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)

#: Fan modes of kaiming; variance scaling adds ``fan_avg``.
FAN_MODES = ("fan_in", "fan_out")

#: Keras' correction making a normal truncated at +-2 std have unit std:
#: the std of the standard normal truncated to [-2, 2].
TRUNCATED_NORMAL_STD = 0.87962566103423978


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""Return the recommended gain for a nonlinearity (PyTorch's table).

    ================= =========================================
    nonlinearity      gain
    ================= =========================================
    linear, conv*     :math:`1`
    sigmoid           :math:`1`
    tanh              :math:`5/3`
    relu              :math:`\sqrt{2}`
    leaky_relu        :math:`\sqrt{2 / (1 + \text{negative\_slope}^2)}`
    selu              :math:`3/4`
    ================= =========================================

    Args:
        nonlinearity: The ``nn.functional`` name of the nonlinearity.
        param: The negative slope of ``leaky_relu`` (default 0.01); ignored otherwise.

    Returns:
        The gain.

    Raises:
        InitError: (a ValueError) an unsupported nonlinearity, or a slope that is not a number.
    """
    if nonlinearity in _UNIT_GAIN:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, int | float) and not isinstance(param, bool):
            slope = param
        else:
            raise InitError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise InitError(f"Unsupported nonlinearity {nonlinearity}")


def fan_in_and_fan_out(shape: Sequence[int]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight shape ``(out, in, *kernel)``.

    Args:
        shape: The weight's shape; at least two dimensions.

    Returns:
        ``(shape[1] * receptive, shape[0] * receptive)`` with ``receptive = prod(shape[2:])``.

    Raises:
        InitError: (a ValueError) fewer than two dimensions, with PyTorch's message.
    """
    if len(shape) < 2:
        raise InitError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = math.prod(int(s) for s in shape[2:])
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def check_mode(mode: str, valid: Sequence[str] = FAN_MODES) -> str:
    """Return ``mode`` lower-cased, or raise PyTorch's error for an unknown fan mode.

    Raises:
        InitError: (a ValueError) ``mode`` is not one of ``valid``.
    """
    mode = mode.lower()
    if mode not in valid:
        raise InitError(f"Mode {mode} not supported, please use one of {list(valid)}")
    return mode


def correct_fan(shape: Sequence[int], mode: str, valid: Sequence[str] = FAN_MODES) -> float:
    """Return the fan that ``mode`` selects: fan_in, fan_out, or (fan_avg) their mean.

    Raises:
        InitError: an unknown mode, or a shape with fewer than two dimensions.
    """
    mode = check_mode(mode, valid)
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2.0
    return fan_in if mode == "fan_in" else fan_out


def xavier_std(shape: Sequence[int], gain: float = 1.0) -> float:
    r"""Glorot & Bengio (2010): :math:`\text{gain}\sqrt{2 / (\text{fan\_in} + \text{fan\_out})}`."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def kaiming_std(
    shape: Sequence[int], a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> float:
    r"""He et al. (2015): :math:`\text{gain} / \sqrt{\text{fan\_mode}}`.

    Raises:
        InitError: an unknown mode or nonlinearity, or a shape with fewer than two dimensions.
    """
    fan = correct_fan(shape, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def uniform_bound(std: float) -> float:
    r"""The bound of :math:`\mathcal{U}(-b, b)` with standard deviation ``std``: :math:`\sqrt{3}\,\text{std}`."""
    return math.sqrt(3.0) * std


def variance_scaling_std(shape: Sequence[int], scale: float = 1.0, mode: str = "fan_in") -> float:
    r"""Keras' variance scaling: :math:`\sqrt{\text{scale} / \text{fan}}`, fan by ``mode``.

    Raises:
        InitError: ``scale`` not positive, an unknown mode, or fewer than two dimensions.
    """
    if not scale > 0:
        raise InitError(f"variance_scaling: scale must be positive, got {scale}")
    fan = correct_fan(shape, mode, (*FAN_MODES, "fan_avg"))
    return math.sqrt(scale / max(1.0, fan))
