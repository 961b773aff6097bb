"""Reports checked against PyTorch's tables (recorded) and the reference safetensors writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from scipy.spatial.distance import cosine

from paramtool import report
from paramtool.models.loader import load_model
from paramtool.report import stats as stats_module

MODELS = Path(__file__).parent / "data" / "models"
RECORD = json.loads((MODELS / "reference.json").read_text())
REFERENCE = RECORD["models"]


def model_inventory(file: str, **kwargs: object) -> report.Inventory:
    return report.from_module(load_model(MODELS / file, **kwargs), source=file)


@pytest.mark.parametrize("file", sorted(REFERENCE))
def test_rows_and_totals_match_pytorch(file: str) -> None:
    ref = REFERENCE[file]
    inv = model_inventory(file)
    params = [
        [r.name, list(r.shape), r.dtype, r.trainable] for r in inv.rows if r.kind == "parameter"
    ]
    buffers = [[r.name, list(r.shape), r.dtype] for r in inv.rows if r.kind == "buffer"]
    assert params == ref["parameters"]
    assert buffers == ref["buffers"]
    saved = [r.name for r in inv.rows if r.persistent]
    assert saved == ref["state_dict"]
    totals = inv.totals
    assert totals.parameters == ref["numel"]
    assert totals.trainable == ref["trainable"]
    assert totals.frozen == ref["numel"] - ref["trainable"]
    assert totals.buffers == ref["buffer_numel"]


def test_tie_groups_and_bytes() -> None:
    inv = model_inventory("tiny_lm.py")
    assert inv.ties == [["embed.weight", "head.weight"]]
    head = inv.row("head.weight")
    assert head.tied_to == "embed.weight" and head.tie_group == 0
    totals = inv.totals
    assert totals.names == len(inv.rows) == totals.tensors + 1
    assert totals.bytes_by_dtype == {"float32": 4 * (1048 + 16), "int64": 8}
    assert totals.nbytes == 4 * (1048 + 16) + 8


def test_shared_module_ties_every_name() -> None:
    inv = model_inventory("shared.py")
    assert inv.ties == [["1.weight", "3.weight"], ["1.bias", "3.bias"]]
    assert inv.totals.parameters == REFERENCE["shared.py"]["numel"]


def test_a_tied_name_has_the_values_its_export_stores(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from paramtool.checkpoint import save_state_dict

    model = load_model(MODELS / "tiny_lm.py")
    path = tmp_path / "m.safetensors"
    save_state_dict(model, path)
    stored = load_file(path)  # the reference reader: the tie is stored once, as embed.weight
    inv = report.from_module(model)
    np.testing.assert_array_equal(inv.values("head.weight"), stored["embed.weight"])
    assert not report.diff(inv, report.open_inventory(path)).differing


def test_tree_collapses_identical_blocks() -> None:
    inv = model_inventory("tiny_lm.py", args={"n_layer": 4})
    root = report.build_tree(inv)
    assert root.type == "TinyLM" and root.parameters == inv.totals.parameters
    children = {c.name: c for c in root.children}
    run = children["layers.0-3"]
    assert (run.repeat, run.type) == (4, "Block")
    per_block = 8 + 8 + 24 * 8 + 24 + 8 * 8
    assert run.parameters == per_block and run.total_parameters == 4 * per_block
    assert [c.name for c in run.children] == ["norm", "attn", "proj"]
    assert children["head"].parameters == 0  # tied: counted under embed
    assert sum(c.total_parameters for c in root.children) + 32 == root.parameters  # + pos


def test_tree_keeps_different_blocks_apart() -> None:
    rows = [
        report.TensorRow(f"h.{i}.w", (2, 2 if i != 2 else 3), "float32", 4, 16) for i in range(4)
    ]
    root = report.build_tree(report.Inventory("x", "checkpoint", rows))
    h = root.children[0]
    assert [c.name for c in h.children] == ["0-1", "2", "3"]


def test_tree_of_a_checkpoint(tmp_path: Path) -> None:
    tensors = {f"model.layers.{i}.mlp.weight": np.zeros((4, 2), np.float32) for i in range(5)}
    tensors["model.norm.weight"] = np.ones(4, np.float32)
    save_file(tensors, tmp_path / "c.safetensors")
    root = report.build_tree(report.open_inventory(tmp_path / "c.safetensors"))
    model = root.children[0]
    assert [c.name for c in model.children] == ["layers.0-4", "norm"]
    assert model.children[0].repeat == 5 and model.parameters == 44


def test_filter_keeps_totals_of_matching_rows() -> None:
    inv = model_inventory("tiny_lm.py").filtered("layers.*.attn.*")
    assert [r.name for r in inv.rows][:2] == ["layers.0.attn.weight", "layers.0.attn.bias"]
    assert inv.totals.parameters == 3 * (24 * 8 + 24)


def test_checkpoint_inventory_reads_header_and_ties(tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    embed = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_file(
        {"embed.weight": embed, "b": np.zeros(2, np.int8)},
        path,
        metadata={"head.weight": "embed.weight", "format": "pt"},
    )
    inv = report.open_inventory(path)
    assert inv.kind == "checkpoint"
    assert [(r.name, r.shape, r.dtype) for r in inv.rows] == [
        ("embed.weight", (3, 4), "float32"),  # file order: the reference sorts by alignment
        ("b", (2,), "int8"),
        ("head.weight", (3, 4), "float32"),
    ]
    assert inv.ties == [["embed.weight", "head.weight"]]
    assert inv.metadata == {"format": "pt"}
    # integer tensors of a checkpoint are buffers, not parameters (transformers' count)
    assert inv.totals.parameters == 12 and inv.totals.buffers == 2 and inv.totals.nbytes == 50
    np.testing.assert_array_equal(inv.values("head.weight"), embed)


def test_tensor_stats_match_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 2.0, size=10_001).astype(np.float32)
    values[[5, 17]] = [np.nan, np.inf]
    values[100:110] = 0
    monkeypatch.setattr(stats_module, "CHUNK", 1000)  # exercise the chunk merge
    s = report.tensor_stats("w", values)
    finite = values[np.isfinite(values)].astype(np.float64)
    assert (s.nan, s.inf, s.zeros, s.numel) == (1, 1, 10, 10_001)
    assert s.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert s.std == pytest.approx(finite.std(), rel=1e-10)
    assert (s.min, s.max) == (finite.min(), finite.max())
    assert not s.finite


def test_stats_of_bfloat16_and_empty() -> None:
    import ml_dtypes

    s = report.tensor_stats("b", np.array([1, 2, 3], dtype=ml_dtypes.bfloat16))
    assert (s.mean, s.min, s.max) == (2.0, 1.0, 3.0)
    empty = report.tensor_stats("e", np.zeros((0, 3), np.float32))
    assert empty.numel == 0 and empty.to_dict()["mean"] is None


def test_load_check_agrees_with_pytorch(tmp_path: Path) -> None:
    record = RECORD["load_check"]
    model = model_inventory("tiny_lm.py")
    state = {
        r.name: np.zeros(r.shape, np.float32)
        for r in model.rows
        if r.persistent and r.name not in record["drop"]
    }
    state.update({name: np.zeros((8, 8), np.float32) for name in record["extra"]})
    state[record["size_mismatch"]] = np.zeros((4, 8), np.float32)
    save_file(state, tmp_path / "ck.safetensors")
    check = report.check_load(model, report.open_inventory(tmp_path / "ck.safetensors"))
    assert check.missing == record["missing"]
    assert check.unexpected == record["unexpected"]
    assert [m.name for m in check.shape_mismatches] == [record["size_mismatch"]]
    assert check.shape_mismatches[0].found == (4, 8)
    assert [m.name for m in check.dtype_mismatches] == ["step"]  # int64 buffer saved as float32
    for name in record["missing"] + record["unexpected"] + [record["size_mismatch"]]:
        assert name in record["strict_error"]
    assert not check.ok(strict=True) and not check.ok(strict=False)


def test_load_check_restores_ties(tmp_path: Path) -> None:
    model = model_inventory("tiny_lm.py")
    state = {
        r.name: np.zeros(r.shape, np.dtype(r.dtype))
        for r in model.rows
        if r.persistent and r.tied_to is None
    }
    save_file(state, tmp_path / "ck.safetensors", metadata={"head.weight": "embed.weight"})
    check = report.check_load(model, report.open_inventory(tmp_path / "ck.safetensors"))
    assert check.ok(strict=True), check.to_dict()
    assert check.ties_restored == [["embed.weight", "head.weight"]]


def test_diff_against_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = {
        "w": rng.normal(size=(50, 40)).astype(np.float32),
        "same": np.ones(3, np.float32),
        "gone": np.zeros(2, np.float32),
    }
    b = {
        "w": a["w"] + rng.normal(scale=1e-3, size=(50, 40)).astype(np.float32),
        "same": np.ones(3, np.float16),
        "new": np.zeros(1, np.float32),
    }
    save_file(a, tmp_path / "a.safetensors")
    save_file(b, tmp_path / "b.safetensors")
    inv_a, inv_b = (report.open_inventory(tmp_path / f"{x}.safetensors") for x in "ab")
    result = report.diff(inv_a, inv_b, atol=1e-8, rtol=1e-5)
    assert result.only_in_a == ["gone"] and result.only_in_b == ["new"]
    assert [m.name for m in result.dtype_changes] == ["same"]
    w = {t.name: t for t in result.tensors}["w"]
    wa, wb = a["w"].astype(np.float64), b["w"].astype(np.float64)
    assert w.max_abs == pytest.approx(np.abs(wa - wb).max())
    assert w.max_rel == pytest.approx((np.abs(wa - wb) / np.abs(wb)).max())
    assert w.cosine == pytest.approx(1 - cosine(wa.ravel(), wb.ravel()), abs=1e-12)
    assert not np.allclose(wa, wb, atol=1e-8, rtol=1e-5)
    assert not w.close
    assert report.diff(inv_a, inv_b, atol=1e-2, rtol=0).tensors[0].close
    assert not result.same
    assert report.diff(inv_a, inv_a).same


def test_stats_of_a_filter_that_keeps_only_an_alias_measure_the_shared_tensor(
    tmp_path: Path,
) -> None:
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = tmp_path / "tied.safetensors"
    save_file({"embed.weight": weight}, str(path), metadata={"head.weight": "embed.weight"})
    full = report.open_inventory(path)
    assert [s.name for s in report.inventory_stats(full)] == ["embed.weight"]  # counted once
    (only,) = report.inventory_stats(full.filtered("head.*"))
    assert only.name == "head.weight" and only.numel == 6
    assert (only.mean, only.max) == (float(weight.mean()), 5.0)


def test_stats_of_complex_values_count_either_part() -> None:
    values = np.array([3 + 4j, complex(1, np.nan), complex(np.inf, 1), complex(np.nan, np.inf), 0j], np.complex64)  # fmt: skip
    s = report.tensor_stats("c", values)
    assert (s.numel, s.nan, s.inf, s.zeros) == (5, 2, 1, 1)
    assert (s.mean, s.min, s.max) == (2.5, 0.0, 5.0)
    assert s.std == pytest.approx(2.5)
