"""Named schemes, rules and the init report."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

import paramtool
from paramtool import nn
from paramtool.core import recipes
from paramtool.errors import InitError
from paramtool.nn.init.schemes import (
    InitReport,
    Scheme,
    apply_scheme,
    parse_rule,
    parse_scheme,
    scheme_names,
    scheme_parameters,
)
from paramtool.report.stats import add_init_stats

TORCH = json.loads((Path(__file__).parent / "fixtures" / "torch_init.json").read_text())


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(100, 16)
        self.ln = nn.LayerNorm(16)
        self.proj = nn.Linear(16, 64)
        self.c_proj = nn.Linear(64, 16)
        self.prelu = nn.PReLU()
        self.norm = nn.BatchNorm1d(16)


def _rows(report: InitReport) -> dict[str, dict]:
    return {row["name"]: row for row in report.rows}


def test_registry_has_the_required_schemes() -> None:
    required = {"default", "kaiming", "kaiming_uniform", "kaiming_normal", "xavier",
                "xavier_uniform", "xavier_normal", "normal", "trunc_normal", "orthogonal",
                "uniform", "zeros", "ones", "lecun", "glorot", "he", "variance_scaling"}  # fmt: skip
    assert required <= set(scheme_names())
    assert scheme_parameters("normal") == {"mean": 0.0, "std": 0.02}
    assert scheme_parameters("kaiming") == {"a": 0, "mode": "fan_in", "nonlinearity": "leaky_relu"}


def test_parameters_are_typed_by_the_signature() -> None:
    scheme = parse_scheme("kaiming:mode=fan_out,nonlinearity=relu,a=0.1")
    assert scheme == Scheme("kaiming", (("mode", "fan_out"), ("nonlinearity", "relu"), ("a", 0.1)))
    assert parse_scheme("normal:std=0.01").params == (("std", 0.01),)
    assert str(parse_scheme(" normal: std=0.01 ")) == "normal:std=0.01"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus", "unknown scheme 'bogus'"),
        ("kaiming:gain=2", "unknown parameter 'gain'"),
        ("normal:std=wide", "parameter 'std' expects float, got 'wide'"),
        ("normal:std", "expected key=value"),
        ("kaiming:mode=fan_avg", "Mode fan_avg not supported"),
        ("kaiming:nonlinearity=swish", "Unsupported nonlinearity swish"),
        ("zeros:std=1", "unknown parameter 'std'; expected no parameters"),
    ],
)
def test_bad_schemes_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InitError, match=message):
        parse_scheme(text)


@pytest.mark.parametrize("text", ["*.bias", "=zeros", "*.bias=", "*.bias=nope"])
def test_malformed_rule_names_the_rule(text: str) -> None:
    with pytest.raises(InitError, match=re.escape(f"malformed rule {text!r}")):
        parse_rule(text)


def test_scheme_applies_to_weights_biases_zero_norms_one() -> None:
    model = Block()
    prelu_before = model.prelu.weight.recipe
    rows = _rows(apply_scheme(model, "kaiming:mode=fan_out,nonlinearity=relu"))
    assert rows["proj.weight"]["source"] == "scheme"
    assert model.proj.weight.recipe == recipes.Normal(0.0, math.sqrt(2 / 64))
    assert model.embed_tokens.weight.recipe == recipes.Normal(0.0, math.sqrt(2 / 100))
    for name in ("proj.bias", "c_proj.bias", "ln.bias", "norm.bias"):
        assert rows[name]["source"] == "bias"
        assert rows[name]["recipe"] == "zeros"
    for name in ("ln.weight", "norm.weight"):
        assert rows[name]["source"] == "norm"
        assert rows[name]["recipe"] == "ones"
    assert rows["prelu.weight"]["source"] == "default"
    assert model.prelu.weight.recipe == prelu_before
    assert all(p.is_deferred for p in model.parameters())


def test_rules_override_last_match_wins_and_unmatched_are_reported() -> None:
    model = Block()
    report = apply_scheme(
        model,
        "xavier",
        rules=[
            "*embed*=normal:std=0.02",
            "*.weight=ones",
            "*.c_proj.weight=zeros",
            "c_proj.weight=normal:std=0.0028",
            "missing.*=zeros",
        ],  # fmt: skip
    )
    rows = _rows(report)
    assert model.embed_tokens.weight.recipe == recipes.Constant(1)  # "*.weight" came later
    assert model.c_proj.weight.recipe == recipes.Normal(0.0, 0.0028)
    assert rows["c_proj.weight"]["rule"] == "c_proj.weight=normal:std=0.0028"
    assert report.unmatched_rules == ["*.c_proj.weight=zeros", "missing.*=zeros"]
    assert rows["proj.bias"]["source"] == "bias"


def test_default_scheme_keeps_layer_defaults_but_applies_rules() -> None:
    model = Block()
    before = {n: p.recipe for n, p in model.named_parameters()}
    rows = _rows(apply_scheme(model, "default", rules=["*.bias=ones"]))
    assert model.proj.weight.recipe == before["proj.weight"]
    assert model.proj.bias.recipe == recipes.Constant(1)
    assert rows["proj.weight"]["source"] == "default"


def test_tied_parameters_are_initialised_once_under_their_first_name() -> None:
    shared = nn.Linear(8, 8)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    report = apply_scheme(model, "orthogonal", rules=["2.weight=normal:std=0.5"])
    assert [row["name"] for row in report.rows] == ["0.weight", "0.bias"]
    assert report.rows[0]["aliases"] == ["2.weight"]
    assert shared.weight.recipe == recipes.Normal(0.0, 0.5)  # a rule may name any alias
    assert report.unmatched_rules == []


def test_expected_std_matches_torch_kaiming_std() -> None:
    row = next(r for r in TORCH["weights"] if r["layer"] == "Linear(1024, 4096)")
    case = next(c for c in row["kaiming"] if c["mode"] == "fan_out" and c["nonlinearity"] == "relu")
    model = nn.Sequential(nn.Linear(1024, 4096))
    report = apply_scheme(model, "kaiming_normal:mode=fan_out,nonlinearity=relu")
    assert report.rows[0]["expected_std"] == pytest.approx(case["normal_std"], rel=1e-14)
    uniform = apply_scheme(nn.Sequential(nn.Linear(1024, 4096)), "kaiming_uniform").rows[0]
    bound = next(c for c in row["kaiming"] if c["a"] == 0 and c["mode"] == "fan_in")
    assert uniform["expected_std"] == pytest.approx(bound["uniform_bound"] / math.sqrt(3))


def test_stats_rows_follow_the_expected_std() -> None:
    model = nn.Sequential(nn.Linear(256, 512), nn.LayerNorm(512))
    report = add_init_stats(
        model, apply_scheme(model, "trunc_normal:std=0.05,a=-0.1,b=0.1"), seed=0
    )
    weight = report.rows[0]
    assert weight["stats"]["std"] == pytest.approx(weight["expected_std"], rel=0.01)
    assert weight["stats"]["min"] >= -0.1 and weight["stats"]["max"] <= 0.1
    assert report.rows[1]["stats"]["zero_fraction"] == 1.0
    assert all(p.is_deferred for p in model.parameters())  # computed, not kept
    json.dumps(report.to_dict())  # plain data


def test_real_parameters_are_refilled_from_their_name() -> None:
    model = nn.Sequential(nn.Linear(4, 4)).materialize(seed=0)
    weight = model[0].weight
    apply_scheme(model, "ones")
    assert not weight.is_deferred and (weight.numpy() == 1).all()
    assert (model[0].bias.numpy() == 0).all()


def test_float16_model_keeps_its_dtype() -> None:
    model = nn.Sequential(nn.Linear(8, 8)).half()
    rows = _rows(apply_scheme(model, "he"))
    assert rows["0.weight"]["dtype"] == "float16"
    assert model[0].weight.dtype == paramtool.float16


def test_a_scheme_that_cannot_apply_names_the_parameter_and_rule() -> None:
    model = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(InitError) as info:
        apply_scheme(model, "kaiming", ["*.bias=kaiming"])
    message = str(info.value)
    assert message.startswith("0.bias [3] (rule '*.bias=kaiming'): ")
    assert "fewer than 2 dimensions" in message and "\n" not in message
