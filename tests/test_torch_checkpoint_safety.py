"""Hostile torch.save files: refused in one line naming the global or the defect, nothing run.

Each payload would create a sentinel file if any of its code ran; the test checks that the
command exits 1 with one ``Error:`` line and that the sentinel never appears. Archives are
written by ``tests/torch_files.py`` exactly as ``torch.save`` lays them out, then altered.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import pickle
import subprocess
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch_files
from cli_support import invoke, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paramtool.checkpoint import open_checkpoint
from paramtool.errors import CheckpointError


class Payload:
    """An object whose unpickling calls ``func(*args)``: how a hostile pickle runs code."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (self.func, self.args)


def _payloads(sentinel: Path) -> dict[str, tuple[object, str]]:
    touch = f"touch {sentinel}"
    return {
        "os.system": (Payload(os.system, touch), "posix.system"),
        "eval": (Payload(builtins.eval, f"open({str(sentinel)!r}, 'w')"), "builtins.eval"),
        "popen": (Payload(subprocess.Popen, ["touch", str(sentinel)]), "subprocess.Popen"),
    }


def _one_error_line(path: Path, *expected: str) -> str:
    result = invoke("inspect", path)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("kind", ["os.system", "eval", "popen"])
def test_a_reduce_payload_is_refused_by_name(tmp_path: Path, kind: str) -> None:
    sentinel = tmp_path / "pwned"
    payload, name = _payloads(sentinel)[kind]
    path = torch_files.write_zip(tmp_path / "model.bin", {"weight": payload})
    _one_error_line(path, f"refused global '{name}'", str(path))
    assert not sentinel.exists()


def test_os_system_spelled_by_hand_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    data = f"cos\nsystem\n(S'touch {sentinel}'\ntR.".encode()  # protocol 0: GLOBAL os system
    path = torch_files.write_zip(tmp_path / "model.pt", data_pkl=data)
    _one_error_line(path, "refused global 'os.system'")
    assert not sentinel.exists()


def test_a_payload_hidden_in_an_ordered_dict_value_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    payload, _ = _payloads(sentinel)["os.system"]
    state = OrderedDict(
        weight=torch_files.tensor("0", np.ones((2, 2), np.float32)),
        extra=OrderedDict(inner=[1, 2, payload]),
    )
    path = torch_files.write_zip(tmp_path / "model.bin", state)
    _one_error_line(path, "refused global 'posix.system'")
    assert not sentinel.exists()


def test_a_plain_pickle_is_not_a_checkpoint(tmp_path: Path) -> None:
    plain = tmp_path / "model.pkl"
    plain.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}, protocol=2))
    _one_error_line(plain, "not a torch.save checkpoint")
    sentinel = tmp_path / "pwned"
    hostile = tmp_path / "hostile.pth"
    hostile.write_bytes(pickle.dumps(_payloads(sentinel)["os.system"][0], protocol=4))
    _one_error_line(hostile, "refused global 'posix.system'")
    assert not sentinel.exists()


def test_a_zip_whose_data_pkl_is_not_a_pickle(tmp_path: Path) -> None:
    path = torch_files.write_zip(tmp_path / "model.bin", data_pkl=b"this is not a pickle")
    _one_error_line(path, "not a valid pickle")


def test_a_storage_key_escaping_the_archive_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    tensor = torch_files.tensor("0", np.zeros(4, np.float32))
    tensor.args[0].key = "../../secret"
    path = torch_files.write_zip(tmp_path / "model.bin", {"weight": tensor})
    _one_error_line(path, "storage key '../../secret' is not a plain name")


def test_a_view_past_its_storage_is_refused(tmp_path: Path) -> None:
    storage = torch_files.Storage("0", np.zeros(4, np.float32))
    tensor = torch_files.Tensor(storage, 2, (4,), (1,))
    path = torch_files.write_zip(tmp_path / "model.bin", {"weight": tensor})
    _one_error_line(path, "past its storage of 4")


def test_a_compressed_storage_is_refused(tmp_path: Path) -> None:
    data, _ = torch_files.dumps({"w": torch_files.tensor("0", np.zeros(4, np.float32))})
    path = tmp_path / "model.bin"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/data/0", bytes(16))
    _one_error_line(path, "is compressed")


def test_a_missing_storage_is_named(tmp_path: Path) -> None:
    data, _ = torch_files.dumps({"w": torch_files.tensor("7", np.zeros(4, np.float32))})
    path = torch_files.write_zip(tmp_path / "model.bin", data_pkl=data)
    _one_error_line(path, "storage '7' is listed in data.pkl but archive/data/7 is missing")


def _valid_archive() -> bytes:
    state = OrderedDict(
        a=torch_files.tensor("0", np.arange(6, dtype=np.float32).reshape(2, 3)),
        b=torch_files.tensor("1", np.arange(3, dtype=np.int64)),
        meta={"epoch": 3, "names": ["x", "y"]},
    )
    out = io.BytesIO()
    data, storages = torch_files.dumps(state)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data)
        for storage in storages:
            archive.writestr(f"archive/data/{storage.key}", storage.values.tobytes())
    return out.getvalue()


VALID = _valid_archive()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8))  # fmt: skip
def test_fuzzed_archives_raise_only_checkpoint_errors(tmp_path: Path, edits: list[tuple[int, int]]) -> None:  # fmt: skip
    data = bytearray(VALID)
    for position, value in edits:
        data[position] = value
    path = tmp_path / "fuzzed.bin"
    path.write_bytes(bytes(data))
    try:
        checkpoint = open_checkpoint(path)
        for name in checkpoint.names:
            np.asarray(checkpoint.array(name)).sum()
    except CheckpointError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.binary(max_size=400))
def test_random_bytes_after_a_pickle_start_raise_only_checkpoint_errors(tmp_path: Path, tail: bytes) -> None:  # fmt: skip
    path = tmp_path / "fuzzed.pt"
    path.write_bytes(b"\x80\x02" + tail)
    with contextlib.suppress(CheckpointError):
        open_checkpoint(path)


def test_a_fifo_is_refused_at_once_by_every_reading_command(tmp_path: Path) -> None:
    fifo = tmp_path / "model.bin"
    os.mkfifo(fifo)
    for command in (["inspect", fifo], ["stats", fifo], ["convert", fifo, tmp_path / "o.safetensors"]):  # fmt: skip
        done = run(*command)  # a blocking open would hang until the 120 s timeout
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().endswith("not a regular file; only regular files are read as checkpoints")  # fmt: skip


def test_a_view_claiming_more_elements_than_any_array_is_refused(tmp_path: Path) -> None:
    storage = torch_files.Storage("0", np.zeros(4, np.float32))
    tensor = torch_files.Tensor(storage, 0, (2**40, 2**30), (0, 0))  # stride 0: one element
    path = torch_files.write_zip(tmp_path / "model.bin", {"weight": tensor})
    _one_error_line(path, "has too many elements to hold")
