"""Dropout between recurrent layers: exact at p = 1 and in eval mode (layer by layer), and the
keep-mask's statistics (binomial bounds) for 0 < p < 1."""

from __future__ import annotations

import math

import numpy as np

import paramtool
from paramtool import nn
from paramtool.nn.functional import rnn as recurrent


def _single_layer(stack: nn.LSTM, layer: int, input_size: int) -> nn.LSTM:
    """A one-layer LSTM holding layer ``layer`` of ``stack``."""
    single = nn.LSTM(input_size, stack.hidden_size)
    for stem in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(single, f"{stem}_l0").data = getattr(stack, f"{stem}_l{layer}").detach()
    return single


def test_two_layers_equal_two_single_layers_in_eval_mode() -> None:
    paramtool.manual_seed(0)
    stack = nn.LSTM(4, 5, num_layers=2, dropout=0.5).eval()
    x = paramtool.randn(6, 3, 4)
    out, _ = stack(x)
    first, _ = _single_layer(stack, 0, 4)(x)
    second, _ = _single_layer(stack, 1, 5)(first)
    np.testing.assert_allclose(out.detach().numpy(), second.detach().numpy(), rtol=1e-6)


def test_dropout_one_cuts_the_second_layer_off_its_input() -> None:
    paramtool.manual_seed(1)
    stack = nn.LSTM(4, 5, num_layers=2, dropout=1.0).train()
    out, _ = stack(paramtool.randn(6, 3, 4))
    alone, _ = _single_layer(stack, 1, 5)(paramtool.zeros(6, 3, 5))
    np.testing.assert_allclose(out.detach().numpy(), alone.detach().numpy(), rtol=1e-6)


def test_keep_mask_statistics() -> None:
    """Each entry is kept with probability 1 - p and then scaled by 1 / (1 - p)."""
    paramtool.manual_seed(2)
    p = 0.3
    stack = recurrent.Stack("GRU", 3, False, True, False)
    x = np.zeros((50, 40, 8), dtype=np.float32)
    weights = [np.zeros((30, 8), np.float32), np.zeros((30, 10), np.float32)]
    masks = recurrent._dropout_masks(stack, x, weights, p)
    assert len(masks) == 2  # after every layer but the last
    for mask in masks:
        assert mask.shape == (50, 40, 10)
        kept = mask != 0
        np.testing.assert_allclose(mask[kept], 1 / (1 - p), rtol=1e-6)
        n = mask.size
        bound = 5 * math.sqrt(n * p * (1 - p))  # five standard deviations of the binomial
        assert abs(int((~kept).sum()) - n * p) < bound
    assert not np.array_equal(masks[0], masks[1])
