"""State dicts, tied tensors, sharded checkpoints and sharing detection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors
from safetensors.numpy import load_file as ref_load
from safetensors.numpy import save_file as ref_save

import paramtool as torch
from paramtool import nn
from paramtool.checkpoint import (
    find_identical,
    find_shared,
    load_state_dict_file,
    open_checkpoint,
    save_state_dict,
    write_stream,
)
from paramtool.errors import CheckpointError, SafetensorsError
from paramtool.export import parse_size, save_sharded

DATA = Path(__file__).parent / "data" / "safetensors"


class TiedLM(nn.Module):
    """An embedding tied to the output layer (GPT-2 style), plus an untied norm."""

    def __init__(self, vocab: int = 50, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Parameter(torch.randn(vocab, dim))
        self.norm = nn.Parameter(torch.ones(dim))
        self.head = nn.Parameter(torch.zeros(3, dim))
        self.lm_head = self.embed


def test_reference_save_model_file_loads_re_tied() -> None:
    record = json.loads((DATA / "save_model_tied.json").read_text())
    state = load_state_dict_file(DATA / "save_model_tied.safetensors")
    assert sorted(state) == sorted(record["state_dict_keys"])
    for dropped, kept in record["shared"].items():
        assert state[dropped] is state[kept]
    for name, values in record["values"].items():
        np.testing.assert_array_equal(state[name].numpy(), np.array(values, np.float32))


def test_save_state_dict_stores_ties_once_like_save_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TiedLM()
    path = tmp_path / "m.safetensors"
    save_state_dict(model, path, metadata={"author": "me"}, seed=7)
    header = dict(safetensors.deserialize(path.read_bytes()))
    assert sorted(header) == ["embed", "head", "norm"]
    checkpoint = open_checkpoint(path)
    assert checkpoint.tied == {"lm_head": "embed"}
    assert checkpoint.metadata == {"author": "me", "format": "pt"}
    stored = ref_load(str(path))
    model.materialize(seed=7)
    np.testing.assert_array_equal(stored["embed"], model.embed.numpy())
    loaded = load_state_dict_file(path)
    assert loaded["lm_head"] is loaded["embed"]
    assert list(model.state_dict()) == ["embed", "norm", "head", "lm_head"]
    assert sorted(loaded) == sorted(model.state_dict())


def test_deferred_values_are_those_of_materialize_by_name(tmp_path: Path) -> None:
    model = TiedLM()
    save_state_dict(model, tmp_path / "a.safetensors", seed=3)
    assert model.embed.is_deferred  # streaming export keeps the model deferred
    values = ref_load(str(tmp_path / "a.safetensors"))
    model.materialize(seed=3)
    for name, param in model.state_dict().items():
        if name != "lm_head":
            np.testing.assert_array_equal(values[name], param.numpy())


class MixedModel(nn.Module):
    """Deferred parameters of mixed dtypes (and one tie), so the file interleaves them."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Parameter(torch.randn(300, 64))
        self.w16 = nn.Parameter(torch.randn(64, 64, dtype=torch.float16))
        self.wbf16 = nn.Parameter(torch.rand(64, 32, dtype=torch.bfloat16))
        self.w64 = nn.Parameter(torch.randn(17, 5, dtype=torch.float64))
        self.steps = nn.Parameter(torch.arange(40), requires_grad=False)
        self.mask = nn.Parameter(torch.ones(9, dtype=torch.bool), requires_grad=False)
        self.codes = nn.Parameter(torch.full((4, 4), -3, dtype=torch.int8), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(64))
        self.lm_head = self.embed


def test_overlapped_export_is_byte_identical_to_the_sequential_one(tmp_path: Path) -> None:
    model = MixedModel()
    fast, slow = tmp_path / "fast.safetensors", tmp_path / "slow.safetensors"
    fast_progress: list[tuple[str, int]] = []
    save_state_dict(model, fast, seed=5, progress=lambda *row: fast_progress.append(row))
    state = {k: v for k, v in model.state_dict().items() if k != "lm_head"}
    specs = [(name, tuple(t.shape), t.dtype) for name, t in state.items()]
    slow_progress: list[tuple[str, int]] = []
    meta = {"format": "pt", "lm_head": "embed"}
    write_stream(slow, specs, state.__getitem__, meta, 5, lambda *row: slow_progress.append(row), overlap=False)  # fmt: skip
    assert fast.read_bytes() == slow.read_bytes()
    assert fast_progress == slow_progress
    # The reference parser reads each tensor's bytes: those of the materialised model.
    stored = dict(safetensors.deserialize(fast.read_bytes()))
    raw = fast.read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    in_file_order = sorted(stored, key=lambda name: header[name]["data_offsets"])
    assert [name for name, _ in fast_progress] == in_file_order
    assert len({entry["dtype"] for entry in stored.values()}) == 7
    model.materialize(seed=5)
    for name, entry in stored.items():
        values = getattr(model, name).numpy()
        assert entry["shape"] == list(values.shape)
        assert bytes(entry["data"]) == values.astype(values.dtype.newbyteorder("<")).tobytes()
        assert dict(fast_progress)[name] == values.nbytes


def test_sharded_export_progress_and_bytes_match_the_sequential_writer(tmp_path: Path) -> None:
    model = MixedModel()
    rows: list[tuple[str, int]] = []
    written = save_sharded(model, tmp_path / "m", max_shard_size="40KB", seed=2, progress=lambda *r: rows.append(r))  # fmt: skip
    assert len(written) > 2
    state = model.state_dict()
    done: list[str] = []
    for shard in written[:-1]:
        header = dict(safetensors.deserialize(shard.read_bytes()))
        names = [n for n, _ in rows if n in header]
        again = tmp_path / "again.safetensors"
        specs = [(n, tuple(state[n].shape), state[n].dtype) for n in names]
        meta = dict(open_checkpoint(shard).metadata)
        meta.update({dropped: kept for dropped, kept in open_checkpoint(shard).tied.items()})
        write_stream(again, specs, state.__getitem__, meta, 2, overlap=False)
        assert again.read_bytes() == shard.read_bytes()
        done += names
    assert done == [name for name, _ in rows]


def test_user_metadata_wins_over_a_tie_record(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_state_dict(TiedLM(), path, metadata={"lm_head": "mine", "format": "np"})
    meta = dict(open_checkpoint(path).metadata)
    assert meta == {"lm_head": "mine", "format": "np"}


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("5GB", 5 * 10**9),
        ("500MB", 5 * 10**8),
        ("10KiB", 10240),
        ("2gib", 2 * 2**30),
        (123, 123),
        ("1.5KB", 1500),
    ],  # fmt: skip
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["5XB", "", "GB", "-1GB", 0])
def test_parse_size_rejects(text: str | int) -> None:
    with pytest.raises(SafetensorsError):
        parse_size(text)


def test_sharded_save_follows_the_hugging_face_layout(tmp_path: Path) -> None:
    state = {f"layer.{i}.w": np.full((10, 10), i, np.float32) for i in range(5)}  # 400 B each
    state["big"] = np.zeros((30, 10), np.float32)  # 1200 B: a shard of its own
    state["tail"] = np.ones(10, np.float32)
    state["tail_tied"] = state["tail"]
    files = save_sharded(state, tmp_path, max_shard_size="1KB", metadata={"k": "v"})
    names = [p.name for p in files]
    # As huggingface_hub.split_state_dict_into_shards_factory: [0, 1] (adding 2 would pass
    # 1000 B), [2, 3], then "big" alone while [4] stays open and takes "tail".
    assert names == [f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)] + ["model.safetensors.index.json"]  # fmt: skip
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    checkpoint_id = index["metadata"].pop("paramtool.checkpoint_id")
    assert index["metadata"] == {"total_size": 5 * 400 + 1200 + 40, "k": "v"}
    for file in set(index["weight_map"].values()):  # every shard carries the index's id
        assert open_checkpoint(tmp_path / file).metadata["paramtool.checkpoint_id"] == checkpoint_id
    assert index["weight_map"] == {
        "big": "model-00003-of-00004.safetensors",
        "layer.0.w": "model-00001-of-00004.safetensors",
        "layer.1.w": "model-00001-of-00004.safetensors",
        "layer.2.w": "model-00002-of-00004.safetensors",
        "layer.3.w": "model-00002-of-00004.safetensors",
        "layer.4.w": "model-00004-of-00004.safetensors",
        "tail": "model-00004-of-00004.safetensors",
    }
    for file in set(index["weight_map"].values()):  # every shard loads in the reference
        assert set(ref_load(str(tmp_path / file))) == {k for k, f in index["weight_map"].items() if f == file}  # fmt: skip
    last = open_checkpoint(tmp_path / "model-00004-of-00004.safetensors")
    assert last.tied == {"tail_tied": "tail"}  # the tie lives beside its kept tensor
    checkpoint = open_checkpoint(tmp_path)
    assert checkpoint.total_size == index["metadata"]["total_size"]
    loaded = checkpoint.tensors()
    assert loaded["tail_tied"] is loaded["tail"]
    for name, array in state.items():
        np.testing.assert_array_equal(loaded[name].numpy(), array)


def test_one_shard_is_a_single_model_file_and_stale_shards_go(tmp_path: Path) -> None:
    state = {f"w{i}": np.zeros(100, np.float32) for i in range(3)}
    save_sharded(state, tmp_path, max_shard_size=500)
    assert len(list(tmp_path.glob("model-*"))) == 3
    save_sharded(state, tmp_path, max_shard_size="5GB")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert sorted(open_checkpoint(tmp_path).names) == ["w0", "w1", "w2"]


def sharded(tmp_path: Path) -> Path:
    state = {f"w{i}": np.full(100, i, np.float32) for i in range(3)}
    save_sharded(state, tmp_path, max_shard_size=500)
    return tmp_path / "model.safetensors.index.json"


def test_index_with_a_missing_shard_is_refused(tmp_path: Path) -> None:
    index = sharded(tmp_path)
    (tmp_path / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(SafetensorsError, match="shard 'model-00002-of-00003.safetensors' listed in the index is missing"):  # fmt: skip
        open_checkpoint(index)


def test_index_pointing_at_the_wrong_shard_is_refused(tmp_path: Path) -> None:
    index = sharded(tmp_path)
    data = json.loads(index.read_text())
    data["weight_map"]["w0"] = "model-00002-of-00003.safetensors"
    index.write_text(json.dumps(data))
    with pytest.raises(SafetensorsError, match="tensor 'w0' is not in 'model-00002-of-00003"):
        open_checkpoint(index)


def test_shard_holding_an_unlisted_tensor_is_refused(tmp_path: Path) -> None:
    sharded(tmp_path)
    ref_save({"w1": np.zeros(100, np.float32), "extra": np.zeros(1, np.float32)}, str(tmp_path / "model-00002-of-00003.safetensors"))  # fmt: skip
    with pytest.raises(SafetensorsError, match="holds tensor 'extra', but the index does not list it"):  # fmt: skip
        open_checkpoint(tmp_path)


@pytest.mark.parametrize("file", ["../evil.safetensors", "/etc/passwd", 3])
def test_index_naming_a_path_outside_the_folder_is_refused(tmp_path: Path, file: object) -> None:
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": {"w": file}}))
    with pytest.raises(SafetensorsError, match="not a file name"):
        open_checkpoint(index)


def test_folder_resolution(tmp_path: Path) -> None:
    with pytest.raises(SafetensorsError, match="no .safetensors file"):
        open_checkpoint(tmp_path)
    shutil.copy(DATA / "save_model_tied.safetensors", tmp_path / "other.safetensors")
    assert open_checkpoint(tmp_path).files == [tmp_path / "other.safetensors"]


def test_checkpoint_entries_come_from_headers(tmp_path: Path) -> None:
    ref_save({"a": np.zeros((2, 3), np.float16), "b": np.zeros(4, np.int64)}, str(tmp_path / "x.safetensors"))  # fmt: skip
    checkpoint = open_checkpoint(tmp_path / "x.safetensors")
    rows = [(e.name, e.shape, e.dtype, e.dtype_name, e.nbytes) for e in checkpoint.entries]
    assert rows == [
        ("b", (4,), np.dtype(np.int64), "int64", 32),
        ("a", (2, 3), np.dtype(np.float16), "float16", 12),
    ]
    with pytest.raises(CheckpointError, match="no tensor named 'c'"):
        checkpoint.load("c")


def test_find_shared_reports_ties_and_overlapping_views() -> None:
    base = np.arange(100, dtype=np.float32)
    state = {
        "a": base[:60],
        "b": base[50:],  # overlaps a
        "c": base[:60],  # the very same view as a: tied
        "even": np.arange(10)[::2],
        "alone": np.zeros(3),
    }
    sharing = find_shared(state)
    assert sharing.tied == [["a", "c"]]
    assert sharing.overlapping == [["a", "c", "b"]]
    model = TiedLM()
    assert find_shared(model).tied == [["embed", "lm_head"]]
    assert find_shared(model).overlapping == []


def test_find_identical_groups_equal_bytes(tmp_path: Path) -> None:
    ref_save(
        {"x": np.ones((2, 2), np.float32), "y": np.ones((2, 2), np.float32),
         "z": np.ones(4, np.float32), "w": np.zeros((2, 2), np.float32),
         "v": np.ones((2, 2), np.float16)},
        str(tmp_path / "m.safetensors"),
    )  # fmt: skip
    assert find_identical(tmp_path / "m.safetensors") == [["x", "y"]]
