"""Convolution, pooling and vision ops against PyTorch: values, input/weight/bias gradients and
error texts, replayed from fixtures recorded by ``fixtures/record_torch_conv.py``."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import recorded_arrays

import paramtool
from paramtool.core import autograd

FIXTURES = Path(__file__).parent / "fixtures" / "torch_conv"
CALLS = json.loads((FIXTURES / "functional.json").read_text())
ERRORS = json.loads((FIXTURES / "errors.json").read_text())


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return recorded_arrays.load(FIXTURES / "functional.npz")


def kwargs_of(case: dict, arrays: dict | None = None) -> dict:
    """The recorded keyword arguments: the tuples JSON turned into lists restored, recorded
    tensor arguments read back."""
    kwargs = {}
    for name, value in case["kwargs"].items():
        if isinstance(value, dict) and arrays is not None:
            value = paramtool.tensor(arrays[value["array"]])
        kwargs[name] = tuple(value) if isinstance(value, list) else value
    return kwargs


def op(name: str):
    return getattr(importlib.import_module("paramtool.nn.functional"), name)


def _label(call: dict) -> str:
    return f"{call['id']}-{call['op']}-" + ",".join(f"{k}={v}" for k, v in call["kwargs"].items())


@pytest.mark.parametrize("call", CALLS, ids=_label)
def test_values_and_gradients_match_pytorch(call: dict, arrays: dict) -> None:
    inputs = [
        None
        if spec is None
        else paramtool.tensor(arrays[spec["array"]], requires_grad=spec["grad"])
        for spec in call["args"]
    ]
    result = op(call["op"])(*inputs, **kwargs_of(call, arrays))
    outputs = list(result) if isinstance(result, tuple) else [result]
    assert len(outputs) == len(call["outputs"])
    roots, cotangents = [], []
    for j, (out, key) in enumerate(zip(outputs, call["outputs"], strict=True)):
        recorded_arrays.assert_close(out.numpy(), arrays[key], f"output {j}")
        if out.is_floating_point():
            roots.append(out)
            cotangents.append(paramtool.tensor(arrays[f"{call['id']}/cot{j}"]))
    autograd.backward(roots, cotangents)
    for i, key in call["grads"].items():
        recorded_arrays.assert_close(
            inputs[int(i)].grad.numpy(), arrays[key], f"gradient of argument {i}"
        )


@pytest.mark.parametrize("call", CALLS, ids=_label)
def test_values_without_gradients_match_pytorch(call: dict, arrays: dict) -> None:
    """The same values when nothing needs a gradient (ops may skip what backward would need)."""
    inputs = [None if s is None else paramtool.tensor(arrays[s["array"]]) for s in call["args"]]
    with paramtool.no_grad():
        result = op(call["op"])(*inputs, **kwargs_of(call, arrays))
    outputs = list(result) if isinstance(result, tuple) else [result]
    for j, (out, key) in enumerate(zip(outputs, call["outputs"], strict=True)):
        assert out.grad_fn is None
        recorded_arrays.assert_close(out.numpy(), arrays[key], f"output {j}")


def test_no_graph_without_grad(arrays: dict) -> None:
    """Inputs that need no gradient give a plain result, and no_grad records nothing."""
    x = paramtool.randn(1, 2, 5, 5)
    w = paramtool.randn(3, 2, 3, 3, requires_grad=True)
    conv2d = op("conv2d")
    assert conv2d(x, w.detach()).grad_fn is None
    with paramtool.no_grad():
        assert conv2d(x, w).grad_fn is None
    assert conv2d(x, w).grad_fn.name() == "ConvolutionBackward0"


def test_weight_used_twice_accumulates() -> None:
    """A kernel used by two convolutions gets the sum of the gradients each use gives alone."""
    conv2d = op("conv2d")
    x = paramtool.randn(1, 1, 4, 4)
    seed = paramtool.randn(1, 1, 3, 3).numpy()

    def grad_of(uses: int) -> np.ndarray:
        w = paramtool.tensor(seed, requires_grad=True)
        y = x
        for _ in range(uses):
            y = conv2d(y, w, padding=1)
        y.backward(paramtool.ones(1, 1, 4, 4))
        return w.grad.numpy()

    w = paramtool.tensor(seed, requires_grad=True)
    once, twice = conv2d(x, w, padding=1), conv2d(conv2d(x, w, padding=1), w, padding=1)
    autograd.backward([once, twice], [paramtool.ones(1, 1, 4, 4), paramtool.ones(1, 1, 4, 4)])
    recorded_arrays.assert_close(w.grad.numpy(), grad_of(1) + grad_of(2), "accumulated gradient")


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: f"{c['op']}-{c['message'][:40]}")
def test_errors_match_pytorch(case: dict) -> None:
    args = [
        None if s is None else paramtool.randn(*s, dtype=dtype)
        for s, dtype in zip(case["shapes"], case["dtypes"], strict=True)
    ]
    with pytest.raises(Exception) as info:  # noqa: PT011 - the type is checked by name below
        op(case["op"])(*args, **kwargs_of(case))
    assert type(info.value).__name__ == case["type"]
    assert str(info.value) == case["message"]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_other_float_dtypes_keep_their_dtype(dtype: str) -> None:
    """Results and gradients keep the input's dtype (as PyTorch's do) and agree with float32
    to that dtype's precision."""
    conv, pooling, vision = (op_module(m) for m in ("conv", "pooling", "vision"))
    adaptive = op_module("adaptive_pooling")
    rng = np.random.default_rng(0)
    x32 = paramtool.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    w32 = paramtool.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.2)
    chains = [
        lambda x, w: conv.conv2d(x, w, padding=1),
        lambda x, w: conv.conv_transpose2d(x, w.transpose(0, 1).contiguous(), stride=2),
        lambda x, w: pooling.max_pool2d(conv.conv2d(x, w), 2),
        lambda x, w: pooling.avg_pool2d(conv.conv2d(x, w), 2, ceil_mode=True),
        lambda x, w: adaptive.adaptive_avg_pool2d(conv.conv2d(x, w), 3),
        lambda x, w: vision.interpolate(conv.conv2d(x, w), scale_factor=2, mode="bilinear"),
    ]
    tolerance = {"float16": 1e-2, "bfloat16": 6e-2, "float64": 1e-5}[dtype]
    for chain in chains:
        x = x32.to(dtype).requires_grad_()
        w = w32.to(dtype).requires_grad_()
        out = chain(x, w)
        assert out.dtype == x.dtype
        out.backward(paramtool.ones(*out.shape, dtype=dtype))
        assert x.grad.dtype == x.dtype and w.grad.dtype == w.dtype
        expected = chain(x32, w32).numpy()
        scale = np.abs(expected).max()
        np.testing.assert_allclose(out.detach().float().numpy(), expected, atol=tolerance * scale)


def op_module(name: str):
    return importlib.import_module(f"paramtool.nn.functional.{name}")
