"""Default initialisation of every layer against PyTorch's, statistically.

For each definition of ``record_torch_layers`` and each of its parameters and buffers, the
fixture holds the distribution PyTorch's formula prescribes (uniform with its bound, normal
with its std, or a constant) and PyTorch's own sample statistics at a fixed seed. paramtool's
materialised values must: equal the constant exactly; stay within the uniform bound; pass a
Kolmogorov-Smirnov test against the prescribed distribution; and have a mean and std within
six standard errors of both the formula and PyTorch's sample.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from test_layers import build

FIXTURES = Path(__file__).parent / "fixtures"
RECORDING = json.loads((FIXTURES / "torch_layers.json").read_text())
SEED = RECORDING["seed"]
CASES = [
    (definition, row)
    for definition, recorded in sorted(RECORDING["definitions"].items())
    for row in recorded["init"]
]
#: KS significance level; the seed is fixed, so a pass is reproducible.
ALPHA = 1e-3
#: Tolerance in standard errors for mean and std comparisons.
Z = 6.0


@functools.cache
def materialised(definition: str) -> dict[str, np.ndarray]:
    """Every parameter and buffer of ``definition``, materialised at the recorded seed."""
    model = build(definition).materialize(seed=SEED)
    tensors = {**dict(model.named_parameters(remove_duplicate=False))}
    tensors.update(dict(model.named_buffers(remove_duplicate=False)))
    return {name: t.numpy() for name, t in tensors.items()}


def _values(definition: str, row: dict) -> np.ndarray:
    """The tensor's values as float64, without rows the expectation pins to zero."""
    values = materialised(definition)[row["name"]]
    zero_rows = row["expected"].get("zero_rows", [])
    if zero_rows:
        assert np.all(values[zero_rows] == 0), "padding row is not zero"
        values = np.delete(values, zero_rows, axis=0)
    return values.astype(np.float64).reshape(-1)


def _distribution(expected: dict) -> Any:
    if expected["kind"] == "uniform":
        return stats.uniform(loc=expected["low"], scale=expected["high"] - expected["low"])
    return stats.norm(loc=expected["mean"], scale=expected["std"])


def _case_id(case: tuple[str, dict]) -> str:
    return f"{case[0]}:{case[1]['name']}"


CONSTANT = [c for c in CASES if c[1]["expected"]["kind"] == "constant"]
RANDOM = [c for c in CASES if c[1]["expected"]["kind"] != "constant"]


def test_every_definition_has_init_rows() -> None:
    with_tensors = {d for d, _ in CASES}
    for definition, recorded in RECORDING["definitions"].items():
        if recorded["state_dict"]:
            assert definition in with_tensors


@pytest.mark.parametrize(("definition", "row"), CONSTANT, ids=map(_case_id, CONSTANT))
def test_constant_init_is_exact(definition: str, row: dict) -> None:
    values = materialised(definition)[row["name"]]
    expected = np.full(values.shape, row["expected"]["value"], dtype=values.dtype)
    assert np.array_equal(values, expected)
    assert math.isclose(float(expected.reshape(-1)[0]), row["mean"], rel_tol=0, abs_tol=0)


@pytest.mark.parametrize(("definition", "row"), RANDOM, ids=map(_case_id, RANDOM))
def test_random_init_matches_distribution(definition: str, row: dict) -> None:
    expected = row["expected"]
    values = _values(definition, row)
    n = values.size
    dist = _distribution(expected)
    if expected["kind"] == "uniform":
        # Bounds are exact: every value lies in [low, high] (the bound rounded to the dtype).
        low, high = (np.float32(expected[k]) for k in ("low", "high"))
        assert values.min() >= low and values.max() <= high
        # ...and reached: P(no value within 15 (high - low) / n of a bound) < exp(-15).
        margin = 15 * (high - low) / n
        assert values.min() <= low + margin and values.max() >= high - margin
    assert stats.kstest(values, dist.cdf).pvalue > ALPHA
    sigma = dist.std()
    assert abs(values.mean() - dist.mean()) <= Z * sigma / math.sqrt(n)
    if n > 1:
        # The sample std's standard error is below 0.75 * sigma / sqrt(n) for both families.
        assert abs(values.std(ddof=1) - sigma) <= Z * 0.75 * sigma / math.sqrt(n - 1)


@pytest.mark.parametrize(("definition", "row"), RANDOM, ids=map(_case_id, RANDOM))
def test_random_init_agrees_with_pytorch_sample(definition: str, row: dict) -> None:
    """paramtool's and PyTorch's samples are two draws from one distribution."""
    values = _values(definition, row)
    n = values.size
    sigma = _distribution(row["expected"]).std()
    padded = bool(row["expected"].get("zero_rows"))
    if not padded:
        assert abs(values.mean() - row["mean"]) <= Z * math.sqrt(2) * sigma / math.sqrt(n)
        if n > 1:
            bound = Z * math.sqrt(2) * 0.75 * sigma / math.sqrt(n - 1)
            assert abs(values.std(ddof=1) - row["std"]) <= bound
    if row["expected"]["kind"] == "uniform":
        assert row["expected"]["low"] <= row["min"] and row["max"] <= row["expected"]["high"]
