"""The fast header parse: duplicate keys still refused, colons anywhere still accepted, and
memory proportional to the header."""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from paramtool.checkpoint import open_checkpoint
from paramtool.checkpoint.safetensors import header_json
from paramtool.checkpoint.safetensors.format import header_from_bytes, parse_json
from paramtool.errors import SafetensorsError

ENTRY = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'


@pytest.mark.parametrize(
    ("text", "duplicate"),
    [
        ('{"a":%s,"a":%s}' % (ENTRY, ENTRY), "a"),  # noqa: UP031
        ('{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}', "dtype"),
        ('{"__metadata__":{"k":"a:b","k":"c"}}', "k"),
        ('{"__metadata__":{"k":"a","k":"b:c"}}', "k"),
        ('{"__metadata__":{"k":"x","k\\u003a":"y","k":"z"}}', "k"),  # an escaped colon
        ('{"a:b":%s,"a:b":%s}' % (ENTRY, ENTRY), "a:b"),  # noqa: UP031
    ],
)
def test_duplicate_keys_are_named(text: str, duplicate: str) -> None:
    with pytest.raises(SafetensorsError, match=f"duplicate key '{duplicate}'"):
        parse_json(text.encode(), "f")


def test_colons_in_names_and_metadata_are_data() -> None:
    text = '{"x:y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"u:v":"w:z"}}'
    parsed = parse_json(text.encode(), "f")
    assert parsed["__metadata__"] == {"u:v": "w:z"} and "x:y" in parsed


def _write(path: Path, n: int) -> Path:
    header = {f"layers.{i}.w": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(n)}  # fmt: skip
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + np.zeros(n, np.float32).tobytes())
    return path


def _peak(path: Path) -> int:
    tracemalloc.start()
    try:
        open_checkpoint(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_grows_with_the_header_not_faster(tmp_path: Path) -> None:
    small, large = (
        _write(tmp_path / "s.safetensors", 20_000),
        _write(tmp_path / "l.safetensors", 80_000),
    )
    ratio = _peak(large) / _peak(small)
    assert 3.0 < ratio < 5.0  # four times the tensors: about four times the memory


ODD_HEADERS = [
    '{"a":1,"a":2}',
    '{"w":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}}',
    '{"w":{"dtype":18446744073709551616,"shape":[1],"data_offsets":[0,4]}}',
    '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}',
    '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"k":1e400}}',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":-Infinity}',
    '{"a":18446744073709551616}',
    '{"a":-9223372036854775809}',
    '{"a":1e400}',
    '{"a":-0.0,"b":-0,"c":1E2,"d":0.1}',
    '{"a":"\\ud800"}',
    '{"a":"\\u0000\\u001f"}',
    '{"a":"tab\there"}',
    '{"a":[1,2,]}',
    '{"a":1}  \n ',
    '{"a":1} x',
    '{"a":' + "[" * 1100 + "]" * 1100 + "}",
    '{"a":' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"é":"ü","\\"":"\\\\"}',
    "{}",
    '{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
]


@pytest.mark.parametrize("text", ODD_HEADERS, ids=range(len(ODD_HEADERS)))
def test_the_fast_parser_reads_as_the_standard_one(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header read with orjson gives the header, or the message, read without it."""
    pytest.importorskip("orjson")
    raw = text.encode()

    def outcome() -> object:
        try:
            return ("read", header_from_bytes(raw, 8 + len(raw) + 4, "f"))
        except SafetensorsError as exc:
            return ("refused", str(exc))

    fast = outcome()
    monkeypatch.setattr(header_json, "_orjson", None)
    assert fast == outcome()


def test_an_index_naming_a_tensor_twice_is_refused(tmp_path: Path) -> None:
    for file in ("s.safetensors", "t.safetensors"):
        _write(tmp_path / file, 1)
    index = tmp_path / "model.safetensors.index.json"
    index.write_text('{"weight_map": {"layers.0.w": "s.safetensors", "layers.0.w": "t.safetensors"}}')  # fmt: skip
    with pytest.raises(SafetensorsError, match="duplicate key 'layers.0.w'"):
        open_checkpoint(index)
    index.write_text('{"weight_map": {"layers.0.w": "s.safetensors"}, "metadata": {"x": NaN}}')
    with pytest.raises(SafetensorsError, match="NaN is not valid JSON"):
        open_checkpoint(index)
