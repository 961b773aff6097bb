"""Shard plans come from names, shapes and dtypes alone; a shard is written from its plan and a
source alone; checkpoint ids follow the inputs; init and export share one build path."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import paramtool
from paramtool.checkpoint import open_checkpoint
from paramtool.errors import ExportError
from paramtool.export import (
    ModelRecipe,
    ModelSource,
    StateSource,
    TensorSpec,
    check_target,
    make_plan,
    prepare,
    write_checkpoint,
    write_shard,
)
from tests.cli_support import ROOT, invoke
from tests.test_export_atomic import SMALL

LLAMA = str(ROOT / "sample_models" / "llama.py")
GPT2 = str(ROOT / "sample_models" / "gpt2.py")


class HeadersOnly:
    """A source that knows its tensors but refuses to compute any value."""

    def __init__(self, specs: list[TensorSpec], ties: dict[str, str]) -> None:
        self.specs, self.tied = specs, ties

    def entries(self) -> list[TensorSpec]:
        return self.specs

    def ties(self) -> dict[str, str]:
        return self.tied

    def metadata(self) -> dict[str, str]:
        return {"origin": "headers"}

    def fingerprint(self) -> str:
        return "headers-only"

    def values(self, name: str) -> np.ndarray:
        raise AssertionError(f"planning asked for the values of {name}")


def test_a_70b_plan_needs_no_values_and_follows_hugging_face() -> None:
    source = ModelSource(ModelRecipe(LLAMA, args={"size": "70b"}, dtype="bfloat16"))
    specs = source.entries()
    plan = make_plan(HeadersOnly(specs, source.ties()), "5GB")
    # 68,976,648,192 parameters in bfloat16 (the published LLaMA-2-70B count).
    assert plan.total_size == 2 * 68_976_648_192
    n = len(plan.shards)
    assert [s.file for s in plan.shards] == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]  # fmt: skip
    assert sorted(t.name for s in plan.shards for t in s.tensors) == sorted(t.name for t in specs)
    assert all(shard.nbytes <= 5 * 10**9 for shard in plan.shards)
    index = plan.index_bytes().decode()
    assert '"total_size": 137953296384' in index and '"paramtool.checkpoint_id"' in index


def test_ties_are_stored_once_and_recorded_beside_their_kept_tensor(tmp_path: Path) -> None:
    source = ModelSource(ModelRecipe(GPT2, args={"n_layer": 1}))
    assert source.ties() == {"lm_head.weight": "transformer.wte.weight"}
    plan = make_plan(source, "50MB")
    kept = next(
        s for s in plan.shards if any(t.name == "transformer.wte.weight" for t in s.tensors)
    )
    assert kept.metadata["lm_head.weight"] == "transformer.wte.weight"
    assert all("lm_head.weight" not in s.metadata for s in plan.shards if s is not kept)


def test_any_shard_is_written_from_the_plan_and_a_copy_of_the_source(tmp_path: Path) -> None:
    source = ModelSource(ModelRecipe(LLAMA, args=SMALL, seed=11))
    files = write_checkpoint(source, tmp_path / "whole", "100kB")
    plan = make_plan(source, "100kB")
    copy = pickle.loads(pickle.dumps(source))  # what a worker receives
    alone = tmp_path / "alone"
    alone.mkdir()
    for index in reversed(range(len(plan.shards))):  # any order
        write_shard(copy, plan, index, alone)
    for file in files[:-1]:
        assert (alone / file.name).read_bytes() == file.read_bytes()


def test_checkpoint_ids_follow_the_inputs(tmp_path: Path) -> None:
    def plan_id(**changes: object) -> str:
        recipe = ModelRecipe(LLAMA, **{"args": SMALL, "seed": 1, **changes})  # type: ignore[arg-type]
        return make_plan(ModelSource(recipe), "100kB").checkpoint_id

    base = plan_id()
    assert plan_id() == base  # same inputs, same id: byte-identical re-runs and workers
    others = {
        plan_id(seed=2),
        plan_id(scheme="kaiming"),
        plan_id(rules=("*.weight=zeros",)),
        plan_id(dtype="float16"),
        plan_id(args={**SMALL, "rms_norm_eps": 1e-5}),
    }
    assert base not in others and len(others) == 5
    copy = tmp_path / "llama.py"
    copy.write_text(Path(LLAMA).read_text() + "\n# edited\n")
    assert plan_id() != make_plan(ModelSource(ModelRecipe(str(copy), args=SMALL, seed=1)), "100kB").checkpoint_id  # fmt: skip
    # In-memory state dicts cannot be fingerprinted for free: two saves never share an id.
    state = {"w": np.zeros(3, np.float32)}
    assert make_plan(StateSource(state)).checkpoint_id != make_plan(StateSource(state)).checkpoint_id  # fmt: skip


def test_the_seed_is_fixed_when_the_recipe_is_made_and_the_global_seed_is_kept() -> None:
    paramtool.manual_seed(123)
    try:
        recipe = ModelRecipe(LLAMA, args=SMALL)
        assert recipe.seed == 123
        paramtool.manual_seed(7)
        prepare(ModelRecipe(LLAMA, args=SMALL, seed=99, scheme="normal"))
        assert paramtool.initial_seed() == 7  # no global side effect
        name = "model.layers.0.mlp.up_proj.weight"
        values = ModelSource(recipe).values(name)
        again = ModelSource(ModelRecipe(LLAMA, args=SMALL, seed=123)).values(name)
        np.testing.assert_array_equal(values, again)
    finally:
        paramtool.manual_seed(0)


def test_init_and_export_cast_at_the_same_point(tmp_path: Path) -> None:
    out = tmp_path / "init.safetensors"
    args = ["--arg", "in_features=64", "--arg", "hidden=32", "--scheme", "kaiming", "--seed", "4"]
    mlp = str(ROOT / "sample_models" / "mlp.py")
    assert invoke("init", mlp, *args, "--dtype", "float16", "-o", out, "--json").exit_code == 0
    exported = tmp_path / "export.safetensors"
    assert invoke("export", exported, "--model", mlp, *args, "--dtype", "float16").exit_code == 0
    a, b = open_checkpoint(out), open_checkpoint(exported)
    for name in ("0.weight", "2.weight"):
        np.testing.assert_array_equal(a.array(name), b.array(name))
        assert a.array(name).dtype == np.float16


def test_bad_targets_are_refused_by_the_library(tmp_path: Path) -> None:
    bad = [("", True), ("a\0b", True), ("/", True), (str(tmp_path), False), ("/proc", True)]
    for out, folder in bad:
        with pytest.raises(ExportError):
            check_target(out, folder)
    assert check_target(tmp_path / "new", folder=True) == tmp_path / "new"


def test_export_warns_like_init_when_a_rule_matches_nothing(tmp_path: Path) -> None:
    mlp = str(ROOT / "sample_models" / "mlp.py")
    for command in (["export", tmp_path / "o.safetensors", "--model", mlp], ["init", mlp]):
        result = invoke(*command, "--rule", "bias=zeros")  # a name, not a full-name pattern
        assert result.exit_code == 0, result.output
        assert (
            "warning: rule 'bias=zeros' matched no parameter (patterns match full names)"
            in result.stderr
        )
