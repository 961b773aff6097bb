"""nn.CrossMapLRN2d against PyTorch's values and input gradients (recorded by
tests/fixtures/record_torch_crossmap.py), and its 4-D check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import paramtool
from paramtool import nn

RECORDED = np.load(Path(__file__).parent / "fixtures" / "torch_crossmap.npz")
CASES = sorted({key.split("_")[0] for key in RECORDED.files})


@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_equal_pytorch(case: str) -> None:
    size, alpha, beta, k = RECORDED[f"{case}_params"]
    layer = nn.CrossMapLRN2d(int(size), float(alpha), float(beta), float(k))
    x = paramtool.tensor(RECORDED[f"{case}_x"], requires_grad=True)
    y = layer(x)
    np.testing.assert_allclose(y.detach().numpy(), RECORDED[f"{case}_y"], rtol=1e-4, atol=1e-6)
    y.backward(paramtool.tensor(RECORDED[f"{case}_g"]))
    np.testing.assert_allclose(x.grad.numpy(), RECORDED[f"{case}_dx"], rtol=1e-4, atol=1e-6)


def test_channel_edges_differ_from_local_response_norm() -> None:
    # The running window keeps channel 0 in every sum: the two layers must disagree there.
    size, alpha, beta, k = RECORDED["1_params"]
    x = paramtool.tensor(RECORDED["1_x"])
    lua = nn.CrossMapLRN2d(int(size), float(alpha), float(beta), float(k))(x).numpy()
    std = nn.LocalResponseNorm(int(size), float(alpha), float(beta), float(k))(x).numpy()
    assert not np.allclose(lua, std, rtol=1e-4)


def test_input_must_be_4d() -> None:
    with pytest.raises(ValueError, match="CrossMapLRN2d: Expected input to be 4D, got 3D instead."):
        nn.CrossMapLRN2d(3)(paramtool.zeros(2, 3, 4))
