"""LSUV (Mishkin & Matas 2016): after the scheme, every conv/linear output has unit variance
(within the tolerance) on a fresh batch; values are a function of the seed; exported like any
scheme."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_support import invoke, validate
from safetensors.numpy import load_file

from paramtool.errors import InitError
from paramtool.export import ModelRecipe, prepare
from paramtool.nn.init.lsuv import lsuv_, rescalable
from paramtool.nn.init.schemes import parse_scheme
from paramtool.nn.signal import example_batch
from paramtool.report.check import check_model

MODELS = Path(__file__).resolve().parent / "data" / "models"
MLP, CNN = str(MODELS / "check_mlp.py"), str(MODELS / "check_cnn.py")


def _prepared(path: str, scheme: str = "lsuv", seed: int = 0, **args: object):
    return prepare(ModelRecipe(path, scheme=scheme, seed=seed, args=args or None))


GPT2 = str(MODELS.parents[2] / "sample_models" / "gpt2.py")
SMALL_GPT2 = {"n_layer": 2, "n_embd": 64, "n_head": 4}


@pytest.mark.parametrize(
    ("path", "args", "shape", "ids"),
    [
        (MLP, {}, [256, 32], False),
        (CNN, {}, [16, 3, 24, 24], False),
        (GPT2, SMALL_GPT2, [8, 32], True),
    ],
)
def test_every_conv_and_linear_output_has_unit_std_on_a_fresh_batch(
    path: str, args: dict, shape: list[int], ids: bool
) -> None:
    model = _prepared(path, **args).model
    assert all(p.is_deferred for p in model.parameters())  # the model stays deferred
    batch = example_batch(model, shape, integer=ids, seed=12345)  # not LSUV's batch
    run = check_model(model, batch, seed=0)
    layers = {name for name, m in model.named_modules() if id(m) in rescalable(model)}
    stds = {row.name: row.std for row in run.layers if row.name in layers}
    assert len(stds) == len(layers) and layers  # Linear, Conv2d, GPT-2's Conv1D
    assert all(abs(std - 1) <= 0.1 for std in stds.values()), stds
    orthogonal = check_model(_prepared(path, "orthogonal", **args).model, batch, seed=0)
    before = [row.std for row in orthogonal.layers if row.name in stds]
    assert max(abs(s - 1) for s in before) > 0.1  # LSUV did change something


def test_tied_weights_and_embeddings_are_left_alone() -> None:
    model = _prepared(GPT2, **SMALL_GPT2).model
    layers = rescalable(model)
    assert id(model.lm_head) not in layers  # tied to the token embedding
    assert id(model.transformer.wte) not in layers
    assert id(model.transformer.h[0].attn.c_attn) in layers


def test_gains_are_recorded_as_recipes_and_exported(tmp_path: Path) -> None:
    prepared = _prepared(MLP)
    rows = {row["name"]: row for row in prepared.report.rows}
    assert rows["0.weight"]["recipe"].startswith("orthogonal(gain=")
    assert rows["0.weight"]["recipe"] != "orthogonal(gain=1)"
    out = tmp_path / "a.safetensors"
    args = [MLP, "--scheme", "lsuv", "--seed", "3", "-o", out]
    first = invoke("init", *args, "--json")
    assert first.exit_code == 0, first.output
    data = validate(first.stdout, "init")
    assert data["scheme"] == "lsuv"
    again = tmp_path / "b.safetensors"
    assert invoke("init", MLP, "--scheme", "lsuv", "--seed", "3", "-o", again).exit_code == 0
    a, b = load_file(str(out)), load_file(str(again))
    assert all(np.array_equal(a[k], b[k]) for k in a)  # deterministic for a seed
    other = tmp_path / "c.safetensors"
    assert invoke("init", MLP, "--scheme", "lsuv", "--seed", "4", "-o", other).exit_code == 0
    assert not np.array_equal(a["0.weight"], load_file(str(other))["0.weight"])


def test_real_weights_are_scaled_in_place() -> None:
    model = _prepared(MLP, "orthogonal").model
    model.materialize(seed=0)
    batch = example_batch(model, [128, 32], seed=1)
    scales = lsuv_(model, batch, seed=0)
    assert set(scales) == {n for n, p in model.named_parameters() if n.endswith("weight")}
    run = check_model(model, batch, seed=0)
    assert all(abs(r.std - 1) < 0.06 for r in run.layers if r.type == "Linear")


def test_scheme_parameters_are_checked() -> None:
    assert str(parse_scheme("lsuv:tol=0.05,max_iter=3")) == "lsuv:tol=0.05,max_iter=3"
    with pytest.raises(InitError, match="0 < tol < 1"):
        parse_scheme("lsuv:tol=2")
    with pytest.raises(InitError, match="unknown parameter 'std'"):
        parse_scheme("lsuv:std=1")
