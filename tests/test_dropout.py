"""Dropout: masks drawn from paramtool's seeded stream (not PyTorch's), so their statistics are
what is checked: the dropped fraction against the binomial law, the 1/(1-p) scaling, whole
channels for dropout2d, SELU's mean and variance kept by alpha dropout, and reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

import paramtool
from paramtool import nn
from paramtool.nn import functional as F

N = 200_000


def _within(observed: float, p: float, n: int, sigmas: float = 5.0) -> bool:
    """Whether a binomial fraction is within ``sigmas`` standard deviations of ``p``."""
    return abs(observed - p) <= sigmas * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropped_fraction_scaling_and_gradient(p: float) -> None:
    paramtool.manual_seed(1)
    x = paramtool.ones(N, requires_grad=True)
    y = F.dropout(x, p=p, training=True)
    values = y.detach().numpy()
    dropped = float((values == 0).mean())
    assert _within(dropped, p, N)
    np.testing.assert_allclose(values[values != 0], 1 / (1 - p), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # d(x * mask / (1-p))/dx


def test_eval_is_identity_and_p_bounds() -> None:
    x = paramtool.randn(4, 5)
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x
    with pytest.raises(
        ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"
    ):
        F.dropout(x, 1.5)
    assert float(F.dropout(x, 1.0).abs().sum()) == 0.0


def test_same_seed_same_mask_other_seed_other_mask() -> None:
    x = paramtool.ones(1000)
    paramtool.manual_seed(3)
    a = F.dropout(x, 0.5).numpy()
    paramtool.manual_seed(3)
    b = F.dropout(x, 0.5).numpy()
    paramtool.manual_seed(4)
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_dropout2d_zeroes_whole_channels() -> None:
    paramtool.manual_seed(2)
    channels = 20_000
    y = F.dropout2d(paramtool.ones(2, channels // 2, 3, 3), p=0.3).numpy()
    per_channel = y.reshape(channels, 9)
    zero = (per_channel == 0).all(axis=1)
    assert ((per_channel == 0).any(axis=1) == zero).all()  # all or nothing per channel
    assert _within(float(zero.mean()), 0.3, channels)


def test_alpha_dropout_keeps_zero_mean_unit_variance() -> None:
    paramtool.manual_seed(5)
    x = paramtool.randn(N)
    y = F.alpha_dropout(x, p=0.2, training=True).numpy()
    assert abs(float(y.mean())) < 5 / math.sqrt(N)
    assert abs(float(y.std()) - 1) < 0.02


def test_attention_dropout_keeps_the_expected_output() -> None:
    paramtool.manual_seed(6)
    q = paramtool.randn(64, 1, 16, 8)
    v = paramtool.ones(64, 1, 16, 8)
    out = F.scaled_dot_product_attention(q, q, v, dropout_p=0.4).numpy()
    # each output is the sum of kept attention weights / 0.6: mean 1 over many rows
    assert abs(float(out.mean()) - 1) < 0.02
    assert float(out.std()) > 0.1  # and it does vary
