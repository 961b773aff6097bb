"""Optimizer steps (SGD with momentum, dampening, Nesterov; Adam; AdamW with amsgrad) on a small
GPT equal PyTorch's after two steps; zero_grad and closures behave as PyTorch's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import paramtool
from paramtool import optim

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import model_cases  # noqa: E402
from test_autograd_models import built  # noqa: E402


@pytest.mark.parametrize("key", sorted(model_cases.OPTIMIZERS))
def test_two_steps_equal_pytorch(key: str) -> None:
    model, data = built()
    cls, options = model_cases.OPTIMIZERS[key]
    model_cases.train_steps(paramtool, model, getattr(optim, cls)(model.parameters(), **options))
    for name, param in model.named_parameters():
        np.testing.assert_allclose(param.detach().numpy(), data[f"{key}:{name}"], rtol=1e-4,
                                   atol=1e-6, err_msg=f"{key} {name}")  # fmt: skip


def test_zero_grad_to_none_or_zeros_and_closure() -> None:
    w = paramtool.nn.Parameter(paramtool.tensor([1.0, 2.0]))
    opt = optim.SGD([w], lr=0.5)
    loss = opt.step(lambda: (w * w).sum())
    assert loss.item() == 5.0 and w.grad is None  # the closure computed a loss, no backward
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [0.0, 0.0])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None


def test_state_dict_holds_moments_by_index() -> None:
    w = paramtool.nn.Parameter(paramtool.tensor([1.0, -1.0]))
    opt = optim.Adam([w], lr=0.1)
    (w * 3).sum().backward()
    opt.step()
    state = opt.state_dict()
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert state["state"][0]["step"].item() == 1.0
    np.testing.assert_allclose(w.detach().numpy(), [0.9, -1.1], rtol=1e-6)
