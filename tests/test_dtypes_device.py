"""dtype names and devices: the table against ml_dtypes/numpy, and clear device errors."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import paramtool
from paramtool.core.device import Device, as_device
from paramtool.core.dtypes import as_dtype, dtype_name, is_floating_point
from paramtool.errors import DeviceError, DTypeError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("float32", np.float32), ("float", np.float32), ("half", np.float16),
        ("double", np.float64), ("bfloat16", ml_dtypes.bfloat16), ("bf16", ml_dtypes.bfloat16),
        ("float8_e4m3fn", ml_dtypes.float8_e4m3fn), ("float8_e5m2", ml_dtypes.float8_e5m2),
        ("long", np.int64), ("int", np.int32), ("torch.int8", np.int8), ("bool", np.bool_),
    ],
)  # fmt: skip
def test_names_resolve_to_numpy_dtypes(name: str, expected: type) -> None:
    assert as_dtype(name) == np.dtype(expected)
    assert getattr(paramtool, name.removeprefix("torch."), None) in (None, np.dtype(expected))


def test_canonical_names_and_floating_point() -> None:
    assert dtype_name(paramtool.bfloat16) == "bfloat16"
    assert dtype_name(np.dtype(np.float16)) == "float16"
    assert is_floating_point(paramtool.float8_e5m2) and not is_floating_point(paramtool.int64)
    assert paramtool.float32 is not None and paramtool.float32 == np.float32


@pytest.mark.parametrize("bad", ["float33", "complex64", object])
def test_unknown_dtypes_are_refused(bad: object) -> None:
    with pytest.raises(DTypeError):
        as_dtype(bad)


def test_device_parsing() -> None:
    assert as_device("cuda:1") == Device("cuda", 1) == paramtool.device("cuda:1")
    assert str(paramtool.device("cuda", 0)) == "cuda:0"
    assert repr(paramtool.device("cpu")) == "device(type='cpu')"
    assert as_device(None) == "cpu"
    with pytest.raises(DeviceError, match="unknown device"):
        as_device("tpu")


@pytest.mark.skipif(paramtool.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_one_clear_error() -> None:
    assert paramtool.cuda.device_count() == 0
    with pytest.raises(DeviceError) as info:
        paramtool.randn(2, 2, device="cuda")
    message = str(info.value)
    assert "\n" not in message and ("pip install 'paramtool[cuda]'" in message or "GPU" in message)


@pytest.mark.gpu
@pytest.mark.skipif(not paramtool.cuda.is_available(), reason="needs a CUDA GPU and cupy")
def test_cuda_round_trip() -> None:
    t = paramtool.randn(64, 64).materialize("w", 0)
    g = t.cuda()
    assert g.device == "cuda:0" and g.is_cuda
    np.testing.assert_array_equal(g.cpu().numpy(), t.numpy())
    d = paramtool.randn(8, 8, device="cuda")
    assert d.is_deferred and d.device.type == "cuda"
    assert float((d.materialize("x", 0).cpu().numpy() ** 2).mean()) > 0
