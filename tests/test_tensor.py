"""Tensor behaviour against recorded PyTorch results, and the deferred-tensor contract."""

from __future__ import annotations

import copy
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import paramtool
import paramtool as torch  # the recorded expressions are written against ``torch``
from paramtool.core.dtypes import dtype_name

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "torch_tensor.json").read_text())


@pytest.mark.parametrize("expr", sorted(FIXTURE["repr"]))
def test_repr_matches_pytorch(expr: str) -> None:
    assert repr(eval(expr)).replace("paramtool.", "torch.") == FIXTURE["repr"][expr]


@pytest.mark.parametrize("expr", sorted(FIXTURE["values"]))
def test_values_and_promotion_match_pytorch(expr: str) -> None:
    expected = FIXTURE["values"][expr]
    result = eval(expr)
    assert dtype_name(result.dtype) == expected["dtype"]
    assert list(result.shape) == expected["shape"]
    np.testing.assert_allclose(np.asarray(result, dtype=np.float64), expected["values"], rtol=1e-6)


@pytest.mark.parametrize("expr", sorted(FIXTURE["errors"]))
def test_errors_match_pytorch(expr: str) -> None:
    expected = FIXTURE["errors"][expr]
    with pytest.raises(Exception) as info:
        eval(expr)
    # The class PyTorch raises, or a paramtool error deriving from it.
    assert expected["type"] in {cls.__name__ for cls in type(info.value).__mro__}
    assert str(info.value).replace("paramtool.", "torch.") == expected["message"]


def test_factories_allocate_nothing() -> None:
    tracemalloc.start()
    big = [paramtool.randn(8192, 8192) for _ in range(100)]  # 26.8 GB if real
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000
    assert all(t.is_deferred for t in big)
    assert big[0].nbytes == 8192 * 8192 * 4


def test_values_depend_on_seed_and_name_only() -> None:
    a = paramtool.randn(50, 7).materialize("layers.3.mlp.weight", seed=0).numpy()
    b = paramtool.randn(50, 7).materialize("layers.3.mlp.weight", seed=0).numpy()
    c = paramtool.randn(50, 7).materialize("layers.3.mlp.weight", seed=1).numpy()
    d = paramtool.randn(50, 7).materialize("layers.4.mlp.weight", seed=0).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_compute_does_not_keep_values() -> None:
    t = paramtool.randn(4, 4)
    values = t.compute("w", seed=3)
    assert t.is_deferred
    np.testing.assert_array_equal(values, t.materialize("w", seed=3).numpy())


def test_unnamed_tensors_follow_manual_seed() -> None:
    paramtool.manual_seed(7)
    a, b = paramtool.randn(5), paramtool.randn(5)
    paramtool.manual_seed(7)
    a2 = paramtool.randn(5)
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    assert not np.array_equal(a.numpy(), b.numpy())


def test_generator_keys_its_own_stream() -> None:
    g = paramtool.Generator().manual_seed(3)
    x = paramtool.rand(6, generator=g).numpy()
    g.manual_seed(3)
    np.testing.assert_array_equal(x, paramtool.rand(6, generator=g).numpy())
    assert x.min() >= 0 and x.max() < 1


def test_seed_example_custom_init_edits_in_place() -> None:
    # SEED_EXAMPLES 6: uniform_(-10, 10) then zero the values with |x| < 5; param.data += 1.
    w = paramtool.nn.Parameter(paramtool.empty(40, 40))
    with paramtool.no_grad():
        w.uniform_(-10, 10)
        w *= (w.abs() >= 5).float()
    values = w.numpy()
    kept = values[values != 0]
    assert np.all(np.abs(kept) >= 5) and np.all(np.abs(kept) <= 10)
    assert 0.35 < (values == 0).mean() < 0.65  # half of U(-10, 10) lies inside (-5, 5)
    before = values.copy()
    w.data += 1
    np.testing.assert_array_equal(w.numpy(), before + 1)


def test_data_shares_storage_and_detach() -> None:
    p = paramtool.nn.Parameter(paramtool.zeros(3))
    p.data[1] = 5.0
    assert p.numpy().tolist() == [0.0, 5.0, 0.0]
    assert p.detach().shares_storage(p) and not p.detach().requires_grad
    assert not p.clone().shares_storage(p)
    p.data = paramtool.ones(2)
    assert p.shape == (2,) and isinstance(p, paramtool.nn.Parameter)


def test_to_converts_deferred_without_allocating() -> None:
    t = paramtool.randn(1000, 1000)
    h = t.to(paramtool.float16)
    assert h.is_deferred and h.dtype == np.float16 and t.to(torch.float32) is t
    np.testing.assert_array_equal(
        h.materialize("w", 0).numpy(), t.materialize("w", 0).numpy().astype(np.float16)
    )


@pytest.mark.parametrize("name", ["bfloat16", "float8_e4m3fn", "float8_e5m2", "float16"])
def test_low_precision_generation(name: str) -> None:
    t = paramtool.rand(1000, dtype=getattr(paramtool, name)).materialize("x", 0)
    values = t.numpy().astype(np.float32)
    assert t.dtype == getattr(paramtool, name)
    assert values.min() >= 0 and values.max() <= 1 and 0.4 < values.mean() < 0.6


def test_read_only_arrays_are_copied_before_writing() -> None:
    base = np.arange(4, dtype=np.float32)
    base.flags.writeable = False
    t = paramtool.from_numpy(base)
    t += 1
    assert base.tolist() == [0, 1, 2, 3] and t.numpy().tolist() == [1, 2, 3, 4]


def test_deepcopy_keeps_shared_storage_shared() -> None:
    p = paramtool.nn.Parameter(paramtool.randn(3))
    pair = copy.deepcopy([p, p.data])
    assert pair[0]._cell is pair[1]._cell and pair[0]._cell is not p._cell


def test_numpy_of_cuda_tensor_is_refused_clearly() -> None:
    with pytest.raises(paramtool.ParamtoolError, match="pip install 'paramtool\\[cuda\\]'|no CUDA"):
        paramtool.zeros(2, device="cuda").numpy()
