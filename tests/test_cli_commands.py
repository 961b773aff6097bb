"""Every command driven in-process with CliRunner; --json checked against the schema."""

from __future__ import annotations

import io
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_support import MODELS, invoke, tiny_lm_state, validate, write_checkpoint
from safetensors import safe_open
from safetensors.numpy import load_file

REFERENCE = json.loads((MODELS / "reference.json").read_text())["models"]
TINY = MODELS / "tiny_lm.py"
ANSI = re.compile(r"\x1b\[")


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return write_checkpoint(
        tmp_path / "ck.safetensors", tiny_lm_state(), **{"head.weight": "embed.weight"}
    )


def test_inspect_model_table_and_totals() -> None:
    result = invoke("inspect", MODELS / "mlp.py")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "shape", "dtype", "params", "trainable", "tied"]
    assert lines[1].split() == ["0.weight", "[3,", "4]", "float32", "12", "yes"]
    assert "parameters: 19 (trainable 19, frozen 0)" in result.stdout
    assert "size:       76 B (float32 76 B)" in result.stdout
    assert not ANSI.search(result.stdout)  # plain when piped


def test_inspect_json_matches_pytorch() -> None:
    result = invoke("inspect", TINY, "--json")
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "inspect")
    ref = REFERENCE["tiny_lm.py"]
    assert data["totals"]["parameters"] == ref["numel"] == 1048
    assert data["totals"]["trainable"] == ref["trainable"]
    assert [t["name"] for t in data["tensors"] if t["kind"] == "parameter"] == [
        p[0] for p in ref["parameters"]
    ]
    assert data["ties"] == [["embed.weight", "head.weight"]]


def test_inspect_tree_collapses_blocks_with_thousands_separators() -> None:
    result = invoke("inspect", TINY, "--tree", "--arg", "n_layer=32", "--arg", "dim=64")
    assert result.exit_code == 0, result.output
    per_block = 2 * 64 + 192 * 64 + 192 + 64 * 64
    assert f"layers.0-31: 32 x Block, {per_block:,} each" in result.stdout
    assert "layers.1." not in result.stdout


def test_inspect_depth_and_filter_json() -> None:
    result = invoke("inspect", TINY, "--depth", "1", "--filter", "layers.*", "--json")
    data = validate(result.stdout, "inspect")
    assert all(t["name"].startswith("layers.") for t in data["tensors"])
    assert [c["name"] for c in data["tree"]["children"]] == ["layers.0-2"]
    assert data["tree"]["children"][0]["children"] == []
    assert data["totals"]["parameters"] == 1048  # totals are of the whole model


def test_inspect_checkpoint_and_stats(checkpoint: Path) -> None:
    result = invoke("inspect", checkpoint, "--stats", "--json")
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "inspect")
    state = tiny_lm_state()
    assert data["kind"] == "checkpoint"
    floats = [v.size for v in state.values() if v.dtype.kind == "f"]  # the int64 step is a buffer
    assert data["totals"]["parameters"] == sum(floats)
    assert data["totals"]["buffers"] == sum(v.size for v in state.values()) - sum(floats)
    stats = {s["name"]: s for s in data["stats"]}
    assert stats["embed.weight"]["std"] == pytest.approx(
        float(state["embed.weight"].std()), rel=1e-6
    )
    assert stats["step"]["mean"] == 7


def test_inspect_folder_with_shards(tmp_path: Path) -> None:
    state = tiny_lm_state()
    names = sorted(state)
    first, second = names[: len(names) // 2], names[len(names) // 2 :]
    write_checkpoint(tmp_path / "model-00001-of-00002.safetensors", {n: state[n] for n in first})
    write_checkpoint(tmp_path / "model-00002-of-00002.safetensors", {n: state[n] for n in second})
    weight_map = {n: f"model-0000{1 if n in first else 2}-of-00002.safetensors" for n in names}
    index = {
        "metadata": {"total_size": sum(v.nbytes for v in state.values())},
        "weight_map": weight_map,
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    data = validate(invoke("inspect", tmp_path, "--json").stdout, "inspect")
    assert sorted(t["name"] for t in data["tensors"]) == names


def test_stats_reports_nan_and_exits_1(tmp_path: Path) -> None:
    path = write_checkpoint(
        tmp_path / "s.safetensors", {"w": np.array([1.0, np.nan, np.inf, 0.0], np.float32)}
    )
    result = invoke("stats", path, "--json")
    assert result.exit_code == 1
    (stat,) = validate(result.stdout, "stats")["stats"]
    assert (stat["nan"], stat["inf"], stat["zeros"], stat["mean"]) == (1, 1, 1, 0.5)
    text = invoke("stats", path).stdout
    assert "non-finite values in 1 tensor(s): w" in text


def test_load_ok_restores_ties(checkpoint: Path) -> None:
    result = invoke("load", TINY, checkpoint, "--json")
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "load")
    assert data["ok"] and data["ties_restored"] == [["embed.weight", "head.weight"]]
    assert "load (strict): ok" in invoke("load", TINY, checkpoint).stdout


def test_load_mismatch_lists_names_and_exits_1(tmp_path: Path) -> None:
    state = tiny_lm_state()
    del state["layers.1.attn.bias"]
    state["extra.weight"] = np.zeros(2, np.float32)
    path = write_checkpoint(tmp_path / "bad.safetensors", state)
    result = invoke("load", TINY, path)
    assert result.exit_code == 1 and result.stderr == ""
    # head.weight is tied to embed.weight in the model, so the stored embed.weight fills it
    # (as for a save_pretrained file); only the real gap is missing.
    assert "missing (1):\n  layers.1.attn.bias\n" in result.stdout
    assert "unexpected (1):\n  extra.weight" in result.stdout
    loose = invoke("load", TINY, path, "--no-strict", "--json")
    report = validate(loose.stdout, "load")
    assert loose.exit_code == 0 and report["missing"] == ["layers.1.attn.bias"]
    assert report["ties_restored"] == [["embed.weight", "head.weight"]]


def test_load_shape_mismatch_fails_even_when_not_strict(tmp_path: Path) -> None:
    state = tiny_lm_state() | {"layers.0.proj.weight": np.zeros((4, 8), np.float32)}
    path = write_checkpoint(tmp_path / "s.safetensors", state, **{"head.weight": "embed.weight"})
    result = invoke("load", TINY, path, "--no-strict")
    assert result.exit_code == 1
    assert "layers.0.proj.weight: model [8, 8], checkpoint [4, 8]" in result.stdout


def test_diff_same_and_different(tmp_path: Path, checkpoint: Path) -> None:
    assert invoke("diff", checkpoint, checkpoint).exit_code == 0
    state = tiny_lm_state()
    state["pos"] = state["pos"] + 1e-3
    other = write_checkpoint(tmp_path / "other.safetensors", state)
    result = invoke("diff", checkpoint, other, "--json")
    assert result.exit_code == 1 and result.stderr == ""
    data = validate(result.stdout, "diff")
    assert data["only_in_a"] == ["head.weight"]
    pos = next(t for t in data["tensors"] if t["name"] == "pos")
    assert pos["max_abs"] == pytest.approx(1e-3, rel=1e-3) and not pos["close"]
    assert invoke("diff", checkpoint, other, "--atol", "1e-2").exit_code == 1  # names still differ


def test_export_writes_a_file_the_reference_reads(tmp_path: Path) -> None:
    out = tmp_path / "out.safetensors"
    result = invoke(
        "export", out, "--model", TINY, "--seed", "3", "--metadata", "license=mit", "--json"
    )
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "export")
    assert data["ties"] == {"head.weight": "embed.weight"}
    loaded = load_file(out)
    assert set(loaded) == set(REFERENCE["tiny_lm.py"]["state_dict"]) - {"head.weight"}
    with safe_open(out, "np") as f:
        assert f.metadata()["license"] == "mit" and f.metadata()["head.weight"] == "embed.weight"
    np.testing.assert_array_equal(loaded["layers.0.norm.weight"], np.ones(8, np.float32))
    again = tmp_path / "again.safetensors"
    assert (
        invoke(
            "export", again, "--model", TINY, "--seed", "3", "--metadata", "license=mit"
        ).exit_code
        == 0
    )
    assert again.read_bytes() == out.read_bytes()  # same seed, same bytes


def test_export_from_checkpoint_with_dtype_and_shards(tmp_path: Path, checkpoint: Path) -> None:
    folder = tmp_path / "sharded"
    result = invoke(
        "export",
        folder,
        "--model",
        TINY,
        "--from",
        checkpoint,
        "--dtype",
        "bfloat16",
        "--max-shard-size",
        "1kB",
    )
    assert result.exit_code == 0, result.output
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    state = tiny_lm_state()
    merged = {}
    for shard in set(index["weight_map"].values()):
        merged |= load_file(folder / shard)
    assert merged["embed.weight"].dtype.name == "bfloat16"
    np.testing.assert_allclose(
        merged["embed.weight"].astype(np.float32), state["embed.weight"], rtol=1e-2
    )
    assert merged["step"].dtype == np.int64 and merged["step"] == 7


def test_init_reports_stats_against_expected_std(tmp_path: Path) -> None:
    out = tmp_path / "init.safetensors"
    args = [
        "init",
        TINY,
        "--scheme",
        "normal:std=0.02",
        "--rule",
        "*.proj.weight=zeros",
        "--rule",
        "nope*=ones",
    ]
    result = invoke(*args, "--seed", "1", "--arg", "dim=64", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "init")
    assert data["unmatched_rules"] == ["nope*=ones"]
    assert "rule 'nope*=ones' matched no parameter" in result.stderr
    rows = {row["name"]: row for row in data["parameters"]}
    assert "head.weight" not in rows and rows["embed.weight"]["aliases"] == ["head.weight"]
    attn = rows["layers.0.attn.weight"]
    assert attn["expected_std"] == pytest.approx(0.02)
    assert attn["stats"]["std"] == pytest.approx(0.02, rel=0.05)  # 12,288 draws
    assert abs(attn["stats"]["mean"]) < 4 * 0.02 / np.sqrt(192 * 64)
    assert rows["layers.0.proj.weight"]["stats"]["zero_fraction"] == 1.0
    assert rows["layers.0.attn.bias"]["source"] == "bias"
    written = load_file(out)
    assert float(written["layers.0.attn.weight"].std()) == pytest.approx(
        attn["stats"]["std"], rel=1e-6
    )


def test_init_table() -> None:
    result = invoke("init", MODELS / "mlp.py", "--scheme", "kaiming", "--seed", "0")
    assert result.exit_code == 0, result.output
    header, first, second = result.stdout.splitlines()[:3]
    assert header.split()[:5] == ["name", "shape", "by", "init", "expected"]
    assert first.startswith("0.weight") and first.split()[3] == "scheme" and "normal" in first
    assert second.startswith("0.bias") and second.split()[2] == "bias" and "zeros" in second
    ruled = invoke("init", MODELS / "mlp.py", "--rule", "*.bias=ones").stdout.splitlines()[2]
    assert ruled.split()[2:4] == ["*.bias", "ones"]


def test_load_report_stays_readable_for_long_lists(tmp_path: Path) -> None:
    llama = Path(__file__).resolve().parents[1] / "sample_models" / "llama.py"
    small = ["--arg", "num_hidden_layers=3", "--arg", "hidden_size=16", "--arg",
             "intermediate_size=32", "--arg", "num_attention_heads=2", "--arg", "vocab_size=50"]  # fmt: skip
    out = tmp_path / "llama.safetensors"
    assert invoke("export", out, "--model", llama, "--dtype", "bfloat16", *small).exit_code == 0
    same = invoke("load", llama, out, *small)
    assert same.exit_code == 0, same.output
    assert "dtype mismatch (30):\n  30 tensors: model float32, checkpoint bfloat16" in same.stdout
    other = invoke("load", TINY, out)
    assert other.exit_code == 1
    assert (
        "unexpected (30):" in other.stdout
        and "  ... and 10 more (--json lists all)" in other.stdout
    )
    listed = validate(invoke("load", TINY, out, "--json").stdout, "load")
    assert len(listed["unexpected"]) == 30


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_for_work_that_takes_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    from paramtool.cli import progress as module

    monkeypatch.setattr(module, "DELAY", 0.05)
    quick = _Terminal()
    monkeypatch.setattr(sys, "stderr", quick)
    with module.progress("writing", 100) as advance:
        advance("a", 100)
    assert quick.getvalue() == ""  # a quick command prints only its result
    slow = _Terminal()
    monkeypatch.setattr(sys, "stderr", slow)
    with module.progress("writing", 100) as advance:
        time.sleep(0.3)
        advance("a", 100)
    assert "writing" in slow.getvalue()
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    with module.progress("writing", 100) as advance:
        time.sleep(0.1)
        advance("a", 100)
    assert piped.getvalue() == ""  # never when piped


@pytest.mark.parametrize("command", ["inspect", "stats"])
def test_filter_matching_nothing_says_so(command: str) -> None:
    result = invoke(command, MODELS / "mlp.py", "--filter", "*atn*")
    assert result.exit_code == 0, result.output
    assert result.stderr == "warning: no tensor name matches '*atn*'\n"
    matched = invoke(command, MODELS / "mlp.py", "--filter", "*.bias")
    assert matched.stderr == "" and "0.bias" in matched.stdout and "0.weight" not in matched.stdout
