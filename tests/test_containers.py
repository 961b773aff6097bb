"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict.

Their parameter tables and reprs are compared with PyTorch's in tests/test_module.py (the
container definitions of the recorded fixture); here: their error texts, recorded from PyTorch,
and their list/dict behaviour.
"""

from __future__ import annotations

from collections import OrderedDict

import pytest
from fixtures.record_torch_module import as_paramtool, load_recorded, run_error_case

import paramtool
from paramtool import nn

RECORDED = load_recorded()
CONTAINER_CASES = (
    "sequential_",
    "module_list_",
    "module_dict_",
    "parameter_list_",
    "parameter_dict_",
)


@pytest.mark.parametrize(
    "case", sorted(c for c in RECORDED["errors"] if c.startswith(CONTAINER_CASES))
)
def test_error_matches_pytorch(case: str) -> None:
    recorded = RECORDED["errors"][case]
    expected = {key: as_paramtool(value) for key, value in recorded["error"].items()}
    assert run_error_case(recorded["source"], paramtool, nn) == expected


class Add(nn.Module):
    """Adds a constant: enough to see the order in which a Sequential calls its modules."""

    def __init__(self, amount: int) -> None:
        super().__init__()
        self.amount = amount

    def forward(self, x: int) -> int:
        return x * 10 + self.amount


# -- Sequential ---------------------------------------------------------------------------------


def test_sequential_forward_chains_in_order() -> None:
    assert nn.Sequential(Add(1), Add(2), Add(3))(0) == 123
    assert nn.Sequential()(5) == 5


def test_sequential_indexing_slicing_and_iteration() -> None:
    a, b, c = Add(1), Add(2), Add(3)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c and seq[-3] is a
    part = seq[1:]
    assert type(part) is nn.Sequential and list(part) == [b, c]
    assert list(part._modules) == ["1", "2"]  # a slice keeps the original names, as in PyTorch
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]


def test_sequential_ordered_dict_keeps_names() -> None:
    seq = nn.Sequential(OrderedDict([("first", Add(1)), ("second", Add(2))]))
    assert seq.first is seq[0] and seq.second is seq[1]
    assert seq(0) == 12


def test_sequential_edits_renumber() -> None:
    a, b, c, d = Add(1), Add(2), Add(3), Add(4)
    seq = nn.Sequential(a, b)
    seq.append(c).insert(0, d)
    assert list(seq) == [d, a, b, c]
    assert seq.pop(1) is a
    assert list(seq._modules) == ["0", "1", "2"] and list(seq) == [d, b, c]
    del seq[::2]
    assert list(seq) == [b] and list(seq._modules) == ["0"]
    seq[0] = a
    assert list(seq) == [a]
    joined = seq + nn.Sequential(b)
    assert list(joined) == [a, b] and list(seq) == [a]
    seq += nn.Sequential(c)
    assert list(seq) == [a, c]
    assert "0" not in dir(seq) and "append" in dir(seq)


# -- ModuleList and ModuleDict ------------------------------------------------------------------


def test_module_list_behaves_like_a_list() -> None:
    a, b, c = Add(1), Add(2), Add(3)
    layers = nn.ModuleList([a, b])
    layers += [c]
    assert len(layers) == 3 and list(layers) == [a, b, c]
    assert layers[-1] is c
    assert type(layers[:2]) is nn.ModuleList and list(layers[:2]) == [a, b]
    layers.insert(1, c)
    assert list(layers) == [a, c, b, c]
    assert layers.pop(-1) is c and list(layers) == [a, c, b]
    layers[0] = b
    assert list(layers) == [b, c, b]
    assert [n for n, _ in layers.named_children()] == ["0", "1"]  # a repeated module once
    assert list((layers + [a])._modules) == ["0", "1", "2", "3"]


def test_module_dict_behaves_like_a_dict() -> None:
    a, b = Add(1), Add(2)
    modules = nn.ModuleDict({"b": b, "a": a})
    assert list(modules) == ["b", "a"]  # insertion order, not sorted
    assert list(modules.keys()) == ["b", "a"] and list(modules.values()) == [b, a]
    assert list(modules.items()) == [("b", b), ("a", a)]
    assert "a" in modules and "c" not in modules and len(modules) == 2
    modules.update(nn.ModuleDict({"c": a}))
    assert modules["c"] is a and modules.c is a
    assert modules.pop("b") is b and list(modules) == ["a", "c"]
    modules.clear()
    assert len(modules) == 0 and list(modules.named_children()) == []


# -- ParameterList and ParameterDict ------------------------------------------------------------


def test_parameter_list_wraps_tensors_and_registers_them() -> None:
    kept = nn.Parameter(paramtool.zeros(2), requires_grad=False)
    params = nn.ParameterList([kept, paramtool.ones(3)])
    assert len(params) == 2 and params[0] is kept
    assert type(params[1]) is nn.Parameter and params[1].requires_grad
    params.append("not a tensor")
    assert params[-1] == "not a tensor"
    assert [n for n, _ in params.named_parameters()] == ["0", "1"]
    assert type(params[:2]) is nn.ParameterList and params[:2][0] is kept
    assert "(2): Object of type: str" in repr(params)


def test_parameter_dict_behaves_like_a_dict() -> None:
    params = nn.ParameterDict({"b": paramtool.zeros(1), "a": paramtool.zeros(2)})
    assert list(params) == ["a", "b"]  # a plain dict is added in sorted order
    assert list(reversed(params)) == ["b", "a"]
    assert params.get("missing") is None and "a" in params
    default = params.setdefault("c", paramtool.ones(1))
    assert type(default) is nn.Parameter and params["c"] is default
    copied = params.copy()
    assert copied["a"] is params["a"] and list(copied) == ["a", "b", "c"]
    key, value = params.popitem()
    assert key == "c" and value is default and list(params) == ["a", "b"]
    merged = params | nn.ParameterDict({"z": paramtool.zeros(1)})
    assert list(merged) == ["a", "b", "z"] and list(params) == ["a", "b"]
    params |= merged
    assert list(params) == ["a", "b", "z"]
    assert list(params.fromkeys(["x", "y"])) == ["x", "y"]
    assert params.pop("a") is not None and [n for n, _ in params.named_parameters()] == ["b", "z"]
    params.clear()
    assert len(params) == 0 and list(params.parameters()) == []
