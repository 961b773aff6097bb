"""paramtool.nn.init against PyTorch: gains, fans, bounds, stds and error texts.

The reference numbers are recorded from torch.nn.init by ``fixtures/record_torch_init.py``
(bounds and stds as torch passes them to ``uniform_``/``normal_``).
"""

from __future__ import annotations

import builtins
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from fixtures.init_error_cases import bad_calls

import paramtool
from paramtool.core import recipes
from paramtool.errors import InitError
from paramtool.nn import init

TORCH = json.loads((Path(__file__).parent / "fixtures" / "torch_init.json").read_text())
WEIGHTS = TORCH["weights"]


def _id(row: dict) -> str:
    return f"{row['layer']}.{row['param']}"


@pytest.mark.parametrize("row", TORCH["gains"], ids=lambda r: f"{r['nonlinearity']}-{r['param']}")
def test_gain_matches_torch(row: dict) -> None:
    assert init.calculate_gain(row["nonlinearity"], row["param"]) == pytest.approx(
        row["gain"], rel=1e-15
    )


@pytest.mark.parametrize("row", WEIGHTS, ids=_id)
def test_fans_match_torch(row: dict) -> None:
    tensor = paramtool.empty(*row["shape"])
    assert init._calculate_fan_in_and_fan_out(tensor) == (row["fan_in"], row["fan_out"])
    assert init._calculate_correct_fan(tensor, "fan_in") == row["fan_in"]
    assert init._calculate_correct_fan(tensor, "FAN_OUT") == row["fan_out"]


@pytest.mark.parametrize("row", WEIGHTS, ids=_id)
def test_kaiming_bounds_and_stds_match_torch(row: dict) -> None:
    for case in row["kaiming"]:
        kw = {k: case[k] for k in ("a", "mode", "nonlinearity")}
        uniform = init.kaiming_uniform_(paramtool.empty(*row["shape"]), **kw).recipe
        normal = init.kaiming_normal_(paramtool.empty(*row["shape"]), **kw).recipe
        assert uniform.b == pytest.approx(case["uniform_bound"], rel=1e-14)
        assert uniform.a == -uniform.b
        assert normal.mean == 0
        assert normal.std == pytest.approx(case["normal_std"], rel=1e-14)


@pytest.mark.parametrize("row", WEIGHTS, ids=_id)
def test_xavier_bounds_and_stds_match_torch(row: dict) -> None:
    for case in row["xavier"]:
        uniform = init.xavier_uniform_(paramtool.empty(*row["shape"]), gain=case["gain"]).recipe
        normal = init.xavier_normal_(paramtool.empty(*row["shape"]), gain=case["gain"]).recipe
        assert uniform.b == pytest.approx(case["uniform_bound"], rel=1e-14)
        assert uniform.a == -uniform.b
        assert normal.std == pytest.approx(case["normal_std"], rel=1e-14)


def _bad_calls() -> dict:
    return bad_calls(init, paramtool.empty)


@pytest.mark.parametrize("case", sorted(TORCH["errors"]))
def test_error_texts_match_torch(case: str) -> None:
    expected = TORCH["errors"][case]
    assert expected["type"] in ("ValueError", "RuntimeError")
    with pytest.raises(InitError) as info:
        _bad_calls()[case]()
    assert isinstance(info.value, getattr(builtins, expected["type"]))
    assert str(info.value) == expected["message"]


@pytest.mark.parametrize("row", TORCH["deterministic"], ids=lambda r: f"{r['fn']}{r['shape']}")
def test_eye_and_dirac_match_torch(row: dict) -> None:
    fn = getattr(init, row["fn"])
    tensor = paramtool.empty(*row["shape"])
    fn(tensor) if row["fn"] == "eye_" else fn(tensor, row["groups"])
    values = tensor.numpy()
    assert np.argwhere(values).tolist() == row["ones"]
    assert values.sum() == row["sum"]


INITS = [
    lambda t: init.uniform_(t, -1, 1),
    lambda t: init.normal_(t, 0, 0.02),
    lambda t: init.trunc_normal_(t, std=0.02),
    lambda t: init.constant_(t, 0.5),
    init.ones_,
    init.zeros_,
    init.xavier_uniform_,
    init.xavier_normal_,
    init.kaiming_uniform_,
    init.kaiming_normal_,
    init.orthogonal_,
    lambda t: init.sparse_(t, 0.5),
    init.eye_,
    init.variance_scaling_,
]


@pytest.mark.parametrize("fn", INITS)
def test_deferred_tensor_only_records_a_recipe(fn) -> None:
    tensor = paramtool.empty(6, 4)
    assert fn(tensor) is tensor
    assert tensor.is_deferred
    assert tensor.recipe is not None and tensor.recipe.describe()


@pytest.mark.parametrize("fn", INITS)
def test_real_tensor_is_filled_in_place(fn) -> None:
    array = np.full((6, 4), np.nan, np.float32)
    tensor = paramtool.from_numpy(array)
    assert fn(tensor) is tensor
    assert not tensor.is_deferred
    assert np.isfinite(array).all()  # the caller's memory was written


@pytest.mark.parametrize("fn", INITS[:-3] + [INITS[-1]])
def test_zero_element_tensor_is_a_noop(fn) -> None:
    tensor = paramtool.from_numpy(np.empty((0, 3), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fn(tensor) is tensor
    assert tensor.shape == (0, 3)


def test_kaiming_on_zero_elements_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_normal_(paramtool.empty(0, 3))


def test_deprecated_alias_warns_and_works() -> None:
    tensor = paramtool.empty(3, 3)
    with pytest.warns(FutureWarning, match=r"`nn.init.normal` is now deprecated"):
        assert init.normal(tensor, 0, 2) is tensor
    assert tensor.recipe == recipes.Normal(0.0, 2.0)


def test_generator_keys_the_values() -> None:
    a = init.normal_(paramtool.empty(100), generator=paramtool.Generator().manual_seed(7))
    b = init.normal_(paramtool.empty(100), generator=paramtool.Generator().manual_seed(7))
    c = init.normal_(paramtool.empty(100), generator=paramtool.Generator().manual_seed(8))
    assert np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())


def _row(layer: str, param: str) -> dict:
    return next(r for r in WEIGHTS if r["layer"] == layer and r["param"] == param)


@pytest.mark.parametrize(
    ("preset", "torch_kind", "kaiming", "xavier_gain"),
    [
        (init.glorot_uniform_, "xavier", None, 1.0),
        (init.he_uniform_, "kaiming", {"mode": "fan_in", "nonlinearity": "leaky_relu"}, None),
        (init.lecun_uniform_, "kaiming", {"mode": "fan_in", "nonlinearity": "linear"}, None),
    ],
)
def test_variance_scaling_uniform_presets_equal_torch_counterparts(
    preset, torch_kind, kaiming, xavier_gain
) -> None:
    """Keras' glorot/he/lecun uniform limits are torch's xavier/kaiming bounds (same fans)."""
    row = _row("Conv2d(4, 8, 3, groups=2)", "weight")
    if torch_kind == "xavier":
        bound = next(c for c in row["xavier"] if c["gain"] == xavier_gain)["uniform_bound"]
    else:
        case = next(
            c for c in row["kaiming"] if all(c[k] == v for k, v in kaiming.items()) and not c["a"]
        )
        bound = case["uniform_bound"]
    recipe = preset(paramtool.empty(*row["shape"])).recipe
    assert recipe.b == pytest.approx(bound, rel=1e-14)


def test_variance_scaling_truncated_normal_uses_keras_correction() -> None:
    row = _row("Linear(1024, 4096)", "weight")
    recipe = init.variance_scaling_(paramtool.empty(*row["shape"]), 2.0, "fan_out").recipe
    std = math.sqrt(2.0 / row["fan_out"]) / 0.87962566103423978
    assert isinstance(recipe, recipes.TruncNormal)
    assert (recipe.mean, recipe.a, recipe.b) == (0.0, -2 * recipe.std, 2 * recipe.std)
    assert recipe.std == pytest.approx(std, rel=1e-14)
    assert recipe.expected_std(row["shape"]) == pytest.approx(math.sqrt(2.0 / row["fan_out"]))


def test_variance_scaling_fan_avg_normal() -> None:
    row = _row("Conv1d(4, 8, 5)", "weight")
    recipe = init.variance_scaling_(paramtool.empty(*row["shape"]), 3.0, "fan_avg", "normal")
    fan = (row["fan_in"] + row["fan_out"]) / 2
    assert recipe.recipe.std == pytest.approx(math.sqrt(3.0 / fan), rel=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "fan_sum"}, "Mode fan_sum not supported"),
        ({"distribution": "cauchy"}, "unknown distribution 'cauchy'"),
        ({"scale": 0.0}, "scale must be positive"),
    ],
)
def test_variance_scaling_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(InitError, match=message):
        init.variance_scaling_(paramtool.empty(3, 3), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"std": 0.0}, "std must be positive"), ({"a": 1.0, "b": -1.0}, "expected a <= b")],
)
def test_trunc_normal_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(InitError, match=message):
        init.trunc_normal_(paramtool.empty(3, 3), **kwargs)
