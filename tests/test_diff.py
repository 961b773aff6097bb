"""diff tells the truth: complex values in full, NaN/Inf in every figure, '-' where a relative
figure is undefined, tolerances scaled to the dtypes compared and validated, the model options
of export, uniform dtype changes on one line."""

from __future__ import annotations

import math
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from cli_support import MODELS, invoke, validate, write_checkpoint

from paramtool.report import compare_values, default_tolerance

ROOT = Path(__file__).resolve().parents[1]
MLP = ROOT / "sample_models" / "mlp.py"


def test_complex_values_differing_only_in_the_imaginary_part_differ() -> None:
    a = np.array([1 + 1j, 2 + 0j], np.complex64)
    b = np.array([1 - 1j, 2 + 0j], np.complex64)
    result = compare_values("c", a, b, atol=1e-8, rtol=1e-5)
    assert not result.close and result.max_abs == pytest.approx(2.0)
    assert result.max_rel == pytest.approx(2 / math.sqrt(2))
    # as real vectors (1, 1, 2, 0) and (1, -1, 2, 0): cosine 4 / 6
    assert result.cosine == pytest.approx(4 / 6)


def test_nan_or_inf_against_a_value_is_as_far_as_can_be() -> None:
    nan = compare_values("n", np.array([np.nan, 1.0]), np.array([0.5, 1.0]), 1e-8, 1e-5)
    assert math.isinf(nan.max_abs) and not nan.close
    assert nan.cosine == pytest.approx(1.0)  # over the elements finite on both sides
    same = compare_values("s", np.array([np.nan, np.inf]), np.array([np.nan, np.inf]), 0, 0)
    assert same.close and same.max_abs == 0.0
    flip = compare_values("f", np.array([np.inf]), np.array([-np.inf]), 0, 0)
    assert math.isinf(flip.max_abs) and not flip.close


def test_relative_difference_against_zeros_is_undefined(tmp_path: Path) -> None:
    result = compare_values("z", np.array([0.5, 0.0]), np.zeros(2), 1e-8, 1e-5)
    assert math.isnan(result.max_rel) and result.max_abs == 0.5
    a = write_checkpoint(tmp_path / "a.safetensors", {"z": np.array([0.5, 0.0], np.float32)})
    b = write_checkpoint(tmp_path / "b.safetensors", {"z": np.zeros(2, np.float32)})
    out = invoke("diff", a, b)
    assert out.exit_code == 1
    (row,) = [line for line in out.stdout.splitlines() if line.startswith("z ")]
    assert row.split()[1:3] == ["0.5", "-"]
    data = validate(invoke("diff", a, b, "--json").stdout, "diff")
    assert data["tensors"][0]["max_rel"] is None


def test_bfloat16_copy_of_float32_weights_is_same_by_default(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    weights = {f"layer{i}.weight": rng.normal(size=(64, 64)).astype(np.float32) for i in range(3)}
    a = write_checkpoint(tmp_path / "f32.safetensors", weights)
    b = write_checkpoint(
        tmp_path / "bf16.safetensors",
        {k: v.astype(ml_dtypes.bfloat16) for k, v in weights.items()},
    )
    result = invoke("diff", a, b)
    assert result.exit_code == 0, result.output
    assert "3 tensors: A float32, B bfloat16" in result.stdout  # grouped on one line
    assert "3/3 tensors within atol=1e-05, rtol=0.016 (default for bfloat16): same" in result.stdout
    strict = invoke("diff", a, b, "--rtol", "1e-5", "--atol", "1e-8")
    assert strict.exit_code == 1


def test_default_tolerance_is_the_loosest_dtype_compared() -> None:
    assert default_tolerance(["float32"]) == (1.3e-6, 1e-5)
    assert default_tolerance(["float32", "bfloat16"]) == (1.6e-2, 1e-5)
    assert default_tolerance(["int64", "bool"]) == (0.0, 0.0)


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
@pytest.mark.parametrize("option", ["--atol", "--rtol"])
@pytest.mark.parametrize("as_json", [False, True])
def test_tolerances_must_be_finite_and_not_negative(
    option: str, value: str, as_json: bool, tmp_path: Path
) -> None:
    a = write_checkpoint(tmp_path / "a.safetensors", {"w": np.ones(2, np.float32)})
    args = ["diff", a, a, option, value] + (["--json"] if as_json else [])
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "must be a finite number >= 0" in result.stderr and result.stdout == ""


def test_diff_builds_a_model_as_export_does(tmp_path: Path) -> None:
    out = tmp_path / "mlp.safetensors"
    exported = invoke("export", out, "--model", MLP, "--scheme", "kaiming", "--seed", "3")
    assert exported.exit_code == 0, exported.output
    same = invoke("diff", MLP, out, "--scheme", "kaiming", "--seed", "3")
    assert same.exit_code == 0, same.output
    assert "4/4 tensors within" in same.stdout and same.stdout.rstrip().endswith("same")
    other = invoke("diff", MLP, out, "--scheme", "kaiming", "--seed", "4", "--json")
    assert other.exit_code == 1 and not validate(other.stdout, "diff")["same"]
    rule = invoke("diff", MLP, out, "--scheme", "kaiming", "--seed", "3", "--rule", "*.bias=ones")
    assert rule.exit_code == 1 and "0.bias" in rule.stdout and "0.weight  " not in rule.stdout
    filtered = invoke("diff", MLP, out, "--seed", "3", "--filter", "*.weight", "--json")
    names = [t["name"] for t in validate(filtered.stdout, "diff")["tensors"]]
    assert names == ["0.weight", "2.weight"]


def test_model_options_need_a_model_file(tmp_path: Path) -> None:
    a = write_checkpoint(tmp_path / "a.safetensors", {"w": np.ones(2, np.float32)})
    result = invoke("diff", a, a, "--seed", "1")
    assert result.exit_code == 2 and "apply to a model file" in result.stderr


def test_tiny_model_diffs_against_itself(tmp_path: Path) -> None:
    model = MODELS / "mlp.py"
    result = invoke("diff", model, model, "--seed", "0")
    assert result.exit_code == 0, result.output
