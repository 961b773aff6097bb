"""Reading torch.save files without PyTorch: checked against what torch.load read from them.

The files and ``expected.json`` were written by ``tests/fixtures/record_torch_checkpoints.py``
with PyTorch 2.13 (names, shapes, dtypes, SHA-256 of the values ``torch.load`` gives, and the
names stored as one tensor).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.array_utils import byte_bounds

from paramtool.checkpoint import open_checkpoint
from paramtool.checkpoint.formats import TORCH_LEGACY, TORCH_ZIP, sniff
from paramtool.errors import CheckpointError

FIXTURES = Path(__file__).parent / "fixtures" / "torch_checkpoints"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
FILES = [
    "dtypes_zip.pt",
    "dtypes_legacy.pt",
    "tiny_lm.bin",
    "lightning.ckpt",
    "sharded",
    "tiny_bert",
]


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.mark.parametrize("name", FILES)
def test_names_shapes_dtypes_and_values_are_torch_loads(name: str) -> None:
    checkpoint = open_checkpoint(FIXTURES / name)
    arrays = checkpoint.arrays()
    expected = EXPECTED[name]["tensors"]
    names = EXPECTED[name]["names"]  # state order; dropped tied names follow the stored ones
    assert list(arrays) == [n for n in names if n not in checkpoint.tied] + list(checkpoint.tied)
    assert set(arrays) == set(expected)
    for tensor, want in expected.items():
        entry = checkpoint.entry(tensor)
        assert (list(entry.shape), entry.dtype_name) == (want["shape"], want["dtype"]), tensor
        assert list(arrays[tensor].shape) == want["shape"]
        assert digest(arrays[tensor]) == want["sha256"], tensor


@pytest.mark.parametrize("name", ["dtypes_zip.pt", "dtypes_legacy.pt", "tiny_lm.bin"])
def test_ties_are_the_names_torch_stores_as_one_view(name: str) -> None:
    checkpoint = open_checkpoint(FIXTURES / name)
    groups = [[kept, *[d for d, k in checkpoint.tied.items() if k == kept]] for kept in set(checkpoint.tied.values())]  # fmt: skip
    assert sorted(map(sorted, groups)) == sorted(map(sorted, EXPECTED[name]["ties"]))
    arrays = checkpoint.arrays()
    for dropped, kept in checkpoint.tied.items():
        assert arrays[dropped] is arrays[kept]


@pytest.mark.parametrize("name", ["dtypes_zip.pt", "dtypes_legacy.pt"])
def test_views_of_one_storage_are_exact_and_mapped_in_place(name: str) -> None:
    checkpoint = open_checkpoint(FIXTURES / name)
    base, transposed = checkpoint.array("base"), checkpoint.array("transposed")
    np.testing.assert_array_equal(transposed, base.T)
    np.testing.assert_array_equal(checkpoint.array("rows"), base[1:3])
    np.testing.assert_array_equal(checkpoint.array("column"), base[:, 2])
    np.testing.assert_array_equal(checkpoint.array("strided"), base[::2, 1::3])
    assert transposed.strides == (4, 24)  # a view, not a copy
    assert [sorted(g) for g in checkpoint.overlapping] == [["base", "column", "rows", "strided", "transposed"]]  # fmt: skip
    mapping = checkpoint.parts[0].mapping
    start = np.frombuffer(mapping, np.uint8, count=1).__array_interface__["data"][0]
    low, high = byte_bounds(base)
    assert start <= low and high <= start + len(mapping)  # the bytes are the file's mapping


def test_zero_dim_and_empty_tensors() -> None:
    checkpoint = open_checkpoint(FIXTURES / "dtypes_zip.pt")
    assert checkpoint.array("scalar").shape == () and checkpoint.array("scalar") == np.float32(3.5)
    assert checkpoint.array("count").dtype == np.int64 and checkpoint.array("count") == 7
    assert checkpoint.array("empty").shape == (0, 4)


def test_formats_are_told_by_content_not_name(tmp_path: Path) -> None:
    assert sniff(FIXTURES / "dtypes_zip.pt") == TORCH_ZIP
    assert sniff(FIXTURES / "dtypes_legacy.pt") == TORCH_LEGACY
    renamed = tmp_path / "weights.data"
    shutil.copy(FIXTURES / "dtypes_legacy.pt", renamed)
    assert len(open_checkpoint(renamed)) == 17
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a checkpoint paramtool reads"):
        open_checkpoint(tmp_path / "notes.txt")


def test_nested_checkpoint_reads_its_state_dict_and_lists_the_rest() -> None:
    checkpoint = open_checkpoint(FIXTURES / "lightning.ckpt")
    assert checkpoint.key == "state_dict"
    assert sorted(checkpoint.contents) == EXPECTED["lightning.ckpt"]["top_level"]
    assert checkpoint.contents["epoch"] == "int 3"
    assert checkpoint.contents["optimizer_states"] == "list of 1 entry, 54 tensors inside"
    assert json.loads(checkpoint.metadata["hyper_parameters"]) == {
        "lr": 0.001, "dim": 8, "layers": [1, 2, 3], "name": "tiny",
    }  # fmt: skip
    assert checkpoint.metadata["epoch"] == "3" and checkpoint.metadata["global_step"] == "120"
    assert "optimizer_states" not in checkpoint.metadata  # not plain data: listed, not kept


def test_key_picks_an_entry_and_says_what_it_holds() -> None:
    assert open_checkpoint(FIXTURES / "lightning.ckpt", key="state_dict").key == "state_dict"
    with pytest.raises(CheckpointError, match=r"'epoch' holds int 3, not tensors"):
        open_checkpoint(FIXTURES / "lightning.ckpt", key="epoch")
    with pytest.raises(CheckpointError, match=r"no top-level key 'model' \(keys: 'epoch', "):
        open_checkpoint(FIXTURES / "lightning.ckpt", key="model")


def test_bin_index_opens_as_one_checkpoint() -> None:
    checkpoint = open_checkpoint(FIXTURES / "sharded")
    assert [f.name for f in checkpoint.files] == EXPECTED["sharded"]["files"]
    assert checkpoint.path.name == "pytorch_model.bin.index.json"
    assert len(checkpoint) == 19


def _shards_linked_from(tmp_path: Path) -> Path:
    outside, folder = tmp_path / "outside", tmp_path / "ckpt"
    shutil.copytree(FIXTURES / "sharded", outside)
    folder.mkdir()
    shutil.copy(outside / "pytorch_model.bin.index.json", folder)
    for shard in outside.glob("*.bin"):
        (folder / shard.name).symlink_to(shard)
    return folder


def test_shards_linked_from_outside_the_folder_are_refused(tmp_path: Path) -> None:
    folder = _shards_linked_from(tmp_path)
    with pytest.raises(CheckpointError, match="outside the checkpoint folder.*--follow-links"):
        open_checkpoint(folder)
    assert len(open_checkpoint(folder, follow_links=True)) == 19


def test_the_hugging_face_cache_layout_is_followed(tmp_path: Path) -> None:
    repo = tmp_path / "models--org--tiny"
    snapshot, blobs = repo / "snapshots" / "0123abcd", repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for file in (FIXTURES / "sharded").iterdir():
        blob = blobs / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copy(file, blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    assert len(open_checkpoint(snapshot)) == 19


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "model.bin"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        open_checkpoint(fifo)  # would block forever if it were opened for reading


def test_index_nested_too_deeply_is_one_error(tmp_path: Path) -> None:
    index = tmp_path / "pytorch_model.bin.index.json"
    index.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        open_checkpoint(index)
