"""The torch.nn layers model files meet (padding, pixel shuffle, upsampling, fold, losses,
...): PyTorch's repr and state_dict (names, shapes, dtypes), recorded from torch 2.13 by
tests/fixtures/record_torch_models.py; and every public layer class of torch.nn exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import paramtool
from paramtool import nn

HERE = Path(__file__).resolve().parent
RECORDED = json.loads((HERE / "fixtures" / "torch_models.json").read_text())["layers"]


def _value(arg: Any) -> Any:
    if isinstance(arg, list) and arg and arg[0] == "ones":
        return paramtool.ones(*arg[1])
    return tuple(arg) if isinstance(arg, list) else arg


def _id(record: dict[str, Any]) -> str:
    return f"{record['name']}({record['args']},{record['kwargs']})"


@pytest.mark.parametrize("record", RECORDED, ids=_id)
def test_repr_and_state_dict_are_pytorchs(record: dict[str, Any]) -> None:
    args = [_value(a) for a in record["args"]]
    kwargs = {k: _value(v) for k, v in record["kwargs"].items()}
    layer = getattr(nn, record["name"])(*args, **kwargs)
    assert repr(layer) == record["repr"]
    state = [[k, list(v.shape), str(v.dtype)] for k, v in layer.state_dict().items()]
    assert state == record["state"]


def test_loss_weights_are_buffers_kept_in_the_state_dict() -> None:
    weight = paramtool.ones(3)
    loss = nn.CrossEntropyLoss(weight=weight)
    assert loss.weight is weight and [n for n, _ in loss.named_buffers()] == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []


def test_legacy_reduction_flags_map_as_in_pytorch() -> None:
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.MSELoss(reduce=False).reduction == "none"
    assert nn.L1Loss(size_average=True, reduce=True).reduction == "mean"


def test_constructor_errors_are_pytorchs() -> None:
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="expected margin to be greater than 0"):
        nn.TripletMarginLoss(margin=0)


CLASSES: dict[str, str] = json.loads((HERE / "fixtures" / "torch_models.json").read_text())[
    "classes"
]
#: torch.nn classes paramtool does not have: layers whose shapes are only known after a first
#: forward (Lazy*), the deprecated Container, and two rarely used modules (LinearCrossEntropyLoss
#: is new in torch 2.13).
ABSENT = {
    "Container", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d",
    "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
    "LazyConvTranspose3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d",
    "LazyLinear", "AdaptiveLogSoftmaxWithLoss", "LinearCrossEntropyLoss",
}  # fmt: skip


def test_every_activation_and_loss_module_of_torch_nn_exists() -> None:
    wanted = [n for n, file in CLASSES.items() if file in ("activation", "loss")]
    assert len(wanted) >= 50
    assert [n for n in wanted if n not in ABSENT and not hasattr(nn, n)] == []


def test_the_torch_nn_classes_paramtool_lacks_are_exactly_the_known_ones() -> None:
    assert {n for n in CLASSES if not hasattr(nn, n)} == ABSENT
