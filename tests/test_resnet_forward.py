"""The ResNet sample against PyTorch running the same file: logits, cross-entropy loss,
BatchNorm running statistics and every parameter's gradient in training mode, and the logits in
evaluation mode (``fixtures/record_torch_conv.py``, ``fixtures/resnet_cases.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import paramtool

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import resnet_cases  # noqa: E402

CASES = json.loads((FIXTURES / "torch_conv" / "resnet.json").read_text())


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "torch_conv" / "resnet.npz") as data:
        return {key: data[key] for key in data.files}


def assert_close(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    """float32 agreement: rtol 1e-4, and absolute 5e-5 of the largest expected magnitude.

    Gradients reaching the stem have passed ~20 float32 layers, and BatchNorm over as few as 8
    values per channel (2 images of 2x2 in the last stage) amplifies rounding; near-zero
    entries of a tensor then differ by up to ~2e-5 of its scale (measured), as two float32
    implementations summing in different orders do.
    """
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    np.testing.assert_allclose(
        actual, expected, rtol=1e-4, atol=5e-5 * max(scale, 1.0), err_msg=what
    )


def _model(case: dict) -> paramtool.nn.Module:
    sample = resnet_cases.load_sample("paramtool")
    if case["builder"] == "tiny":
        model = resnet_cases.tiny_resnet(sample)
    else:
        model = sample.build_model(case["builder"], num_classes=10)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = resnet_cases.seeded_state(shapes, case["seed"])
    model.load_state_dict({k: paramtool.tensor(v) for k, v in state.items()})
    return model


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_resnet_matches_pytorch(case: dict, arrays: dict) -> None:
    name = case["name"]
    model = _model(case)
    assert [k for k, _ in model.named_parameters()] == case["parameters"]
    x = paramtool.tensor(arrays[f"{name}/input"])
    logits = model(x)
    loss = paramtool.nn.functional.cross_entropy(logits, paramtool.tensor(case["targets"]))
    assert_close(logits.detach().numpy(), arrays[f"{name}/logits"], "logits")
    assert_close(loss.detach().numpy(), arrays[f"{name}/loss"], "loss")
    loss.backward()
    for key, buffer in model.named_buffers():
        if buffer.is_floating_point():
            assert_close(buffer.numpy(), arrays[f"{name}/buffer/{key}"], f"buffer {key}")
    for key, param in model.named_parameters():
        grad = param.grad.numpy()
        expected = arrays[f"{name}/grad/{key}"]
        if key not in case["sampled"]:
            assert_close(grad, expected, f"gradient of {key}")
            continue
        positions = resnet_cases.sample_positions(grad.size, 256, case["seed"])
        assert_close(grad.ravel()[positions], expected, f"gradient of {key} (sampled)")
        g64 = grad.astype(np.float64)
        totals = case["sampled"][key]
        scale = np.sqrt(totals["sumsq"] * grad.size)
        assert abs(g64.sum() - totals["sum"]) <= 1e-4 * scale, f"sum of gradient of {key}"
        assert abs((g64 * g64).sum() - totals["sumsq"]) <= 2e-4 * totals["sumsq"], key
    model.eval()
    with paramtool.no_grad():
        assert_close(model(x).numpy(), arrays[f"{name}/eval_logits"], "evaluation logits")
