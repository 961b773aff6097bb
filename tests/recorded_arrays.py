"""Comparing paramtool's arrays with arrays PyTorch recorded into .npz fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read into memory."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def assert_close(
    actual: np.ndarray, expected: np.ndarray, what: str, scale_atol: float = 1e-5
) -> None:
    """float32 agreement: same shape, rtol 1e-4, and an absolute tolerance of ``scale_atol``
    times the largest expected magnitude (at least 1), for entries near zero."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    atol = scale_atol * max(scale, 1.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=atol, err_msg=what)
