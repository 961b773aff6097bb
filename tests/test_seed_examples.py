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


class VGGish(nn.Module):
    """The usual ``_initialize_weights``: a scheme per layer type, found by walking modules()."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.Conv3d(64, 32, 3), nn.BatchNorm3d(32),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Linear(512, 400), nn.ReLU(True), nn.Linear(400, 10))
        self._initialize_weights()

    def _initialize_weights(self) -> None:
        from paramtool.nn import init  # noqa: PLC0415

        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Conv3d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm3d):
                init.constant_(m.weight, 1)
                init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                init.normal_(m.weight, 0, 0.01)
                init.constant_(m.bias, 0)


def _assert_normal(values: np.ndarray, std: float) -> None:
    """Mean 0 and the given std, within 5 standard errors of each estimate."""
    n = values.size
    assert abs(values.mean()) < 5 * std / np.sqrt(n)
    assert abs(values.std() / std - 1) < 5 / np.sqrt(2 * n)


def test_6_initialize_weights_by_layer_type_stays_deferred_then_matches_the_formulas() -> None:
    model = VGGish()
    assert all(t.is_deferred for t in (*model.parameters(), *model.buffers()))
    model.materialize(seed=0)
    conv2d, bn2d, _, conv3d, bn3d = model.features
    # kaiming_normal_(mode="fan_out", relu): std = sqrt(2 / (out_channels * kernel elements))
    _assert_normal(conv2d.weight.numpy(), np.sqrt(2 / (64 * 3 * 3)))
    _assert_normal(conv3d.weight.numpy(), np.sqrt(2 / (32 * 3 * 3 * 3)))
    for bn in (bn2d, bn3d):
        assert np.all(bn.weight.numpy() == 1) and np.all(bn.bias.numpy() == 0)
    for linear in (model.classifier[0], model.classifier[2]):
        _assert_normal(linear.weight.numpy(), 0.01)
        assert np.all(linear.bias.numpy() == 0)
    assert np.all(conv2d.bias.numpy() == 0) and np.all(conv3d.bias.numpy() == 0)


def test_6_the_named_init_functions() -> None:
    from paramtool.nn import init  # noqa: PLC0415

    w = nn.Parameter(torch.empty(300, 200))
    init.normal_(w, mean=0, std=0.01)
    _assert_normal(w.numpy(), 0.01)
    init.constant_(w, val=0)
    assert np.all(w.numpy() == 0)
    init.ones_(w)
    assert np.all(w.numpy() == 1)
    init.zeros_(w)
    assert np.all(w.numpy() == 0)
    init.uniform_(w, -10, 10)
    assert w.numpy().min() >= -10 and w.numpy().max() < 10 and w.numpy().std() > 5
    init.xavier_uniform_(w)
    bound = np.sqrt(6 / (200 + 300))
    assert np.abs(w.numpy()).max() <= bound
    _assert_normal(w.numpy(), bound / np.sqrt(3))  # uniform(-b, b) has std b / sqrt(3)
    init.kaiming_normal_(w, mode="fan_out")
    _assert_normal(w.numpy(), np.sqrt(2 / 300))

    with torch.no_grad():  # the custom scheme of the tutorials, on a fresh tensor
        tensor = torch.empty(100, 100)
        tensor.uniform_(-10, 10)
        tensor *= (tensor.abs() >= 5).float()
    values = tensor.numpy()
    assert np.all((values == 0) | ((np.abs(values) >= 5) & (np.abs(values) < 10)))
    assert 0.4 < np.mean(values == 0) < 0.6
