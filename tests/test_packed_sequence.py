"""Packed sequences through the recurrent layers against PyTorch: the scenarios of
fixtures/packed_cases.py run on paramtool must give PyTorch's packed data, unpacked output,
final states, batch sizes, orders and lengths, and every gradient (fixtures recorded by
record_torch_conv.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import recorded_arrays

import paramtool
from paramtool import nn
from paramtool.core import autograd
from paramtool.nn.utils import rnn as packing

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import packed_cases  # noqa: E402

RECORDED = json.loads((FIXTURES / "torch_conv" / "packed.json").read_text())


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return recorded_arrays.load(FIXTURES / "torch_conv" / "packed.npz")


@pytest.mark.parametrize("record", RECORDED, ids=lambda r: r["name"])
def test_packed_run_matches_pytorch(record: dict, arrays: dict) -> None:
    name = record["name"]
    case = packed_cases.CASES[name]
    layer = getattr(nn, case["layer"])(*case["args"], **case["kwargs"])
    layer.load_state_dict(
        {k: paramtool.tensor(arrays[f"{name}/param/{k}"]) for k in record["params"]}
    )
    inputs = [
        paramtool.tensor(arrays[f"{name}/input{j}"], requires_grad=True)
        for j in range(record["inputs"])
    ]
    states = [
        paramtool.tensor(arrays[f"{name}/state{j}"], requires_grad=True)
        for j in range(len(case["states"]))
    ]
    floats, ints = packed_cases.run(paramtool, case, layer, inputs, states)
    assert (len(floats), len(ints)) == (record["floats"], record["ints"])
    for j, out in enumerate(ints):
        np.testing.assert_array_equal(out.numpy(), arrays[f"{name}/int{j}"], err_msg=f"int {j}")
    for j, out in enumerate(floats):
        recorded_arrays.assert_close(out.detach().numpy(), arrays[f"{name}/out{j}"], f"output {j}")
    cotangents = [paramtool.tensor(arrays[f"{name}/cot{j}"]) for j in range(len(floats))]
    autograd.backward(floats, cotangents)
    for j, tensor in enumerate(inputs + states):
        recorded_arrays.assert_close(
            tensor.grad.numpy(), arrays[f"{name}/grad{j}"], f"gradient of input {j}"
        )
    for key, param in layer.named_parameters():
        recorded_arrays.assert_close(
            param.grad.numpy(), arrays[f"{name}/grad/{key}"], f"gradient of {key}"
        )


def test_unsorted_lengths_need_enforce_sorted_false() -> None:
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        packing.pack_padded_sequence(paramtool.zeros(4, 2, 3), [2, 4])


def test_unpack_sequence_round_trip() -> None:
    sequences = [paramtool.randn(n, 2) for n in (3, 1, 4)]
    packed = packing.pack_sequence(sequences, enforce_sorted=False)
    for before, after in zip(sequences, packing.unpack_sequence(packed), strict=True):
        np.testing.assert_array_equal(after.numpy(), before.numpy())
