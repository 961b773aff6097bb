"""The CUDA code paths, run against a numpy-backed stand-in for cupy (``tests/fake_cupy``).

What this proves: paramtool's CUDA plumbing keeps to cupy's API and rules. Every cupy call it
makes exists in the stand-in with cupy's signature (``cuda.runtime.getDeviceCount``,
``cuda.Device`` as a context manager, ``ndarray.get``/``.device.id``/``.data.ptr``,
``asarray``, ``empty``, ``random.RandomState(seed).standard_normal/random_sample(size,
dtype)``, ``linalg.inv`` and the elementwise routines); arrays are never silently converted
between host and device (``numpy.asarray`` of a device array, a host array as a kernel operand
and ``device[...] = host`` all raise, as in cupy); dtypes cupy 13 cannot hold (bfloat16, the
float8 family) become a clear ``DTypeError``; random generators are asked only for float32 or
float64; a ``cuda:1`` tensor is created and filled with device 1 current (cupy's cross-device
``PerformanceWarning`` is an error here). Values are checked against outside references:
portable CUDA values equal the CPU values bit for bit, files are written and read by the
reference ``safetensors`` library, distributions are checked statistically.

What it does not prove: that cupy, cuRAND or a GPU compute anything correctly, that the GPU
path is fast, or that behaviour specific to a cupy version (cupy 14's bfloat16 arrays, streams,
asynchronous copies, memory pools) works. The stand-in computes with numpy on the host. The
``gpu``-marked tests in the other files run the same paths on a real GPU.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import load_file as reference_load
from safetensors.numpy import save_file as reference_save
from scipy import stats

import paramtool
from paramtool import nn
from paramtool.checkpoint import load_file, save_state_dict
from paramtool.core import random as prandom
from paramtool.core.random import CHUNK
from paramtool.errors import DeviceError, DTypeError
from paramtool.nn import init
from paramtool.report.stats import tensor_stats

FAKE_CUPY = Path(__file__).parent / "fake_cupy"
# the module: ``paramtool.core.device`` the attribute is the Device class
pdevice = importlib.import_module("paramtool.core.device")

RANDOM_INITS = {
    "normal": lambda t: init.normal_(t, 0.1, 0.02),
    "uniform": lambda t: init.uniform_(t, -0.5, 0.5),
    "trunc_normal": lambda t: init.trunc_normal_(t, std=0.02),
    "trunc_normal_tail": lambda t: init.trunc_normal_(t, 0, 1, 2.5, 4.0),
    "sparse": lambda t: init.sparse_(t, 0.25),
    "orthogonal": lambda t: init.orthogonal_(t, 1.5),
    "kaiming_normal": lambda t: init.kaiming_normal_(t),
}


def _forget_cupy() -> None:
    for name in [m for m in sys.modules if m == "cupy" or m.startswith("cupy.")]:
        del sys.modules[name]
    pdevice._cupy.cache_clear()
    pdevice._cupy_holds.cache_clear()


@pytest.fixture
def cupy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The stand-in imported as ``cupy`` (one GPU), for this test only."""
    monkeypatch.syspath_prepend(str(FAKE_CUPY))
    _forget_cupy()
    import cupy  # noqa: PLC0415 - the stand-in, found first on sys.path

    assert cupy.__version__.endswith("+fake")
    portable = prandom.is_portable()
    prandom.set_portable(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", cupy.PerformanceWarning)
            yield cupy
    finally:
        prandom.set_portable(portable)
        _forget_cupy()


def _host(tensor: paramtool.Tensor) -> np.ndarray:
    return tensor.cpu().numpy()


# -- devices ------------------------------------------------------------------------------------


def test_device_queries_follow_the_runtime(cupy: ModuleType, monkeypatch) -> None:
    assert paramtool.cuda.is_available() and paramtool.cuda.device_count() == 1
    monkeypatch.setattr(cupy.cuda.runtime, "device_count", 0)  # getDeviceCount raises
    assert not paramtool.cuda.is_available() and paramtool.cuda.device_count() == 0
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        paramtool.zeros(2, device="cuda")


def test_an_ordinal_past_the_last_gpu_is_a_device_error(cupy: ModuleType) -> None:
    with pytest.raises(DeviceError, match=r"only 1 GPU"):
        paramtool.zeros(2, device="cuda:1")


# -- factories: deferred, then materialised on the device ---------------------------------------


def test_randn_and_zeros_are_deferred_then_live_on_the_gpu(cupy: ModuleType) -> None:
    z = paramtool.zeros(3, 4, device="cuda")
    r = paramtool.randn(200, 500, device="cuda")
    assert z.is_deferred and r.is_deferred and r.device == "cuda:0" and r.is_cuda
    for t in (z, r):
        t.materialize("w", 0)
        array = t._cell.array
        assert isinstance(array, cupy.ndarray) and array.device.id == 0
        assert t.data_ptr() == array.data.ptr
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(r._cell.array)  # the stand-in refuses it, as cupy does
    with pytest.raises(TypeError, match="cpu"):
        r.numpy()
    np.testing.assert_array_equal(_host(z), np.zeros((3, 4), np.float32))
    values = _host(r).ravel()
    assert values.dtype == np.float32
    assert stats.kstest(values, "norm").pvalue > 1e-3


def test_gpu_values_are_reproducible_and_not_the_cpu_values(cupy: ModuleType) -> None:
    def draw(device: str) -> np.ndarray:
        return _host(
            init.normal_(paramtool.empty(CHUNK + 10, device=device), 0, 2).materialize("w", 1)
        )

    a, b, cpu = draw("cuda"), draw("cuda"), draw("cpu")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, cpu)
    assert stats.kstest(a / 2, "norm").pvalue > 1e-3


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_gpu_draws_in_float32_or_float64_and_casts(cupy: ModuleType, dtype: str) -> None:
    t = init.uniform_(paramtool.empty(1000, dtype=dtype, device="cuda"), -1, 1).materialize("u")
    values = _host(t)
    assert values.dtype == np.dtype(dtype)
    assert values.min() >= -1 and values.max() <= 1
    assert stats.kstest(values.astype(np.float64), "uniform", args=(-1, 2)).pvalue > 1e-3


@pytest.mark.parametrize("kind", sorted(RANDOM_INITS))
def test_portable_mode_gives_the_cpu_values_exactly(cupy: ModuleType, kind: str) -> None:
    prandom.set_portable(True)
    shape = (3, CHUNK // 2 + 7) if kind == "normal" else (48, 40)  # normal spans chunks
    cpu = RANDOM_INITS[kind](paramtool.empty(*shape)).compute(name="w", seed=2)
    gpu = RANDOM_INITS[kind](paramtool.empty(*shape, device="cuda")).compute(name="w", seed=2)
    assert isinstance(gpu, cupy.ndarray)
    np.testing.assert_array_equal(gpu.get(), cpu)


def test_portable_float16_equals_the_cpu_values(cupy: ModuleType) -> None:
    prandom.set_portable(True)
    cpu = paramtool.randn(64, 33, dtype="float16").compute(name="h", seed=4)
    gpu = paramtool.randn(64, 33, dtype="float16", device="cuda").compute(name="h", seed=4)
    np.testing.assert_array_equal(gpu.get(), cpu)


# -- init functions on real (materialised) cuda tensors -----------------------------------------


def test_init_functions_fill_cuda_tensors_in_place(cupy: ModuleType) -> None:
    w = paramtool.zeros(256, 128, device="cuda").materialize()
    before = w._cell.array
    init.kaiming_normal_(w, nonlinearity="relu")
    assert w._cell.array is before  # filled in place, on the device
    std = np.sqrt(2.0) / np.sqrt(128)  # torch: gain(relu) / sqrt(fan_in)
    assert _host(w).std() == pytest.approx(std, rel=0.03)
    init.orthogonal_(w, gain=2.0)
    q = _host(w).astype(np.float64)
    np.testing.assert_allclose(q.T @ q, 4.0 * np.eye(128), atol=1e-4)
    init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert _host(w).min() >= -0.5 and _host(w).max() <= 0.5
    init.eye_(w)
    np.testing.assert_array_equal(_host(w), np.eye(256, 128, dtype=np.float32))
    init.constant_(w, 0.25)
    np.testing.assert_array_equal(_host(w), np.full((256, 128), 0.25, np.float32))
    conv = paramtool.zeros(4, 2, 3, 3, device="cuda").materialize()
    init.dirac_(conv, groups=2)
    expected = np.zeros((4, 2, 3, 3), np.float32)
    expected[[0, 1, 2, 3], [0, 1, 0, 1], 1, 1] = 1
    np.testing.assert_array_equal(_host(conv), expected)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_init_through_a_transposed_view_reaches_the_storage(cupy: ModuleType, device) -> None:
    w = paramtool.zeros(64, 48, device=device).materialize()
    init.normal_(w.t(), 0, 1)  # a non-contiguous view of w's storage
    values = _host(w)
    assert np.count_nonzero(values) == values.size
    assert stats.kstest(values.ravel(), "norm").pvalue > 1e-3


# -- modules ------------------------------------------------------------------------------------


def _tied_model() -> nn.Module:
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Embedding(10, 8), shared, nn.LayerNorm(8), shared)


def test_module_cuda_to_and_cpu_round_trip_keeps_values_and_ties(cupy: ModuleType) -> None:
    model = _tied_model().materialize(seed=3)
    expected = {n: p.numpy().copy() for n, p in model.state_dict().items()}
    assert model.cuda() is model
    assert all(t.is_cuda for t in (*model.parameters(), *model.buffers()))
    assert model[1].weight is model[3].weight and len(list(model.parameters())) == 5
    assert {n: _host(p) for n, p in model.state_dict().items()}.keys() == expected.keys()
    model.to("cpu").to("cuda").cpu()
    assert model[1].weight is model[3].weight
    for name, tensor in model.state_dict().items():
        assert tensor.device == "cpu"
        np.testing.assert_array_equal(tensor.numpy(), expected[name])


def test_deferred_module_materialised_on_cuda_equals_cpu_in_portable_mode(cupy) -> None:
    prandom.set_portable(True)
    cpu = _tied_model().materialize(seed=9)
    gpu = _tied_model().cuda()
    assert all(p.is_deferred and p.is_cuda for p in gpu.parameters())
    gpu.materialize(seed=9)
    for (name, p), q in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        assert isinstance(q._cell.array, cupy.ndarray), name
        np.testing.assert_array_equal(_host(q), p.numpy(), err_msg=name)


# -- safetensors --------------------------------------------------------------------------------


def test_load_file_to_cuda(cupy: ModuleType, tmp_path: Path) -> None:
    arrays = {
        "w": np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32),
        "h": np.arange(6, dtype=np.float16).reshape(2, 3),
        "ids": np.arange(4, dtype=np.int64),
    }
    reference_save(arrays, str(tmp_path / "m.safetensors"))
    loaded = load_file(tmp_path / "m.safetensors", device="cuda")
    assert sorted(loaded) == sorted(arrays)
    for name, tensor in loaded.items():
        assert isinstance(tensor._cell.array, cupy.ndarray) and tensor.device == "cuda:0"
        np.testing.assert_array_equal(_host(tensor), arrays[name])


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn])
def test_dtypes_cupy_cannot_hold_are_a_dtype_error(cupy, tmp_path: Path, dtype) -> None:
    path = tmp_path / "low.safetensors"
    save_state_dict({"x": paramtool.zeros(3, dtype=dtype)}, path)
    assert load_file(path)["x"].numpy().dtype == np.dtype(dtype)  # fine on the cpu
    with pytest.raises(DTypeError, match="cannot live on 'cuda'"):
        load_file(path, device="cuda")
    with pytest.raises(DTypeError, match=np.dtype(dtype).name):
        paramtool.ones(3, dtype=dtype).materialize().cuda()
    with pytest.raises(DTypeError):
        paramtool.ones(3, device="cuda").materialize().to(np.dtype(dtype))


def test_a_deferred_cuda_tensor_of_an_unheld_dtype_is_a_dtype_error(cupy: ModuleType) -> None:
    with pytest.raises(DTypeError):
        paramtool.randn(3, dtype="bfloat16", device="cuda").materialize()


def test_setting_items_of_a_cuda_tensor_from_host_values(cupy: ModuleType) -> None:
    t = paramtool.zeros(2, 3, device="cuda").materialize()
    t[0] = np.arange(3, dtype=np.float32)  # a host array: copied to the device first
    t[1] = paramtool.ones(3)  # a cpu tensor likewise
    t[1, 2] = 7.0
    np.testing.assert_array_equal(t.cpu().numpy(), [[0, 1, 2], [1, 1, 7]])


def test_export_of_a_cuda_model_reads_back_in_the_reference_library(cupy, tmp_path) -> None:
    prandom.set_portable(True)
    cpu = _tied_model().materialize(seed=1)
    gpu = _tied_model().cuda()  # deferred: computed on the device while writing
    save_state_dict(gpu, tmp_path / "gpu.safetensors", seed=1)
    written = reference_load(str(tmp_path / "gpu.safetensors"))
    for name, tensor in cpu.state_dict().items():
        if name in written:
            np.testing.assert_array_equal(written[name], tensor.numpy(), err_msg=name)
    assert "1.weight" in written and "3.weight" not in written  # the tie is stored once
    gpu.materialize(seed=1)
    save_state_dict(gpu, tmp_path / "real.safetensors")
    assert reference_load(str(tmp_path / "real.safetensors")).keys() == written.keys()


# -- statistics ---------------------------------------------------------------------------------


def test_stats_of_a_device_array_equal_those_of_its_host_copy(cupy: ModuleType) -> None:
    t = init.trunc_normal_(paramtool.empty(300, 70, device="cuda"), std=0.5).materialize("s")
    device_stats = tensor_stats("s", t._cell.array).to_dict()
    host_stats = tensor_stats("s", _host(t)).to_dict()
    assert device_stats == host_stats
    assert host_stats["std"] == pytest.approx(float(_host(t).astype(np.float64).std()))


# -- a second GPU -------------------------------------------------------------------------------


def test_cuda_1_tensors_are_made_and_filled_on_device_1(cupy: ModuleType, monkeypatch) -> None:
    monkeypatch.setattr(cupy.cuda.runtime, "device_count", 2)
    for t in (
        paramtool.randn(40, 30, device="cuda:1"),
        paramtool.zeros(4, device="cuda:1"),
        paramtool.arange(5.0, device="cuda:1"),
        init.orthogonal_(paramtool.empty(12, 8, device="cuda:1")),
        init.eye_(paramtool.empty(3, 3, device="cuda:1")),
        init.sparse_(paramtool.empty(6, 5, device="cuda:1"), 0.5),
    ):
        t.materialize("x", 0)  # a kernel on device 1 while device 0 is current would raise
        assert t._cell.array.device.id == 1 and t.device == "cuda:1"
    moved = t.to("cuda:0")
    assert moved._cell.array.device.id == 0
    np.testing.assert_array_equal(_host(moved), _host(t))
