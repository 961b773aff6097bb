"""Values and gradients of tensor ops, activations, attention, norms and losses against
PyTorch's, recorded by tests/fixtures/record_torch_functional.py (cases in functional_cases)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import paramtool
from paramtool.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from functional_cases import CASES, cases_file, outputs_of, run_case  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5
PARAMS = [(group, name) for group, cases in CASES.items() for name in cases]


def _saved(group: str) -> dict[str, np.ndarray]:
    with np.load(cases_file(group)) as data:
        return {k: data[k] for k in data.files}


SAVED = {group: _saved(group) for group in CASES}


def _close(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        scale = max(1.0, float(np.abs(expected).max(initial=0)))
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL * scale, err_msg=what)


@pytest.mark.parametrize(("group", "name"), PARAMS, ids=[f"{g}-{n}" for g, n in PARAMS])
def test_matches_pytorch(group: str, name: str) -> None:
    saved = SAVED[group]
    spec = CASES[group][name]
    arrays = {k: saved[f"{name}/in:{k}"] for k in spec.inputs}
    prefix = f"{name}/param:"
    params = {k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)} or None
    paramtool.manual_seed(0)
    result, tensors, module = run_case(paramtool, F, group, name, spec, arrays, params)
    outs = outputs_of(result)
    expected_count = sum(1 for k in saved if k.startswith(f"{name}/out"))
    assert len(outs) == expected_count
    loss = None
    for i, out in enumerate(outs):
        _close(np.asarray(out.detach().numpy()), saved[f"{name}/out{i}"], f"output {i}")
        cot = saved.get(f"{name}/cot{i}")
        if cot is not None:
            assert out.requires_grad, f"output {i} should require grad"
            term = (out * paramtool.tensor(cot)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    for key, tensor in tensors.items():
        expected = saved.get(f"{name}/grad:{key}")
        if expected is not None:
            assert tensor.grad is not None, f"no gradient for input {key}"
            _close(tensor.grad.numpy(), expected, f"gradient of input {key}")
    if module is not None:
        for key, param in module.named_parameters():
            expected = saved.get(f"{name}/pgrad:{key}")
            if expected is not None:
                assert param.grad is not None, f"no gradient for parameter {key}"
                _close(param.grad.numpy(), expected, f"gradient of parameter {key}")


def test_every_torch_functional_name_exists() -> None:
    import json  # noqa: PLC0415

    names = json.loads(
        (Path(__file__).parent / "fixtures" / "torch_functional_names.json").read_text()
    )
    missing = [n for n in names["functions"] if not callable(getattr(F, n, None))]
    assert missing == []
