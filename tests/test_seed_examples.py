"""The behaviours the torch.nn.Parameter tutorials teach, written as the tutorials write them.

Each test runs tutorial-style code with ``import paramtool as torch`` and checks the outcome the
tutorial shows (PyTorch's output, quoted in the assertions).
"""

from __future__ import annotations

import numpy as np
import pytest

import paramtool as torch
from paramtool import nn


class WeightsNet(nn.Module):
    """A Parameter beside a plain tensor (the plain one is temporary state)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight1 = nn.Parameter(torch.rand(20, 20))
        self.weight2 = torch.rand(20, 20)


def test_1_assignment_registers_a_parameter_not_a_plain_tensor() -> None:
    net = WeightsNet()
    assert [name for name, _ in net.named_parameters()] == ["weight1"]
    assert [p is net.weight1 for p in net.parameters()] == [True]
    assert isinstance(net.weight2, torch.Tensor) and net.weight2.shape == (20, 20)

    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.randn(3, 3)

    assert list(Plain().parameters()) == []


def test_2_parameter_wraps_a_tensor_and_can_be_frozen() -> None:
    data = torch.ones(2, 3)
    param = nn.Parameter(data)
    assert param.requires_grad
    assert param.data.shares_storage(data)
    assert repr(param).startswith("Parameter containing:")

    class Frozen(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frozen = nn.Parameter(torch.zeros(2), requires_grad=False)

    model = Frozen().double()
    assert [name for name, _ in model.named_parameters()] == ["frozen"]
    assert list(model.state_dict()) == ["frozen"]
    assert model.frozen.dtype == torch.float64 and not model.frozen.requires_grad


def test_3_names_and_print() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    assert [(name, tuple(p.shape)) for name, p in net.named_parameters()] == [
        ("0.weight", (3, 4)), ("0.bias", (3,)), ("2.weight", (1, 3)), ("2.bias", (1,)),
    ]  # fmt: skip
    assert [name for name, _ in net[0].named_parameters()] == ["weight", "bias"]
    assert repr(net) == (
        "Sequential(\n  (0): Linear(in_features=4, out_features=3, bias=True)\n  (1): ReLU()\n"
        "  (2): Linear(in_features=3, out_features=1, bias=True)\n)"
    )


def test_4_register_parameter_from_outside() -> None:
    linear = nn.Linear(3, 2)
    linear.register_parameter("test", nn.Parameter(torch.ones(2)))
    assert [name for name, _ in linear.named_parameters()] == ["weight", "bias", "test"]
    assert linear.test.tolist() == [1.0, 1.0]


def test_5_state_dict_and_buffers() -> None:
    assert list(nn.Linear(2, 2).state_dict().keys()) == ["weight", "bias"]

    class WithBuffers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("running_mean", torch.zeros(4))
            self.register_buffer("scratch", torch.zeros(4), persistent=False)

    model = WithBuffers()
    assert [name for name, _ in model.named_buffers()] == ["running_mean", "scratch"]
    assert list(model.state_dict()) == ["running_mean"]
    assert list(model.parameters()) == []


def test_6_custom_init_edits_data_in_place_and_apply_visits_every_module() -> None:
    init = pytest.importorskip("paramtool.nn.init")
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 8)))
    visited: list[str] = []

    @torch.no_grad()
    def my_init(m: nn.Module) -> None:
        visited.append(type(m).__name__)
        if type(m) is nn.Linear:
            init.uniform_(m.weight, -10, 10)
            m.weight.data *= (m.weight.abs() >= 5).float()
            init.constant_(m.bias, val=0)
            m.bias.data += 1

    net.apply(my_init)
    assert visited == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]
    for module in (net[0], net[2][0]):
        weights = module.weight.numpy()
        assert np.all((weights == 0) | (np.abs(weights) >= 5)) and np.all(np.abs(weights) <= 10)
        assert module.bias.tolist() == [1.0] * 8


def test_7_sharing_one_module_twice() -> None:
    shared = nn.Linear(8, 8)
    net = nn.Sequential(
        nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1)
    )
    assert id(net[2].weight) == id(net[4].weight)
    assert [name for name, _ in net.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias",
    ]  # fmt: skip
    assert "4.weight" in net.state_dict()
    linear = nn.Linear(1, 1, bias=False)
    pair = nn.Sequential(linear, linear)
    assert [name for name, _ in pair.named_parameters()] == ["0.weight"]
    assert sum(p.numel() for p in pair.parameters()) == 1


def test_8_parameters_move_with_the_model() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    model.double()
    assert model[0].weight.dtype == torch.float64
    model.float()
    assert model[0].weight.dtype == torch.float32
    model.half()
    assert model[0].bias.dtype == torch.float16
    assert model.to(torch.device("cpu")) is model and model.cpu() is model
    assert model[0].weight.device == torch.device("cpu")


def test_9_vit_tokens_and_spatial_group_enhance() -> None:
    class ViT(nn.Module):
        def __init__(self, num_patches: int = 64, dim: int = 128) -> None:
            super().__init__()
            self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))
            self.cls_token = nn.Parameter(torch.randn(1, 1, dim))

    vit = ViT()
    assert [(n, tuple(p.shape)) for n, p in vit.named_parameters()] == [
        ("pos_embedding", (1, 65, 128)), ("cls_token", (1, 1, 128)),
    ]  # fmt: skip

    class SpatialGroupEnhance(nn.Module):
        def __init__(self, groups: int = 8) -> None:
            super().__init__()
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
            self.weight = nn.Parameter(torch.zeros(1, groups, 1, 1))
            self.bias = nn.Parameter(torch.zeros(1, groups, 1, 1))
            self.sig = nn.Sigmoid()

    sge = SpatialGroupEnhance()
    assert list(sge.state_dict()) == ["weight", "bias"]
    assert sum(p.numel() for p in sge.parameters()) == 16
    assert repr(sge) == (
        "SpatialGroupEnhance(\n  (avg_pool): AdaptiveAvgPool2d(output_size=1)\n  (sig): Sigmoid()\n)"
    )
