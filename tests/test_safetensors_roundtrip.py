"""Round trips with the reference safetensors library, both ways, for every dtype and layout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors
from safetensors.numpy import load_file as ref_load
from safetensors.numpy import save_file as ref_save

import paramtool
from paramtool.checkpoint import DTYPES, load_arrays, load_file, save_file
from paramtool.checkpoint.safetensors.reader import native

#: dtypes the reference's numpy reader can return (it has no bfloat16 or float8).
REF_NUMPY_READS = {"F64", "F32", "F16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL", "C64"}  # fmt: skip


def sample(code: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random bit patterns of a dtype (NaNs included), 0/1 for bool."""
    dtype = DTYPES[code]
    rng = np.random.default_rng(seed)
    count = int(np.prod(shape))
    if code == "BOOL":
        return rng.integers(0, 2, count).astype(bool).reshape(shape)
    raw = rng.integers(0, 256, count * dtype.itemsize, dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


def every_dtype() -> dict[str, np.ndarray]:
    out = {}
    for i, code in enumerate(DTYPES):
        out[f"t.{code.lower()}"] = sample(code, (3, 5), i)
        out[f"s.{code.lower()}"] = sample(code, (), i)  # 0-d
        out[f"e.{code.lower()}"] = sample(code, (0, 4), i)  # empty
    return out


def reference_tensors(path: Path) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """What the reference reader sees in a file: dtype code, shape and raw bytes per tensor."""
    parsed = safetensors.deserialize(path.read_bytes())
    return {name: (t["dtype"], tuple(t["shape"]), bytes(t["data"])) for name, t in parsed}


def test_files_written_are_byte_identical_to_the_reference(tmp_path: Path) -> None:
    tensors = every_dtype()
    # One metadata key only: the reference keeps metadata in a hash map, so the order of two or
    # more keys in its header changes from run to run.
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "ref.safetensors"
    save_file(tensors, ours, metadata={"format": "np"})
    ref_save(tensors, str(theirs), metadata={"format": "np"})
    assert ours.read_bytes() == theirs.read_bytes()
    save_file(tensors, ours)
    ref_save(tensors, str(theirs))
    assert ours.read_bytes() == theirs.read_bytes()


def test_empty_file_is_byte_identical(tmp_path: Path) -> None:
    save_file({}, tmp_path / "a.safetensors")
    ref_save({}, str(tmp_path / "b.safetensors"))
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


@pytest.mark.parametrize("code", sorted(DTYPES))
def test_reference_reads_what_paramtool_writes(tmp_path: Path, code: str) -> None:
    tensors = {"m": sample(code, (4, 3)), "s": sample(code, ()), "e": sample(code, (2, 0))}
    path = tmp_path / "x.safetensors"
    save_file(tensors, path)
    seen = reference_tensors(path)
    for name, array in tensors.items():
        assert seen[name] == (code, array.shape, array.tobytes())
    if code in REF_NUMPY_READS:
        loaded = ref_load(str(path))
        for name, array in tensors.items():
            assert loaded[name].dtype == array.dtype
            np.testing.assert_array_equal(loaded[name], array)


@pytest.mark.parametrize("code", sorted(DTYPES))
def test_paramtool_reads_what_the_reference_writes(tmp_path: Path, code: str) -> None:
    tensors = {"m": sample(code, (4, 3), 1), "s": sample(code, (), 2), "e": sample(code, (0,), 3)}
    path = tmp_path / "ref.safetensors"
    ref_save(tensors, str(path))
    loaded = load_arrays(path)
    header = json.loads(path.read_bytes()[8 : 8 + int.from_bytes(path.read_bytes()[:8], "little")])
    assert list(loaded) == list(header)  # header order
    for name, array in tensors.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        assert loaded[name].tobytes() == array.tobytes()


def layouts() -> dict[str, np.ndarray]:
    base = np.arange(4 * 6 * 5, dtype=np.float32).reshape(4, 6, 5)
    return {
        "fortran": np.asfortranarray(base),
        "transposed": base.transpose(2, 0, 1),
        "strided": base[::2, 1::2, ::-1],
        "column": base[:, 3, :],
        "broadcast": np.broadcast_to(np.arange(5, dtype=np.int16), (3, 5)),
        "big_endian": base.astype(">f4"),
        "fortran_bf16": np.asfortranarray(base.astype(DTYPES["BF16"])),
    }


def test_any_memory_layout_is_written_in_c_order(tmp_path: Path) -> None:
    arrays = layouts()
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "ref.safetensors"
    save_file(arrays, ours)
    seen = reference_tensors(ours)
    for name, array in arrays.items():
        assert seen[name][2] == np.ascontiguousarray(array.astype(array.dtype.newbyteorder("="))).tobytes()  # fmt: skip
    # The reference 0.8.0 numpy writer copies raw memory, so it writes Fortran-ordered and
    # transposed arrays wrong; it is compared on C-contiguous little-endian copies.
    ref_save({k: np.ascontiguousarray(v.astype(v.dtype.newbyteorder("="))) for k, v in arrays.items()}, str(theirs))  # fmt: skip
    assert ours.read_bytes() == theirs.read_bytes()
    loaded = ref_load(str(ours))
    np.testing.assert_array_equal(loaded["fortran"], arrays["fortran"])
    np.testing.assert_array_equal(loaded["strided"], arrays["strided"])


def test_load_file_gives_zero_copy_tensors_and_never_writes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    weight = np.arange(12, dtype=np.float32).reshape(3, 4)
    ref_save({"w": weight, "b": np.ones(3, np.float16)}, str(path))
    before = path.read_bytes()
    tensors = load_file(path)
    w = tensors["w"]
    assert isinstance(w, paramtool.Tensor)
    assert w.shape == (3, 4) and w.dtype == paramtool.float32 and not w.is_deferred
    array = w.numpy()
    np.testing.assert_array_equal(array, weight)
    assert not array.flags.owndata  # a view of the mapped file
    array[0, 0] = 99.0  # copy-on-write: this process sees it, the file does not
    assert w.numpy()[0, 0] == 99.0
    assert path.read_bytes() == before
    assert ref_load(str(path))["w"][0, 0] == 0.0


def test_torch_reads_and_writes_the_same_files(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load  # noqa: PLC0415
    from safetensors.torch import save_file as torch_save  # noqa: PLC0415

    torch_dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
                    "BF16": torch.bfloat16, "F8_E4M3": torch.float8_e4m3fn,
                    "F8_E5M2": torch.float8_e5m2, "I64": torch.int64, "I32": torch.int32,
                    "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}  # fmt: skip
    arrays, as_torch = {}, {}
    for i, (code, dtype) in enumerate(torch_dtypes.items()):
        for shape in [(3, 4), ()]:
            name = f"{code.lower()}{len(shape)}"
            arrays[name] = sample(code, shape, i)
            raw = torch.from_numpy(arrays[name].reshape(-1).view(np.uint8).copy())
            as_torch[name] = raw.view(dtype).reshape(shape)
    save_file(arrays, tmp_path / "ours.safetensors")
    loaded = torch_load(str(tmp_path / "ours.safetensors"))
    for name, array in arrays.items():
        assert tuple(loaded[name].shape) == array.shape
        assert loaded[name].reshape(-1).view(torch.uint8).numpy().tobytes() == array.tobytes()
    torch_save(as_torch, str(tmp_path / "torch.safetensors"))
    torch_bytes = (tmp_path / "torch.safetensors").read_bytes()
    assert torch_bytes == (tmp_path / "ours.safetensors").read_bytes()
    back = load_arrays(tmp_path / "torch.safetensors")
    assert {k: v.tobytes() for k, v in back.items()} == {k: v.tobytes() for k, v in arrays.items()}


def test_big_endian_host_swaps_the_little_endian_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.array([1.0, -2.5, 3e-8], np.float32)
    stored = values.astype("<f4").tobytes()  # the format is little-endian
    as_seen_by_a_big_endian_host = np.frombuffer(stored, ">f4")  # its native order
    monkeypatch.setattr(sys, "byteorder", "big")
    np.testing.assert_array_equal(native(as_seen_by_a_big_endian_host), values)
    one_byte = np.frombuffer(b"\x01\x02", np.uint8)
    assert native(one_byte) is one_byte


@pytest.mark.gpu
def test_load_file_to_cuda_copies_each_tensor(tmp_path: Path) -> None:
    pytest.importorskip("cupy")
    if not paramtool.cuda.is_available():
        pytest.skip("no CUDA GPU")
    arrays = {"w": sample("F32", (64, 32)), "h": sample("BF16", (5,)), "s": sample("I64", ())}
    path = tmp_path / "g.safetensors"
    ref_save(arrays, str(path))
    tensors = load_file(path, device="cuda")
    for name, array in arrays.items():
        assert tensors[name].device.type == "cuda"
        assert tensors[name].cpu().numpy().tobytes() == array.tobytes()
    save_file(tensors, tmp_path / "back.safetensors")  # device arrays are written from the host
    assert (tmp_path / "back.safetensors").read_bytes() == path.read_bytes()
