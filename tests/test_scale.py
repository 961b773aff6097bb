"""Headers of many tensors: inspect --json streams its rows, stats batches tiny tensors.

Times are measured by benchmarks/bench_header.py; these tests hold the properties that keep the
work linear: no dict per row, a writer holding one batch of lines, batched statistics equal to
those of each tensor alone.
"""

from __future__ import annotations

import io
import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from benchmarks.bench_header import write_file
from paramtool.cli.json_output import EncodedItems, write_json
from paramtool.report import Inventory, TensorRow, inventory_stats, tensor_stats
from tests.cli_support import invoke, validate, write_checkpoint


def test_inspect_json_of_200k_tensors_builds_no_dict_per_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "many.safetensors"
    write_file(path, 200_000)  # the benchmark's file of one-element tensors
    with safe_open(str(path), "np") as f:
        names = list(f.keys())
    calls = []
    monkeypatch.setattr(TensorRow, "to_dict", lambda row: calls.append(row))
    result = invoke("inspect", path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(row["name"] for row in data["tensors"]) == sorted(names)
    assert data["totals"]["tensors"] == 200_000 and data["totals"]["nbytes"] == 800_000
    assert calls == []


def test_json_writer_holds_one_batch_not_the_document() -> None:
    rows = [TensorRow(f"layers.{i}.weight", (4, 4), "float32", 16, 64) for i in range(200_000)]
    lines = [row.to_json() for row in rows]
    document = sum(map(len, lines))  # about 33 MB of text
    sink = io.StringIO()
    sink.write = lambda text: len(text)  # type: ignore[method-assign] - discard
    tracemalloc.start()
    try:
        write_json({"tensors": EncodedItems(iter(lines))}, sink)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < document / 10


@pytest.mark.parametrize(
    "row",
    [
        TensorRow("w", (), "bfloat16", 1, 2),
        TensorRow('a"b\\c\n\u2028é\x1b[31m', (3, 0, 2), "int8", 0, 0, kind="buffer"),
        TensorRow("lm_head.weight", (8, 4), "float32", 32, 128, "parameter", False, "emb", 0),
        TensorRow("emb", (8, 4), "float32", 32, 128, "parameter", True, None, 1, False),
    ],
)
def test_row_json_is_the_json_of_its_dict(row: TensorRow) -> None:
    assert row.to_json() == json.dumps(row.to_dict(), separators=(", ", ": "))


def test_json_document_holds_what_json_dumps_writes() -> None:
    data = {
        "source": "a\u2028b",
        "rows": [{"x": [1, 2], "y": None}, [], {}],
        "empty": [],
        "nested": {"a": {"b": [1.5, -0.0, 1e300]}, "c": {}},
        "key": None,
    }
    out = io.StringIO()
    write_json(data, out)
    assert json.loads(out.getvalue()) == data and out.getvalue().endswith("}\n")
    for value in ([], {}, [1, {"a": 2}], "text", 3):
        out = io.StringIO()
        write_json(value, out)
        assert json.loads(out.getvalue()) == value
    with pytest.raises(ValueError):
        write_json({"stats": [{"mean": math.nan}]}, io.StringIO())


def test_batched_stats_equal_each_tensor_alone() -> None:
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {}
    for n in (1, 2, 7, 8, 9, 100, 256, 257, 1000):
        for dtype in (np.float32, np.float16, np.int64, np.bool_):
            for k in range(12):
                values = rng.standard_normal(n) * 10.0 ** rng.integers(-4, 4)
                values = values.astype(dtype) if dtype is not np.bool_ else values > 0
                if k == 1 and values.dtype.kind == "f":
                    values[0] = np.nan
                if k == 2 and values.dtype.kind == "f":
                    values[-1] = -np.inf
                if k == 3:
                    values[:] = 0
                if k == 4 and values.dtype.kind == "f":
                    values[:] = -0.0
                arrays[f"t{len(arrays)}"] = values.reshape((1, n) if k % 2 else (n,))
    rows = [TensorRow(name, a.shape, str(a.dtype), a.size, a.nbytes) for name, a in arrays.items()]
    inventory = Inventory("many", "checkpoint", rows, _values=arrays.__getitem__)
    batched = inventory_stats(inventory)
    assert [s.name for s in batched] == list(arrays)
    assert [repr(s) for s in batched] == [repr(tensor_stats(n, a)) for n, a in arrays.items()]


def test_stats_json_of_many_tiny_tensors_match_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tensors = {f"b{i}": rng.standard_normal(i % 5 + 1).astype(np.float32) for i in range(3000)}
    path = write_checkpoint(tmp_path / "tiny.safetensors", tensors)
    result = invoke("stats", path, "--json")
    assert result.exit_code == 0, result.output
    stats = {s["name"]: s for s in validate(result.stdout, "stats")["stats"]}
    assert stats.keys() == tensors.keys()
    for name, values in tensors.items():
        wide = values.astype(np.float64)
        assert stats[name]["mean"] == pytest.approx(wide.mean(), rel=1e-12, abs=1e-15)
        assert stats[name]["std"] == pytest.approx(wide.std(), rel=1e-9, abs=1e-15)
        assert (stats[name]["min"], stats[name]["max"]) == (wide.min(), wide.max())
