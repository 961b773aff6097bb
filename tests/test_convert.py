"""``paramtool convert``: torch.save files -> safetensors, checked against torch.load's values.

Values are compared by SHA-256 with what ``torch.load`` read from the same files (recorded in
``expected.json`` by ``tests/fixtures/record_torch_checkpoints.py``) and read back with the
reference safetensors library (bfloat16, which its numpy reader cannot hold, through ours).
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch_files
from cli_support import MODELS, ROOT, invoke, validate
from safetensors import safe_open
from safetensors.numpy import load_file

from paramtool.checkpoint import open_checkpoint
from paramtool.export.convert import convert

FIXTURES = ROOT / "tests" / "fixtures" / "torch_checkpoints"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def reference_values(path: Path) -> dict[str, np.ndarray]:
    """Every tensor as the reference library reads it; bfloat16 ones through paramtool."""
    with safe_open(str(path), framework="numpy") as f:
        names = list(f.keys())
    ours = open_checkpoint(path)
    bf16 = [name for name in names if ours.entry(name).dtype_name == "bfloat16"]
    if not bf16:
        return load_file(str(path))
    out = {name: ours.array(name) for name in bf16}
    with safe_open(str(path), framework="numpy") as f:
        out.update({name: f.get_tensor(name) for name in names if name not in out})
    return out


@pytest.mark.parametrize("name", ["dtypes_zip.pt", "dtypes_legacy.pt", "tiny_lm.bin", "lightning.ckpt", "sharded", "tiny_bert"])  # fmt: skip
def test_converted_values_equal_torch_loads_bit_for_bit(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out.safetensors"
    result = invoke("convert", FIXTURES / name, out, "--json")
    assert result.exit_code == 0, result.output
    summary = validate(result.stdout, "convert")
    expected = EXPECTED[name]["tensors"]
    with safe_open(str(out), framework="numpy") as f:
        stored, metadata = set(f.keys()), f.metadata()
    ties = {k: v for k, v in metadata.items() if k in expected and k not in stored}
    assert stored | set(ties) == set(expected)
    assert summary["ties"] == ties and summary["tensors"] == len(stored)
    values = reference_values(out)
    for tensor, want in expected.items():
        value = values[ties.get(tensor, tensor)]
        assert list(value.shape) == want["shape"], tensor
        assert digest(value) == want["sha256"], tensor


def test_ties_are_stored_once_with_their_record(tmp_path: Path) -> None:
    out = tmp_path / "lm.safetensors"
    assert invoke("convert", FIXTURES / "tiny_lm.bin", out).exit_code == 0
    with safe_open(str(out), framework="numpy") as f:
        keys = set(f.keys())
        assert "head.weight" not in keys and "embed.weight" in keys
        assert f.metadata()["head.weight"] == "embed.weight"
    zoo = tmp_path / "zoo.safetensors"
    assert invoke("convert", FIXTURES / "dtypes_zip.pt", zoo).exit_code == 0
    with safe_open(str(zoo), framework="numpy") as f:
        assert f.metadata()["tied_b"] == "tied_a" and "tied_b" not in set(f.keys())
        # views of one storage that are not the same view are stored each in full
        assert {"base", "transposed", "rows", "column", "strided"} <= set(f.keys())


def test_training_entries_travel_as_json_metadata(tmp_path: Path) -> None:
    out = tmp_path / "l.safetensors"
    assert invoke("convert", FIXTURES / "lightning.ckpt", out, "--key", "state_dict").exit_code == 0
    with safe_open(str(out), framework="numpy") as f:
        metadata = f.metadata()
    assert json.loads(metadata["epoch"]) == 3 and json.loads(metadata["global_step"]) == 120
    assert json.loads(metadata["hyper_parameters"])["layers"] == [1, 2, 3]
    assert "optimizer_states" not in metadata  # tensors, not plain data: not carried


def test_sharded_output_loads_and_diffs_same(tmp_path: Path) -> None:
    out = tmp_path / "lm"
    result = invoke("convert", FIXTURES / "sharded", out, "--max-shard-size", "2KB")
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors.index.json").is_file()
    assert len(list(out.glob("model-*.safetensors"))) > 1
    assert invoke("load", MODELS / "tiny_lm.py", out).exit_code == 0
    diff = invoke("diff", FIXTURES / "sharded", out)
    assert diff.exit_code == 0 and diff.stdout.strip().endswith(": same"), diff.output
    stats = invoke("stats", FIXTURES / "tiny_lm.bin", "--json")
    assert stats.exit_code == 0
    names = [s["name"] for s in json.loads(stats.stdout)["stats"]]
    assert len(names) == 18 and "head.weight" not in names  # the tie is one tensor


def test_dtype_casts_floating_point_only(tmp_path: Path) -> None:
    out = tmp_path / "half.safetensors"
    assert invoke("convert", FIXTURES / "dtypes_zip.pt", out, "--dtype", "float16").exit_code == 0
    converted = open_checkpoint(out)
    source = open_checkpoint(FIXTURES / "dtypes_zip.pt")
    assert converted.entry("f64").dtype_name == "float16"
    assert (
        converted.entry("i64").dtype_name == "int64" and converted.entry("u8").dtype_name == "uint8"
    )
    np.testing.assert_array_equal(converted.array("f32"), source.array("f32").astype(np.float16))
    assert invoke("convert", FIXTURES / "tiny_lm.bin", out, "--dtype", "int8").exit_code == 1


def test_a_refused_input_leaves_the_old_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out.safetensors"
    assert invoke("convert", FIXTURES / "tiny_lm.bin", out).exit_code == 0
    before = out.read_bytes()
    hostile = torch_files.write_zip(tmp_path / "h.bin", data_pkl=b"cos\nsystem\n(S'true'\ntR.")
    result = invoke("convert", hostile, out)
    assert result.exit_code == 1 and "refused global 'os.system'" in result.stderr
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.bin", "out.safetensors"]


def test_conversion_streams_one_tensor_at_a_time(tmp_path: Path) -> None:
    """Eight 4 MB tensors cast to float16: the peak of allocations stays near one tensor."""
    rng = np.random.default_rng(0)
    state = {f"w{i}": torch_files.tensor(str(i), rng.standard_normal((1024, 1024), np.float32)) for i in range(8)}  # fmt: skip
    source = torch_files.write_zip(tmp_path / "big.bin", state)
    tracemalloc.start()
    try:
        convert(source, tmp_path / "out.safetensors", dtype="float16")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 2**21 + 2**20  # two 2 MB float16 tensors in flight, plus slack
    assert len(open_checkpoint(tmp_path / "out.safetensors")) == 8


def test_an_expanded_view_larger_than_memory_is_one_error(tmp_path: Path) -> None:
    storage = torch_files.Storage("0", np.zeros(4, np.float32))
    expanded = torch_files.Tensor(storage, 0, (2**45,), (0,))  # 128 TiB: no machine allocates it
    source = torch_files.write_zip(tmp_path / "x.bin", {"w": expanded})
    result = invoke("convert", source, tmp_path / "out.safetensors")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("tensor 'w' needs 140737488355328 bytes, more than this machine can hold")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]
