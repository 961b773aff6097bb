"""Convolution, pooling, vision and recurrent layers' forward and backward against PyTorch:
each layer is loaded with the state_dict PyTorch's layer had, run on the same input (and initial
state), and its outputs and every gradient compared (``fixtures/record_torch_conv.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import recorded_arrays

import paramtool
from paramtool import nn
from paramtool.core import autograd

FIXTURES = Path(__file__).parent / "fixtures" / "torch_conv"
LAYERS = json.loads((FIXTURES / "layers.json").read_text())


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return recorded_arrays.load(FIXTURES / "layers.npz")


def _flatten(result: object) -> list:
    if isinstance(result, tuple):
        return [t for r in result for t in _flatten(r)]
    return [result]


def _build(case: dict, arrays: dict) -> nn.Module:
    args = [tuple(a) if isinstance(a, list) else a for a in case["args"]]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}
    layer = getattr(nn, case["layer"])(*args, **kwargs)
    state = {n: paramtool.tensor(arrays[f"{case['id']}/param/{n}"]) for n in case["params"]}
    layer.load_state_dict(state)
    return layer


@pytest.mark.parametrize("case", LAYERS, ids=lambda c: f"{c['id']}-{c['layer']}")
def test_layer_matches_pytorch(case: dict, arrays: dict) -> None:
    key = case["id"]
    layer = _build(case, arrays)
    x = paramtool.tensor(arrays[f"{key}/input"], requires_grad=True)
    states = [
        paramtool.tensor(arrays[f"{key}/state{j}"], requires_grad=True)
        for j in range(case["states"])
    ]
    call = {k: tuple(v) if isinstance(v, list) else v for k, v in case["call"].items()}
    if not states:
        result = layer(x, **call)
    elif case["layer"] in ("LSTM", "LSTMCell"):
        result = layer(x, tuple(states))
    else:
        result = layer(x, states[0])
    outputs = _flatten(result)
    assert len(outputs) == case["outputs"]
    for j, out in enumerate(outputs):
        recorded_arrays.assert_close(out.numpy(), arrays[f"{key}/out{j}"], f"output {j}")
    floats = [j for j, out in enumerate(outputs) if out.is_floating_point()]
    cotangents = [paramtool.tensor(arrays[f"{key}/cot{j}"]) for j in floats]
    autograd.backward([outputs[j] for j in floats], cotangents)
    recorded_arrays.assert_close(x.grad.numpy(), arrays[f"{key}/grad_input"], "input gradient")
    for j, state in enumerate(states):
        recorded_arrays.assert_close(
            state.grad.numpy(), arrays[f"{key}/grad_state{j}"], f"state {j} gradient"
        )
    for name, param in layer.named_parameters():
        recorded_arrays.assert_close(
            param.grad.numpy(), arrays[f"{key}/grad/{name}"], f"gradient of {name}"
        )


LAYER_ERRORS = json.loads((FIXTURES / "layer_errors.json").read_text())


@pytest.mark.parametrize("case", LAYER_ERRORS, ids=lambda c: f"{c['layer']}-{c['message'][:40]}")
def test_layer_errors_match_pytorch(case: dict) -> None:
    layer = getattr(nn, case["layer"])(*case["args"], **case["kwargs"])
    states = [paramtool.zeros(*s) for s in case["states"]]
    hx = (tuple(states) if len(states) > 1 else states[0]) if states else None
    with pytest.raises(Exception) as info:  # noqa: PT011 - the type is checked by name below
        layer(paramtool.zeros(*case["shape"]), hx)
    assert type(info.value).__name__ == case["type"]
    assert str(info.value) == case["message"]


def test_fractional_max_pool_layer_calls_the_function() -> None:
    """The layer passes its arguments and its ``_random_samples`` buffer on."""
    from paramtool.nn.functional import adaptive_pooling  # noqa: PLC0415

    samples = paramtool.rand(2, 3, 2)
    x = paramtool.randn(2, 3, 9, 8)
    layer = nn.FractionalMaxPool2d((2, 3), output_size=(4, 3), _random_samples=samples)
    expected = adaptive_pooling.fractional_max_pool2d(x, (2, 3), (4, 3), _random_samples=samples)
    np.testing.assert_array_equal(layer(x).numpy(), expected.numpy())
    assert repr(layer) == "FractionalMaxPool2d()"
    assert "_random_samples" in dict(layer.named_buffers())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [  # PyTorch 2.13's texts
        ({}, "FractionalMaxPool2d requires specifying either an output size, or a pooling ratio"),
        ({"output_size": 3, "output_ratio": 0.5}, "only one of output_size and output_ratio"),
        ({"output_ratio": 1.5}, r"output_ratio must be between 0 and 1 \(got 1.5\)"),
    ],
)
def test_fractional_max_pool_layer_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nn.FractionalMaxPool2d(2, **kwargs)
