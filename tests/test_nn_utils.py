"""torch.nn.utils: weight and spectral normalisation in both PyTorch styles, parametrizations,
gradient clipping and vector conversion; names from PyTorch (the corpus fixture checks them in
whole models), values against the formulas (numpy norms and SVD as the reference)."""

from __future__ import annotations

import numpy as np
import pytest

import paramtool
from paramtool import nn
from paramtool.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    parametrizations,
    parametrize,
    remove_spectral_norm,
    remove_weight_norm,
    spectral_norm,
    vector_to_parameters,
    weight_norm,
)


def values(tensor: paramtool.Tensor) -> np.ndarray:
    return np.asarray(tensor.numpy(), dtype=np.float64)


def test_weight_norm_splits_norm_and_direction() -> None:
    conv = nn.Conv1d(4, 8, 3)
    original = values(conv.weight).copy()
    weight_norm(conv)
    assert list(conv.state_dict()) == ["bias", "weight_g", "weight_v"]
    g, v = values(conv.weight_g), values(conv.weight_v)
    assert g.shape == (8, 1, 1)
    np.testing.assert_allclose(v, original)  # the direction is the old weight itself
    np.testing.assert_allclose(
        g[:, 0, 0], np.linalg.norm(original.reshape(8, -1), axis=1), rtol=1e-6
    )
    np.testing.assert_allclose(values(conv.weight), original, rtol=1e-5)
    remove_weight_norm(conv)
    assert list(conv.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(values(conv.weight), original, rtol=1e-5)


def test_weight_norm_over_the_whole_tensor() -> None:
    lin = weight_norm(nn.Linear(4, 8), dim=None)
    assert tuple(lin.weight_g.shape) == ()
    np.testing.assert_allclose(
        float(lin.weight_g.item()), np.linalg.norm(values(lin.weight_v)), rtol=1e-6
    )


def test_spectral_norm_registers_pytorchs_names_and_unit_vectors() -> None:
    conv = spectral_norm(nn.ConvTranspose2d(4, 8, 3))
    assert list(conv.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert [n for n, _ in conv.named_parameters()] == ["bias", "weight_orig"]
    assert tuple(conv.weight_u.shape) == (8,) and tuple(conv.weight_v.shape) == (36,)
    assert abs(np.linalg.norm(values(conv.weight_u)) - 1) < 1e-5
    remove_spectral_norm(conv)
    assert list(conv.state_dict()) == ["bias", "weight"]


def test_spectral_norm_divides_by_the_largest_singular_value() -> None:
    lin = nn.Linear(3, 3, bias=False)
    with paramtool.no_grad():
        lin.weight.copy_(paramtool.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]))
    spectral_norm(lin, n_power_iterations=50)
    hook = lin._normalization_hooks[0]
    weight = values(hook.compute_weight(lin, do_power_iteration=True))
    np.testing.assert_allclose(np.linalg.svd(weight, compute_uv=False)[0], 1.0, rtol=1e-4)


def test_parametrized_weight_norm_keeps_the_weight() -> None:
    conv = nn.Conv1d(4, 8, 3)
    original = values(conv.weight).copy()
    parametrizations.weight_norm(conv)
    assert type(conv).__name__ == "ParametrizedConv1d" and isinstance(conv, nn.Conv1d)
    assert list(conv.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"
    ]  # fmt: skip
    assert parametrize.is_parametrized(conv, "weight")
    assert parametrize.type_before_parametrizations(conv) is nn.Conv1d
    np.testing.assert_allclose(values(conv.weight), original, rtol=1e-5)
    assert repr(conv).startswith("ParametrizedConv1d(\n  4, 8, kernel_size=(3,), stride=(1,)\n")


def test_parametrized_spectral_norm_buffers_and_value() -> None:
    lin = parametrizations.spectral_norm(nn.Linear(5, 4))
    assert list(lin.state_dict()) == [
        "bias", "parametrizations.weight.original",
        "parametrizations.weight.0._u", "parametrizations.weight.0._v",
    ]  # fmt: skip
    lin.eval()
    for _ in range(30):  # refine u, v as training-mode forwards would
        lin.parametrizations.weight[0]._power_method(1, lin.parametrizations.weight.original)
    top = np.linalg.svd(values(lin.weight), compute_uv=False)[0]
    np.testing.assert_allclose(top, 1.0, rtol=1e-3)


def test_clip_grad_norm_scales_to_the_limit() -> None:
    params = [nn.Parameter(paramtool.zeros(3)), nn.Parameter(paramtool.zeros(4))]
    params[0].grad = paramtool.tensor([3.0, 0.0, 0.0])
    params[1].grad = paramtool.tensor([0.0, 4.0, 0.0, 0.0])
    total = clip_grad_norm_(params, max_norm=1.0)
    assert float(total.item()) == pytest.approx(5.0)
    clipped = np.concatenate([values(p.grad) for p in params])
    assert np.linalg.norm(clipped) == pytest.approx(1.0, rel=1e-5)
    clip_grad_value_(params, 0.1)
    assert np.abs(np.concatenate([values(p.grad) for p in params])).max() <= 0.1 + 1e-7


def test_parameters_to_vector_and_back() -> None:
    lin = nn.Linear(3, 2)
    vec = parameters_to_vector(lin.parameters())
    assert tuple(vec.shape) == (8,)
    vector_to_parameters(paramtool.tensor(np.arange(8, dtype=np.float32)), lin.parameters())
    assert values(lin.bias).tolist() == [6.0, 7.0]
