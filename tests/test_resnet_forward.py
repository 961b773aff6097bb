"""The ResNet sample against PyTorch running the same file: logits, cross-entropy loss,
BatchNorm running statistics and every parameter's gradient in training mode, and the logits in
evaluation mode (``fixtures/record_torch_conv.py``, ``fixtures/resnet_cases.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import recorded_arrays

import paramtool

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import resnet_cases  # noqa: E402

CASES = json.loads((FIXTURES / "torch_conv" / "resnet.json").read_text())


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return recorded_arrays.load(FIXTURES / "torch_conv" / "resnet.npz")


def assert_close_deep(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    """rtol 1e-4 and 5e-5 of the tensor's scale: gradients reaching the stem have passed ~20
    float32 layers, and BatchNorm over as few as 8 values per channel (2 images of 2x2 in the
    last stage) amplifies rounding; near-zero entries then differ by up to ~2e-5 of their
    tensor's scale (measured), as two float32 implementations summing in different orders do.
    """
    recorded_arrays.assert_close(actual, expected, what, scale_atol=5e-5)


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
    assert_close_deep(logits.detach().numpy(), arrays[f"{name}/logits"], "logits")
    assert_close_deep(loss.detach().numpy(), arrays[f"{name}/loss"], "loss")
    loss.backward()
    for key, buffer in model.named_buffers():
        if buffer.is_floating_point():
            assert_close_deep(buffer.numpy(), arrays[f"{name}/buffer/{key}"], f"buffer {key}")
    for key, param in model.named_parameters():
        grad = param.grad.numpy()
        expected = arrays[f"{name}/grad/{key}"]
        if key not in case["sampled"]:
            assert_close_deep(grad, expected, f"gradient of {key}")
            continue
        positions = resnet_cases.sample_positions(grad.size, 256, case["seed"])
        assert_close_deep(grad.ravel()[positions], expected, f"gradient of {key} (sampled)")
        g64 = grad.astype(np.float64)
        totals = case["sampled"][key]
        scale = np.sqrt(totals["sumsq"] * grad.size)
        assert abs(g64.sum() - totals["sum"]) <= 1e-4 * scale, f"sum of gradient of {key}"
        assert abs((g64 * g64).sum() - totals["sumsq"]) <= 2e-4 * totals["sumsq"], key
    model.eval()
    with paramtool.no_grad():
        assert_close_deep(model(x).numpy(), arrays[f"{name}/eval_logits"], "evaluation logits")
