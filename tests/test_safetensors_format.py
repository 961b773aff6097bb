"""Header parsing and validation against a corpus of malformed files and random bytes.

The reference reader (``safetensors.deserialize``) is the outside oracle: every malformed file
it rejects, paramtool rejects too, with one SafetensorsError naming the rule; a few it accepts
(duplicate keys, a header not starting with '{', unknown fields) the format forbids, and
paramtool rejects those as well.
"""

from __future__ import annotations

import json
import re
import struct
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import safetensors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save as ref_save

from paramtool.checkpoint import DTYPES, FORMAT_DTYPES, MAX_HEADER_SIZE, load_arrays, read_header
from paramtool.errors import SafetensorsError


def raw_file(header: bytes | str | dict, data: bytes = b"", length: int | None = None) -> bytes:
    """A file from a header (dict, text or bytes), its data, and optionally a lying length."""
    if isinstance(header, dict):
        header = json.dumps(header, separators=(",", ":"))
    if isinstance(header, str):
        header = header.encode("utf-8")
    return struct.pack("<Q", len(header) if length is None else length) + header + data


def entry(dtype: str, shape: list, begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


VALID = raw_file({"a": entry("F32", [2], 0, 8), "b": entry("I8", [3], 8, 11)}, bytes(11))
DEEP = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"

#: name -> (file bytes, words the message must hold, does the reference reader reject it too)
CORPUS = {
    "empty file": (b"", "too small", True),
    "truncated length": (b"\x08\x00\x00", "too small", True),
    "truncated header": (VALID[:20], "runs past the end", True),
    "truncated data": (VALID[:-3], "past the data section", True),
    "lying length (long)": (raw_file("{}", b"", length=64), "runs past the end", True),
    "lying length (short)": (raw_file('{"a":1}', length=4), "not valid JSON", True),
    "header over the cap": (raw_file("{}", length=MAX_HEADER_SIZE + 1), "cap", True),
    "not JSON": (raw_file("{not json}"), "not valid JSON", True),
    "not UTF-8": (raw_file(b'{"\xff\xfe":1}'), "UTF-8", True),
    "not an object": (raw_file("[]"), "start with '{'", True),
    "leading space": (raw_file(' {"__metadata__":{}}'), "start with '{'", False),
    "unknown dtype": (raw_file({"a": entry("F128", [1], 0, 16)}, bytes(16)), "unknown dtype", True),
    "negative dim": (raw_file({"a": entry("F32", [-1], 0, 4)}, bytes(4)), "non-negative", True),
    "dim over 2**64": (raw_file({"a": entry("U8", [2**64], 0, 1)}, bytes(1)), "below 2**64", True),
    "huge dims overflow": (
        raw_file({"a": entry("F32", [2**62, 2**62], 0, 4)}, bytes(4)),
        "overflows",
        True,
    ),  # fmt: skip
    "overflow before a zero dim": (
        raw_file({"a": entry("U8", [2**40, 2**40, 0], 0, 0)}),
        "overflows",
        True,
    ),  # fmt: skip
    "millions of huge dims": (
        raw_file(
            '{"a":{"dtype":"U8","shape":['
            + ",".join(["18446744073709551615"] * 400_000)
            + '],"data_offsets":[0,1]}}',
            bytes(1),
        ),
        "overflows",
        True,
    ),  # fmt: skip
    "more dims than numpy holds": (
        raw_file({"a": entry("U8", [1] * 65, 0, 1)}, bytes(1)),
        "numpy cannot hold a shape of 65 dimensions",
        False,
    ),  # fmt: skip
    "empty with a dim numpy cannot hold": (
        raw_file({"a": entry("U8", [2**63, 0], 0, 0)}),
        "each below 2**63",
        False,
    ),  # fmt: skip
    "bool dim": (
        raw_file({"a": entry("U8", [True], 0, 1)}, bytes(1)),
        "non-negative integers",
        True,
    ),  # fmt: skip
    "offsets past the end": (
        raw_file({"a": entry("U8", [8], 0, 8)}, bytes(4)),
        "past the data section",
        True,
    ),  # fmt: skip
    "reversed offsets": (
        raw_file({"a": entry("U8", [0], 8, 0)}, bytes(8)),
        "end before they begin",
        True,
    ),  # fmt: skip
    "overlapping": (
        raw_file({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, bytes(12)),
        "overlaps",
        True,
    ),  # fmt: skip
    "gap": (
        raw_file({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}, bytes(12)),
        "gap",
        True,
    ),  # fmt: skip
    "gap at start": (raw_file({"a": entry("F32", [1], 4, 8)}, bytes(8)), "gap", True),
    "trailing bytes": (raw_file({"a": entry("F32", [1], 0, 4)}, bytes(6)), "trailing bytes", True),
    "size mismatch": (raw_file({"a": entry("F32", [2], 0, 4)}, bytes(4)), "needs 8", True),
    "non-string metadata": (raw_file({"__metadata__": {"k": 1}}), "must be a string", True),
    "metadata not an object": (raw_file({"__metadata__": "k"}), "object of strings", True),
    "duplicate keys": (
        raw_file(
            '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
            bytes(1),
        ),
        "duplicate key 'a'",
        False,
    ),  # fmt: skip
    "duplicate field": (
        raw_file('{"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}', bytes(1)),
        "duplicate key 'dtype'",
        True,
    ),  # fmt: skip
    "unknown field": (
        raw_file({"a": {**entry("U8", [1], 0, 1), "x": 1}}, bytes(1)),
        "exactly dtype, shape and data_offsets",
        False,
    ),  # fmt: skip
    "deep nesting": (raw_file(DEEP), "nested too deeply", True),
    "NaN": (raw_file('{"__metadata__":{"a":NaN}}'), "not valid JSON", True),
    "odd F4 count": (raw_file({"a": entry("F4", [3], 0, 2)}, bytes(2)), "whole bytes", True),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_malformed_file_is_rejected_with_one_clear_error(tmp_path: Path, case: str) -> None:
    blob, words, reference_rejects = CORPUS[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    tracemalloc.start()
    try:
        with pytest.raises(SafetensorsError) as info:
            load_arrays(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # bounded work: what the claims in a hostile header cost is never allocated (a tensor of
    # 2**60 elements, a deep nesting), only a few times the file's own bytes (the fast JSON
    # parser holds a 16-byte record per token: 16 times a header of brackets)
    assert peak < 17 * len(blob) + 2**20, peak
    message = str(info.value)
    assert words in message, message
    assert str(path) in message
    assert "\n" not in message
    if ": tensor " in message:
        assert re.search(r"\.safetensors: tensor '[ab]': ", message), message
    if reference_rejects:
        with pytest.raises(Exception):  # noqa: B017 - the reference raises its own types
            safetensors.deserialize(blob)
    else:
        safetensors.deserialize(blob)  # the reference accepts what the format forbids


def test_error_names_the_tensor(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(raw_file({"layer.0.weight": entry("F32", [3], 0, 8)}, bytes(8)))
    with pytest.raises(SafetensorsError, match=r"x\.safetensors: tensor 'layer\.0\.weight':"):
        read_header(path)


def test_header_is_read_without_touching_the_data(tmp_path: Path) -> None:
    # A 1 GiB sparse data section: reading the header must not read it.
    path = tmp_path / "big.safetensors"
    n = 2**30
    with open(path, "wb") as f:
        f.write(raw_file({"w": entry("U8", [n], 0, n), "__metadata__": {"k": "v"}}))
        f.truncate(f.tell() + n)
    tracemalloc.start()
    header = read_header(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2**20  # the 1 GiB data section was never read
    assert [(t.name, t.shape, t.dtype, t.nbytes) for t in header.tensors] == [("w", (n,), "U8", n)]
    assert header.metadata == {"k": "v"}


def test_header_padding_and_reference_files_parse(tmp_path: Path) -> None:
    blob = ref_save({"b": np.arange(3, dtype=np.int16), "a": np.ones((2, 2))}, {"m": "x"})
    path = tmp_path / "ref.safetensors"
    path.write_bytes(blob)
    header = read_header(path)
    assert header.data_start % 8 == 0  # the reference pads its header with spaces
    reference = dict(safetensors.deserialize(blob))
    for info in header.tensors:
        assert reference[info.name]["dtype"] == info.dtype
        assert tuple(reference[info.name]["shape"]) == info.shape


def test_sub_byte_dtype_is_listed_but_its_data_refused(tmp_path: Path) -> None:
    path = tmp_path / "f4.safetensors"
    path.write_bytes(raw_file({"q": entry("F4", [4], 0, 2)}, bytes(2)))
    assert [(t.name, t.dtype, t.nbytes) for t in read_header(path).tensors] == [("q", "F4", 2)]
    with pytest.raises(SafetensorsError, match=r"tensor 'q': dtype F4 \(4-bit\).*cannot be read"):
        load_arrays(path)


def test_dtype_table_matches_the_reference_codes() -> None:
    # The reference writer names each numpy dtype's code; the table must agree.
    for code, dtype in DTYPES.items():
        blob = ref_save({"x": np.zeros(2, dtype)})
        assert dict(safetensors.deserialize(blob))["x"]["dtype"] == code
    assert set(DTYPES) | {"F4", "F6_E2M3", "F6_E3M2"} == set(FORMAT_DTYPES)


# --- property-based: only SafetensorsError may escape, never a crash --------------------------


def _read(blob: bytes) -> dict | None:
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
        f.write(blob)
        f.flush()
        try:
            return load_arrays(f.name)
        except SafetensorsError:
            return None


_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_SEED = ref_save(
    {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(3, dtype=np.int8)},
    {"format": "pt"},
)


@_FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_raise_only_safetensors_error(blob: bytes) -> None:
    _read(blob)


@_FUZZ
@given(st.binary(min_size=0, max_size=64), st.binary(max_size=400))
def test_random_header_after_a_valid_length_raises_only_safetensors_error(
    head: bytes, rest: bytes
) -> None:
    _read(struct.pack("<Q", len(head)) + head + rest)


@_FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(0, 255)), max_size=4),
    st.integers(0, len(_SEED)),
)
def test_mutated_valid_file_is_accepted_only_when_the_reference_accepts_it(
    flips: list[tuple[int, int]], cut: int
) -> None:
    blob = bytearray(_SEED)
    for position, value in flips:
        blob[position] = value
    blob = bytes(blob[: max(cut, len(blob) - 8)])
    arrays = _read(blob)
    if arrays is not None:  # paramtool is at least as strict as the reference
        reference = dict(safetensors.deserialize(blob))
        assert set(reference) == set(arrays)
        for name, array in arrays.items():
            assert bytes(reference[name]["data"]) == array.tobytes()
