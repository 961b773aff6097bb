"""Headers of many tensors: inspect --json streams its rows, stats batches tiny tensors.

Times are measured by benchmarks/bench_header.py; these tests hold the properties that keep the
work linear: no dict per row, a writer holding one batch of lines, batched statistics equal to
those of each tensor alone.
"""

from __future__ import annotations

import io
import json
import math
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from benchmarks.bench_header import write_file
from paramtool.checkpoint import open_checkpoint, read_header
from paramtool.checkpoint.safetensors import format as safetensors_format
from paramtool.cli.inspect import _stats_json as stats_json
from paramtool.cli.json_output import EncodedItems, write_json
from paramtool.cli.render import counts, floats
from paramtool.errors import SafetensorsError
from paramtool.report import Inventory, TensorRow, TensorStats, inventory_stats, tensor_stats
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


@pytest.mark.parametrize(
    "stats",
    [
        TensorStats("w", 4, 0.25, 0.5, -1.0, 1.0, 1, 0, 0),
        TensorStats('a"b\\c\n\u2028é\x1b[31m', 3, math.nan, math.nan, math.nan, math.nan, 0, 2, 1),
        TensorStats("e", 0, math.nan, math.nan, math.nan, math.nan, 0, 0, 0),
        TensorStats("x", 2, -0.0, 1e-300, -1e308, 5e-324, 2, 0, 0),
        TensorStats("y", 2, math.inf, math.nan, -0.0, 0.0, 1, 0, 0),
    ],
)
def test_stats_json_is_the_json_of_its_dict(stats: TensorStats) -> None:
    many = [stats] * 3000  # long columns: each distinct figure written once
    expected = json.dumps(stats.to_dict(), separators=(", ", ": "))
    assert list(stats_json([stats])) == [expected]
    assert set(stats_json(many)) == {expected}


def test_shared_number_formatting_equals_each_value_alone() -> None:
    rng = np.random.default_rng(2)
    values = [*rng.standard_normal(3000).tolist(), 0.0, -0.0, math.nan, math.inf, -math.inf, None]
    columns = [values, list(reversed(values)), [-0.0, 0.0, None] * 500, [1e-5, 0.1234567] * 3]
    for spec in (".4g", ".1%"):
        expected = [["-" if v is None or v != v else format(v, spec) for v in c] for c in columns]
        assert floats(spec, *columns) == expected
    assert counts([1000, 5, 1000, 0]) == ["1,000", "5", "1,000", "0"]


def _header(entries: dict[str, object]) -> bytes:
    raw = json.dumps(entries).encode()
    return struct.pack("<Q", len(raw)) + raw


BROKEN = {
    "bool dim": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]},
    "float dim": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]},
    "negative dim": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]},
    "short span": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]},
    "reversed": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]},
    "gap": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
    "overlap": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
    "lowercase dtype": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]},
    "extra field": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1},
    "offsets not pair": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 4]},
    "huge offset": {"dtype": "F32", "shape": [1], "data_offsets": [2**63, 2**63 + 4]},
    "zero dim after overflow": {"dtype": "U8", "shape": [2**40, 2**40, 0], "data_offsets": [0, 0]},
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_column_checks_refuse_what_the_rule_checks_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """Among 5,000 good entries, one broken one is refused with the message the rule-by-rule
    check gives (the column checks only ever accept a whole header)."""
    good = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i + 4, 4 * i + 8]} for i in range(5000)}  # fmt: skip
    entries = {"first": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, **good}
    entries["bad"] = BROKEN[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_header(entries) + b"\0" * (4 * 5001))
    with pytest.raises(SafetensorsError) as columns:
        read_header(path)
    monkeypatch.setattr(safetensors_format, "_well_formed", lambda *args: None)
    with pytest.raises(SafetensorsError) as rules:
        read_header(path)
    assert str(columns.value) == str(rules.value)


def test_column_checks_accept_what_the_rule_checks_accept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    tensors = {f"m.{i}": rng.standard_normal(rng.integers(1, 5, size=rng.integers(0, 4))).astype(dtype)  # fmt: skip
               for i, dtype in enumerate([np.float32, np.float16, np.int8, np.bool_, np.int64] * 200)}  # fmt: skip
    path = write_checkpoint(tmp_path / "mixed.safetensors", tensors)
    header = read_header(path)
    raw = path.read_bytes()
    parsed = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    data_size = len(raw) - header.data_start
    assert safetensors_format._well_formed(list(parsed), list(parsed.values()), data_size)
    monkeypatch.setattr(safetensors_format, "_well_formed", lambda *args: None)
    assert read_header(path) == header and len(header.tensors) == 1000


def test_stacked_reads_equal_each_array(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    tensors = {f"b{i}": rng.standard_normal(3).astype(np.float16) for i in range(50)}
    tensors.update({f"c{i}": rng.standard_normal(3).astype(np.float32) for i in range(50)})
    path = write_checkpoint(tmp_path / "few.safetensors", tensors)
    checkpoint = open_checkpoint(path)
    names = [f"b{i}" for i in range(49, -1, -2)]
    stacked = checkpoint.stacked(names)
    assert stacked.dtype == np.float16
    assert np.array_equal(stacked, np.stack([tensors[n] for n in names]))
    with pytest.raises(ValueError):
        checkpoint.stacked(["b0", "c0"])
