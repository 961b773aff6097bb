"""Every distribution against its exact target, at fixed seeds (scipy.stats as the reference).

KS tests use 200k samples and reject at p < 1e-3: a correct sampler fails one of these tests
once in a thousand seeds, and the seeds are fixed, so the suite is deterministic.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from scipy import stats

import paramtool
from paramtool.nn import init

N = 200_000
ALPHA = 1e-3


def _values(fn, shape=(N,), dtype=paramtool.float32, seed=0) -> np.ndarray:
    tensor = paramtool.empty(*shape, dtype=dtype)
    fn(tensor)
    return tensor.materialize(name="w", seed=seed).numpy().astype(np.float64).reshape(-1)


def _ks(values: np.ndarray, dist) -> float:
    return stats.kstest(values, dist.cdf).pvalue


@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (0.5, 0.02), (-3.0, 1e-3)])
def test_normal_ks(mean: float, std: float) -> None:
    values = _values(lambda t: init.normal_(t, mean, std))
    assert _ks(values, stats.norm(mean, std)) > ALPHA


def test_normal_float64_ks() -> None:
    values = _values(lambda t: init.normal_(t, 1.0, 2.0), dtype=paramtool.float64)
    assert _ks(values, stats.norm(1.0, 2.0)) > ALPHA


@pytest.mark.parametrize(("a", "b"), [(0.0, 1.0), (-10.0, 10.0), (2.0, 2.001)])
def test_uniform_ks(a: float, b: float) -> None:
    values = _values(lambda t: init.uniform_(t, a, b))
    assert values.min() >= a and values.max() <= b
    assert _ks(values, stats.uniform(a, b - a)) > ALPHA


def test_kaiming_and_xavier_follow_their_std() -> None:
    shape = (500, 400)  # fan_in 400, fan_out 500
    kn = _values(lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), shape)
    assert _ks(kn, stats.norm(0, math.sqrt(2 / 500))) > ALPHA
    ku = _values(lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), shape)
    bound = 1 / math.sqrt(400)  # torch's Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert _ks(ku, stats.uniform(-bound, 2 * bound)) > ALPHA
    xn = _values(init.xavier_normal_, shape)
    assert _ks(xn, stats.norm(0, math.sqrt(2 / 900))) > ALPHA
    xu = _values(init.xavier_uniform_, shape)
    bound = math.sqrt(6 / 900)
    assert _ks(xu, stats.uniform(-bound, 2 * bound)) > ALPHA


TRUNC_CASES = [
    (0.0, 1.0, -2.0, 2.0),  # fast path: normal and redraw
    (0.0, 0.02, -0.04, 0.04),
    (1.0, 1.0, -0.5, 3.0),  # mean off-centre
    (0.0, 1.0, 2.0, 3.0),  # tail: inverse CDF
    (0.0, 1.0, -0.05, 0.05),  # narrow: inverse CDF
    (0.0, 1.0, 6.0, math.inf),  # far tail, one-sided
    (0.0, 1.0, -math.inf, -8.0),
    (5.0, 0.1, -1.0, 1.0),  # mean far above b
]


@pytest.mark.parametrize(("mean", "std", "a", "b"), TRUNC_CASES)
@pytest.mark.parametrize("dtype", [paramtool.float32, paramtool.float64])
def test_trunc_normal_ks(mean: float, std: float, a: float, b: float, dtype) -> None:
    values = _values(lambda t: init.trunc_normal_(t, mean, std, a, b), dtype=dtype)
    assert values.min() >= a and values.max() <= b
    target = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert _ks(values, target) > ALPHA
    assert values.std() == pytest.approx(target.std(), rel=0.02)


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [(0.0, 1.0, 200.0, 201.0), (1.0, 1e-3, -0.5, 0.5), (0.0, 1.0, -51.0, -50.0),
     (0.0, 1.0, 10.0, 10.001)],
)  # fmt: skip
def test_trunc_normal_far_from_the_mean_ks_and_expected_std(mean, std, a, b) -> None:
    """Intervals hundreds of std from the mean: the distribution there is close to an
    exponential of rate |a - mean| / std^2, resolved to float64 precision."""
    values = _values(lambda t: init.trunc_normal_(t, mean, std, a, b), dtype=paramtool.float64)
    assert values.min() >= a and values.max() <= b
    target = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert _ks(values, target) > ALPHA
    expected = init.trunc_normal_(paramtool.empty(1), mean, std, a, b).recipe.expected_std((1,))
    assert expected == pytest.approx(values.std(), rel=0.02)


@pytest.mark.parametrize("mean", [0.0, 5.0])
def test_trunc_normal_with_huge_std_is_uniform_at_full_resolution(mean: float) -> None:
    """std 1e6 over [-1, 1]: the density is flat there to 1e-12, so the values are U(-1, 1)
    with float32's resolution, not a few levels of a coarse inverse CDF."""
    values = _values(lambda t: init.trunc_normal_(t, mean, 1e6, -1.0, 1.0))
    assert values.min() >= -1 and values.max() <= 1
    assert _ks(values, stats.uniform(-1, 2)) > ALPHA
    assert len(np.unique(values)) > 0.9 * N


@pytest.mark.parametrize("dtype", [paramtool.float32, paramtool.float16, paramtool.bfloat16])
@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [(0.0, 1e-3, -2e-3, 2e-3), (0.0, 1e-3, -2.0, 2.0), (0.0, 0.02, -0.0213, 0.0171),
     (0.3, 1e-3, 0.3001, 0.3017), (0.0, 1.0, -1.0, 1.0)],
)  # fmt: skip
def test_trunc_normal_never_leaves_bounds(dtype, mean, std, a, b) -> None:
    values = _values(lambda t: init.trunc_normal_(t, mean, std, a, b), dtype=dtype)
    assert values.min() >= a and values.max() <= b


@pytest.mark.parametrize(
    ("dtype", "a", "b", "values"),
    [("float8_e8m0fnu", 2.0, 3.0, {2.0}), ("float8_e8m0fnu", 0.3, 1.5, {0.5, 1.0}),
     ("float8_e4m3fn", 2.0, 3.0, {2.0, 2.25, 2.5, 2.75, 3.0})],
)  # fmt: skip
def test_trunc_normal_float8_bounds_round_inwards(dtype: str, a: float, b: float, values) -> None:
    """float8_e8m0fnu holds only powers of two and has no sign bit: 3 rounds in to 2, not 4."""
    got = _values(lambda t: init.trunc_normal_(t, 0, 1, a, b), (20_000,), getattr(paramtool, dtype))
    assert set(np.unique(got).tolist()) == values


def test_trunc_normal_low_precision_follows_the_target_once_rounded() -> None:
    values = _values(lambda t: init.trunc_normal_(t, 0, 1e-3, -2e-3, 2e-3), dtype=paramtool.half)
    target = stats.truncnorm(-2, 2, scale=1e-3)
    assert abs(values.mean()) < 5 * target.std() / math.sqrt(N)
    assert values.std() == pytest.approx(target.std(), rel=0.01)


def test_orthogonal_is_orthonormal_with_gain() -> None:
    tall = _values(lambda t: init.orthogonal_(t, gain=2.0), (300, 120)).reshape(300, 120)
    assert np.allclose(tall.T @ tall, 4.0 * np.eye(120), atol=1e-4)
    wide = _values(init.orthogonal_, (50, 4, 5, 5)).reshape(50, 100)
    assert np.allclose(wide @ wide.T, np.eye(50), atol=1e-5)


def test_orthogonal_float64_and_bfloat16() -> None:
    q = _values(init.orthogonal_, (64, 64), dtype=paramtool.float64).reshape(64, 64)
    assert np.allclose(q.T @ q, np.eye(64), atol=1e-12)
    q = _values(init.orthogonal_, (64, 64), dtype=paramtool.bfloat16).reshape(64, 64)
    assert np.allclose(q.T @ q, np.eye(64), atol=0.05)


def test_orthogonal_is_haar_distributed() -> None:
    """An entry of a Haar-random 3x3 orthogonal matrix is uniform on [-1, 1] (a coordinate of
    a uniform point on the 2-sphere, Archimedes); without the sign correction it is not."""
    tensor = init.orthogonal_(paramtool.empty(3, 3))
    samples = np.array([tensor.compute(name=f"q{s}", seed=0) for s in range(3000)])
    for i, j in [(0, 0), (1, 2), (2, 2)]:
        assert _ks(samples[:, i, j], stats.uniform(-1, 2)) > ALPHA


def test_sparse_zeros_per_column_and_normal_values() -> None:
    rows, cols, sparsity, std = 40, 2000, 0.3, 0.05
    values = _values(lambda t: init.sparse_(t, sparsity, std), (rows, cols)).reshape(rows, cols)
    assert ((values == 0).sum(axis=0) == math.ceil(sparsity * rows)).all()
    assert _ks(values[values != 0], stats.norm(0, std)) > ALPHA


def test_variance_scaling_truncated_normal_has_the_promised_std() -> None:
    shape = (400, 500)
    values = _values(lambda t: init.variance_scaling_(t, 2.0, "fan_in"), shape)
    assert values.std() == pytest.approx(math.sqrt(2.0 / 500), rel=0.01)
    std = math.sqrt(2.0 / 500) / 0.87962566103423978
    assert _ks(values, stats.truncnorm(-2, 2, scale=std)) > ALPHA


def test_bfloat16_normal_is_the_rounded_float32_values() -> None:
    f32 = _values(lambda t: init.normal_(t, 0, 0.02), (1000,))
    bf16 = _values(lambda t: init.normal_(t, 0, 0.02), (1000,), dtype=paramtool.bfloat16)
    assert np.array_equal(f32.astype(np.float32).astype(ml_dtypes.bfloat16).astype(float), bf16)


@pytest.mark.parametrize(
    "call",
    [
        lambda i, t: i.trunc_normal_(t, 0.0, 1.0, -0.5, 3.0),
        lambda i, t: i.kaiming_uniform_(t, a=math.sqrt(5)),
        lambda i, t: i.orthogonal_(t),
    ],
)
def test_same_distribution_as_torch_two_sample(call) -> None:
    """Extra check when torch is installed: our values and torch's pass a two-sample KS test."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = call(torch.nn.init, torch.empty(400, 500)).numpy().reshape(-1)
    ours = _values(lambda t: call(init, t), (400, 500))
    assert stats.ks_2samp(ours, theirs).pvalue > ALPHA
