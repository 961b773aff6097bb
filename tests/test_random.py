"""Reproducibility: values depend on (seed, name, recipe) only — not order, subset or threads."""

from __future__ import annotations

import numpy as np
import pytest

import paramtool
from paramtool import nn
from paramtool.core import random as prandom
from paramtool.core.random import CHUNK, Stream
from paramtool.nn import init
from paramtool.nn.init.schemes import apply_scheme

RECIPE_INITS = {
    "normal": lambda t: init.normal_(t, 0.1, 0.02),
    "uniform": lambda t: init.uniform_(t, -0.5, 0.5),
    "trunc_normal": lambda t: init.trunc_normal_(t, std=0.02),
    "trunc_normal_tail": lambda t: init.trunc_normal_(t, 0, 1, 2.5, 4.0),
    "trunc_normal_flat": lambda t: init.trunc_normal_(t, 0, 1e4, -1.0, 1.0),
    "sparse": lambda t: init.sparse_(t, 0.25),
}


def _model() -> nn.Module:
    model = nn.Sequential(
        nn.Embedding(50, 16),
        nn.Linear(16, 32),
        nn.LayerNorm(32),
        nn.Conv1d(32, 8, 3),
        nn.Linear(8, 4),
    )
    model.add_module("rnn", nn.LSTM(4, 6))
    return model


def _values(model: nn.Module) -> dict[str, np.ndarray]:
    return {name: p.numpy().copy() for name, p in model.named_parameters()}


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = prandom.get_num_threads()
    yield
    prandom.set_num_threads(threads)
    prandom.set_portable(False)


def test_same_seed_same_values_other_seed_other_values() -> None:
    a = _values(_model().materialize(seed=1))
    b = _values(_model().materialize(seed=1))
    c = _values(_model().materialize(seed=2))
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    random_names = [k for k in a if a[k].std() > 0]
    assert random_names and not any(np.array_equal(a[k], c[k]) for k in random_names)


def test_single_parameter_equals_whole_model() -> None:
    whole = _values(_model().materialize(seed=5))
    for name in whole:
        alone = _model()
        param = alone.get_parameter(name)
        param.materialize(name=name, seed=5)
        assert np.array_equal(param.numpy(), whole[name]), name
        assert all(p.is_deferred for n, p in alone.named_parameters() if n != name)


def test_reversed_order_equals_forward_order() -> None:
    forward = _values(_model().materialize(seed=3))
    model = _model()
    for name, param in reversed(list(model.named_parameters())):
        param.materialize(name=name, seed=3)
    backward = _values(model)
    assert all(np.array_equal(forward[k], backward[k]) for k in forward)


def test_other_parameters_do_not_change_a_parameters_values() -> None:
    small = nn.Sequential(nn.Linear(16, 32))
    big = nn.Sequential(nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, 32))
    for model in (small, big):
        apply_scheme(model, "kaiming")
        model.materialize(seed=0)
    assert np.array_equal(small[0].weight.numpy(), big[0].weight.numpy())


def test_reinitialising_one_parameter_reproduces_the_whole_model_run() -> None:
    reference = _model()
    apply_scheme(reference, "xavier_normal")
    expected = _values(reference.materialize(seed=11))
    model = _model().materialize(seed=4)  # real, with other (default) values
    report = apply_scheme(model, "xavier_normal", seed=11)
    got = _values(model)
    changed = [row["name"] for row in report.rows if row["source"] != "default"]
    assert changed
    for name in changed:
        assert np.array_equal(got[name], expected[name]), name


@pytest.mark.parametrize("kind", sorted(RECIPE_INITS))
@pytest.mark.parametrize("dtype", [paramtool.float32, paramtool.bfloat16, paramtool.float64])
def test_thread_count_does_not_change_values(kind: str, dtype) -> None:
    shape = (5, CHUNK // 2 + 7)  # 2.5 chunks, an uneven last one
    results = []
    for threads in (1, 2, 3):
        prandom.set_num_threads(threads)
        tensor = RECIPE_INITS[kind](paramtool.empty(*shape, dtype=dtype))
        results.append(tensor.compute(name="layer.weight", seed=9))
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_orthogonal_does_not_depend_on_thread_count() -> None:
    results = []
    for threads in (1, 2):
        prandom.set_num_threads(threads)
        tensor = init.orthogonal_(paramtool.empty(300, 200))
        results.append(tensor.compute(name="q", seed=1))
    assert np.array_equal(*results)


def test_chunks_are_independent_streams() -> None:
    values = paramtool.empty(3 * CHUNK)
    init.normal_(values)
    array = values.compute(name="x", seed=0)
    first, second = array[:CHUNK], array[CHUNK : 2 * CHUNK]
    assert not np.array_equal(first, second)
    assert abs(np.corrcoef(first, second)[0, 1]) < 5 / np.sqrt(CHUNK)


def test_real_tensor_filled_from_a_generator_is_reproducible() -> None:
    def fill(seed: int) -> np.ndarray:
        t = paramtool.from_numpy(np.zeros((8, 8), np.float32))
        init.trunc_normal_(t, std=0.5, generator=paramtool.Generator().manual_seed(seed))
        return t.numpy()

    assert np.array_equal(fill(3), fill(3))
    assert not np.array_equal(fill(3), fill(4))


def test_unnamed_tensors_follow_manual_seed() -> None:
    paramtool.manual_seed(123)
    a = [init.normal_(paramtool.empty(10)).numpy() for _ in range(2)]
    paramtool.manual_seed(123)
    b = [init.normal_(paramtool.empty(10)).numpy() for _ in range(2)]
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])


def test_thread_and_portable_settings_validate() -> None:
    with pytest.raises(ValueError, match="positive"):
        prandom.set_num_threads(0)
    prandom.set_portable(True)
    assert prandom.is_portable()
    prandom.set_portable(False)
    assert not prandom.is_portable()


def test_chunk_seed_is_stable_per_chunk() -> None:
    stream = Stream(7, (1, 2))
    assert prandom.chunk_seed(stream, 0) == prandom.chunk_seed(Stream(7, (1, 2)), 0)
    assert prandom.chunk_seed(stream, 0) != prandom.chunk_seed(stream, 1)
    assert 0 <= prandom.chunk_seed(stream, 3) < 2**63


def _cupy():
    cupy = pytest.importorskip("cupy")
    if not paramtool.cuda.is_available():
        pytest.skip("no CUDA GPU")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("kind", sorted(RECIPE_INITS))
def test_portable_cuda_values_equal_cpu_values(kind: str) -> None:
    _cupy()
    prandom.set_portable(True)
    shape = (4, CHUNK // 2 + 3)
    cpu = RECIPE_INITS[kind](paramtool.empty(*shape)).compute(name="w", seed=2)
    gpu = RECIPE_INITS[kind](paramtool.empty(*shape, device="cuda")).compute(name="w", seed=2)
    assert np.array_equal(cpu, gpu.get())


@pytest.mark.gpu
def test_portable_cuda_orthogonal_equals_cpu() -> None:
    _cupy()
    prandom.set_portable(True)
    cpu = init.orthogonal_(paramtool.empty(64, 32)).compute(name="q", seed=0)
    gpu = init.orthogonal_(paramtool.empty(64, 32, device="cuda")).compute(name="q", seed=0)
    assert np.array_equal(cpu, gpu.get())


@pytest.mark.gpu
def test_cuda_generation_is_reproducible_and_on_the_gpu() -> None:
    cupy = _cupy()
    a = init.normal_(paramtool.empty(3 * CHUNK, device="cuda"), 0, 2).compute(name="w", seed=1)
    b = init.normal_(paramtool.empty(3 * CHUNK, device="cuda"), 0, 2).compute(name="w", seed=1)
    assert isinstance(a, cupy.ndarray)
    assert bool((a == b).all())
    assert float(a.std()) == pytest.approx(2.0, rel=0.01)
