"""``check``: per-module output statistics against PyTorch running the same weights and batch
(fixtures/torch_check.json, recorded by record_torch_check.py), layer-by-layer streaming, and
the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_support import invoke, validate

import paramtool
from paramtool import nn
from paramtool.errors import CheckError
from paramtool.export import ModelRecipe, prepare
from paramtool.nn.signal import example_batch, streamed, vocab_size
from paramtool.report.check import check_model

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "torch_check.json").read_text())["cases"]
MLP = str(ROOT / "tests" / "data" / "models" / "check_mlp.py")
DRIFT = {
    "resnet18_kaiming": [],
    "resnet18_normal1": [("exploding", "layer1.0.conv1")],
    "mlp_kaiming_grad": [],
}
SLOW = {"resnet18_kaiming", "resnet18_normal1", "gpt2_default"}


def _run_case(case: dict[str, Any]) -> Any:
    recipe = ModelRecipe(
        str(ROOT / case["file"]),
        args=case["args"] or None,
        scheme=case["scheme"],
        seed=case["seed"],
    )
    model = prepare(recipe).model
    batch = example_batch(model, case["input"], integer=case["integer"], seed=case["seed"])
    return check_model(
        model, batch, grad=case["grad"], train=case.get("train", False), seed=case["seed"]
    )


def _close(ours: float | None, theirs: float | None, rtol: float = 2e-3) -> bool:
    if theirs is None or not math.isfinite(theirs):
        return ours is None or not math.isfinite(ours)
    return ours is not None and math.isclose(ours, theirs, rel_tol=rtol, abs_tol=1e-6)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(FIXTURE)]
)
def test_statistics_match_pytorch(name: str) -> None:
    case = FIXTURE[name]
    run = _run_case(case)
    if name in DRIFT:  # kaiming keeps the signal within 100x, normal:std=1 explodes
        assert [(d.kind, d.name) for d in run.drift] == DRIFT[name]
    expected = case["rows"]
    assert [(r.name, r.call, r.shape) for r in run.layers] == [
        (e["name"], e["call"], e["shape"]) for e in expected
    ]
    for row, want in zip(run.layers, expected, strict=True):
        assert _close(row.std, want["std"]), (row.name, row.std, want["std"])
        assert abs(row.mean - want["mean"]) <= 2e-3 * want["std"] + 1e-6 or not math.isfinite(
            want["std"]
        ), (row.name, row.mean, want["mean"])
        assert row.zeros == pytest.approx(want["zeros"], abs=1e-3), row.name
        if "saturated" in want:
            assert row.saturated == pytest.approx(want["saturated"], abs=1e-3), row.name
        else:
            assert row.saturated is None, row.name
        if case["grad"]:
            assert _close(row.grad_std, want.get("grad_std")), (row.name, row.grad_std)


class _Probe(nn.Module):
    """y = x * w: one parameter, and a hook-free way to see whether it is real while running."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(paramtool.randn(3))
        self.real_while_running: list[int] = []

    def forward(self, x: Any, model: nn.Module) -> Any:
        self.real_while_running.append(sum(not p.is_deferred for p in model.parameters()))
        return x * self.w


class _Chain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = _Probe(), _Probe(), _Probe()

    def forward(self, x: Any) -> Any:
        return self.c(self.b(self.a(x, self), self), self)


def test_streaming_holds_one_layer_and_gives_the_named_values() -> None:
    model = _Chain()
    x = paramtool.ones(3)
    with streamed(model, seed=7), paramtool.no_grad():
        streamed_out = model(x).numpy().copy()
    assert [m.real_while_running for m in (model.a, model.b, model.c)] == [[1], [1], [1]]
    assert all(p.is_deferred for p in model.parameters())  # released, recipe kept
    with paramtool.no_grad():
        real_out = model.materialize(seed=7)(x).numpy()
    np.testing.assert_array_equal(streamed_out, real_out)


def test_streaming_releases_when_forward_fails() -> None:
    model = _Chain()
    with pytest.raises(TypeError), streamed(model, seed=0):
        model("not a tensor")
    assert all(p.is_deferred for p in model.parameters())


def test_drift_flags_the_first_exploding_depth() -> None:
    model = prepare(ModelRecipe(MLP, scheme="normal:std=1", seed=0)).model
    batch = example_batch(model, [8, 32], seed=0)
    run = check_model(model, batch, factor=3.0)
    first = next(row for row in run.path() if row.std > 3.0 * run.reference_std)
    assert [(d.kind, d.depth, d.name) for d in run.drift] == [
        ("exploding", first.depth, first.name)
    ]
    tanh = [row for row in run.layers if row.type == "Tanh"]
    assert all(row.saturated is not None and row.saturated > 0.5 for row in tanh)


def test_example_batch_is_seeded_and_ids_stay_below_the_vocabulary() -> None:
    model = nn.Sequential(nn.Embedding(11, 4))
    ids = example_batch(model, [4, 50], integer=True, seed=3).numpy()
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 11
    assert len(np.unique(ids)) == 11
    again = example_batch(model, [4, 50], integer=True, seed=3).numpy()
    np.testing.assert_array_equal(ids, again)
    floats = example_batch(nn.Linear(5, 5), [4000], seed=3).numpy()
    assert abs(floats.mean()) < 0.1 and abs(floats.std() - 1) < 0.05
    assert vocab_size(model) == 11
    with pytest.raises(CheckError, match="vocabulary"):
        vocab_size(nn.Linear(2, 2))
    with pytest.raises(CheckError, match="example_input"):
        example_batch(nn.Linear(2, 2))


def test_cli_compares_schemes_and_json_validates() -> None:
    args = [
        MLP,
        "--input",
        "8,32",
        "--scheme",
        "kaiming",
        "--scheme",
        "normal:std=1",
        "--seed",
        "0",
    ]
    result = invoke("check", *args, "--json", "--factor", "3")
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "check")
    assert [run["scheme"] for run in data["runs"]] == ["kaiming", "normal:std=1"]
    kaiming, normal = data["runs"]
    assert normal["drift"][0]["kind"] == "exploding"
    assert normal["layers"][-1]["std"] > 10 * kaiming["layers"][-1]["std"]
    text = invoke("check", *args, "--factor", "3", env={"COLUMNS": "80"})
    assert text.exit_code == 0, text.output
    assert "normal:std=1: exploding from depth" in text.stdout
    plot = text.stdout[text.stdout.index(" |") - 9 :].splitlines()
    assert all(len(line) <= 80 for line in plot)
    assert "* kaiming   o normal:std=1" in text.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--input", "0,3"], 2, "expected positive sizes"),
        (["--input", "a,b"], 2, "expected positive sizes"),
        (["--input", "2,32", "--factor", "1"], 2, "expected a finite number > 1"),
        ([], 1, "defines no example_input()"),
        (["--input", "2,32", "--int"], 1, "no vocabulary size"),
        (["--input", "4,31"], 1, "forward of 0 (Linear) failed: mat1 and mat2 shapes cannot be"),
        (["--input", "2,32", "--from", "missing.safetensors"], 1, "missing.safetensors"),
    ],
)
def test_cli_bad_input_is_one_line(args: list[str], code: int, message: str) -> None:
    result = invoke("check", MLP, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr


LLAMA = str(ROOT / "sample_models" / "llama.py")
TINY_LLAMA = {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 176,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 500}  # fmt: skip


def test_a_streamed_check_holds_one_module_at_a_time() -> None:
    model = prepare(ModelRecipe(LLAMA, args=TINY_LLAMA, seed=0)).model
    held: list[int] = []

    def count(module: nn.Module, args: Any, output: Any) -> None:
        held.append(sum(p.nbytes for p in model.parameters() if not p.is_deferred))

    for module in model.modules():
        module.register_forward_hook(count)
    batch = example_batch(model, [1, 8], integer=True, seed=0)
    run = check_model(model, batch, seed=0)
    largest = max(sum(p.nbytes for p in m.parameters(recurse=False)) for m in model.modules())
    assert max(held) == largest  # the embedding (or head) alone, never two layers
    assert all(p.is_deferred for p in model.parameters())
    assert run.reference == "model.embed_tokens"  # token ids: measured against the embedding
    embed = next(row for row in run.layers if row.name == "model.embed_tokens")
    assert run.reference_std == embed.std and embed.std == pytest.approx(0.02, rel=0.05)


def test_cli_checks_a_checkpoint_the_same_as_its_scheme(tmp_path: Path) -> None:
    out = tmp_path / "k.safetensors"
    exported = invoke("export", out, "--model", MLP, "--scheme", "kaiming", "--seed", "5")
    assert exported.exit_code == 0, exported.output
    common = [MLP, "--input", "16,32", "--seed", "5", "--json"]
    from_file = validate(invoke("check", *common, "--from", out).stdout, "check")["runs"][0]
    from_scheme = validate(invoke("check", *common, "--scheme", "kaiming").stdout, "check")["runs"][
        0
    ]
    assert from_file["scheme"] == str(out)
    assert [r["std"] for r in from_file["layers"]] == [r["std"] for r in from_scheme["layers"]]


def test_streamed_backward_recomputes_layers_exactly() -> None:
    batch_model = prepare(ModelRecipe(LLAMA, args=TINY_LLAMA, seed=0)).model
    batch = example_batch(batch_model, [2, 8], integer=True, seed=0)
    streamed_model = prepare(ModelRecipe(LLAMA, args=TINY_LLAMA, seed=0)).model
    held: list[int] = []
    for module in streamed_model.modules():
        module.register_forward_hook(
            lambda m, a, out: held.append(
                sum(p.nbytes for p in streamed_model.parameters() if not p.is_deferred)
            )
        )
    streamed_run = check_model(streamed_model, batch, grad=True, seed=0)
    largest = max(
        sum(p.nbytes for p in m.parameters(recurse=False)) for m in streamed_model.modules()
    )
    assert max(held) == largest
    real = prepare(ModelRecipe(LLAMA, args=TINY_LLAMA, seed=0)).model.materialize(seed=0)
    real_run = check_model(real, batch, grad=True, seed=0, stream=False)
    got = [(r.name, r.grad_std) for r in streamed_run.layers]
    want = [(r.name, r.grad_std) for r in real_run.layers]
    assert [n for n, _ in got] == [n for n, _ in want]
    for (name, ours), (_, theirs) in zip(got, want, strict=True):
        assert (ours is None) == (theirs is None), name
        assert ours is None or ours == pytest.approx(theirs, rel=1e-5), name
    assert sum(g is not None for _, g in got) > 20
