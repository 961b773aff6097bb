"""Which init each parameter gets: normalisation layers found by their mark (not by a class
name), rank-1 weights only; rules by module type; scheme parameters must be finite."""

from __future__ import annotations

import numpy as np
import pytest

from paramtool import nn
from paramtool.errors import InitError
from paramtool.nn.init.schemes import apply_scheme, is_normalization, parse_scheme


class CosineNormLinear(nn.Linear):
    """A linear layer whose class name holds "Norm": not a normalisation layer."""


class ScaledLayerNorm(nn.LayerNorm):
    """A subclass of a normalisation layer: still one."""


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.cosine = CosineNormLinear(4, 4)
        self.norm = ScaledLayerNorm(4)
        self.grid_norm = nn.LayerNorm((4, 4))
        self.head = nn.Linear(4, 2)


def _rows(model: nn.Module, scheme: str = "kaiming", rules: tuple[str, ...] = ()) -> dict:
    return {row["name"]: row for row in apply_scheme(model, scheme, rules, seed=0).rows}


def test_a_class_named_norm_is_not_a_normalisation_layer() -> None:
    model = Net()
    rows = _rows(model)
    assert rows["cosine.weight"]["source"] == "scheme"
    weight = model.cosine.weight.numpy()
    assert not np.all(weight == 1.0) and weight.std() > 0  # kaiming values, not ones
    assert not is_normalization(model.cosine) and is_normalization(model.norm)


def test_normalisation_weights_of_rank_one_get_ones() -> None:
    model = Net()
    rows = _rows(model)
    assert rows["norm.weight"]["source"] == "norm"
    np.testing.assert_array_equal(model.norm.weight.numpy(), np.ones(4, np.float32))
    assert rows["norm.bias"]["source"] == "bias"
    assert rows["grid_norm.weight"]["source"] == "default"  # rank 2: the layer's own ones
    np.testing.assert_array_equal(model.grid_norm.weight.numpy(), np.ones((4, 4), np.float32))


def test_rule_by_module_type_matches_the_class_and_its_subclasses() -> None:
    model = Net()
    rows = _rows(model, rules=("type:Embedding=normal:std=0.02", "type:Linear=zeros"))
    assert rows["embed.weight"]["rule"] == "type:Embedding=normal:std=0.02"
    assert rows["embed.weight"]["recipe"].startswith("normal(")
    for name in ("cosine.weight", "cosine.bias", "head.weight", "head.bias"):
        assert rows[name]["rule"] == "type:Linear=zeros", name
    assert rows["norm.weight"]["rule"] is None
    np.testing.assert_array_equal(model.cosine.weight.numpy(), np.zeros((4, 4), np.float32))


def test_a_type_rule_that_matches_nothing_is_reported() -> None:
    report = apply_scheme(Net(), "kaiming", ["type:Conv2d=zeros", "*embed*=zeros"])
    assert report.unmatched_rules == ["type:Conv2d=zeros"]


@pytest.mark.parametrize("text", ["normal:std=nan", "normal:std=1e400", "uniform:a=-inf"])
def test_scheme_parameters_must_be_finite(text: str) -> None:
    with pytest.raises(InitError, match="must be finite"):
        parse_scheme(text)
