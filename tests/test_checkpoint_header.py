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
from paramtool.checkpoint.safetensors.format import parse_json
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
