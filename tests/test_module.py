"""Module: registration, traversal, state_dict, loading and conversion.

The tables, error texts and load results are compared with PyTorch's, recorded by
``tests/fixtures/record_torch_module.py`` (no torch needed here). The tests below the recorded
ones check what PyTorch does not promise but paramtool does: a failed load changes nothing,
ties survive conversion and loading, deferred tensors stay deferred, values depend on names.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
from fixtures.record_torch_module import (
    as_paramtool,
    describe,
    load_recorded,
    run_error_case,
    run_load_case,
    run_source,
)

import paramtool
from paramtool import nn
from paramtool.core.device import cuda_available
from paramtool.errors import DeviceError, DTypeError
from paramtool.nn._loading import _IncompatibleKeys
from paramtool.nn.module import Module, typename

RECORDED = load_recorded()
TABLES = sorted(next(iter(RECORDED["definitions"].values()))["tables"])
#: Error cases of the containers; tests/test_containers.py checks those.
CONTAINER_CASES = (
    "sequential_",
    "module_list_",
    "module_dict_",
    "parameter_list_",
    "parameter_dict_",
)


@functools.cache
def paramtool_tables(definition: str) -> dict:
    return describe(
        run_source(RECORDED["definitions"][definition]["source"], paramtool, nn)["model"]
    )


def build(source: str) -> dict:
    return run_source(source, paramtool, nn)


def expected_error(case: dict) -> dict:
    return {key: as_paramtool(value) for key, value in case.items()}


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("definition", sorted(RECORDED["definitions"]))
def test_tables_match_pytorch(definition: str, table: str) -> None:
    expected = RECORDED["definitions"][definition]["tables"][table]
    if table == "repr":
        expected = as_paramtool(expected)
    assert paramtool_tables(definition)[table] == expected


@pytest.mark.parametrize(
    "case", sorted(c for c in RECORDED["errors"] if not c.startswith(CONTAINER_CASES))
)
def test_error_matches_pytorch(case: str) -> None:
    recorded = RECORDED["errors"][case]
    assert run_error_case(recorded["source"], paramtool, nn) == expected_error(recorded["error"])


@pytest.mark.parametrize("case", sorted(RECORDED["load_state_dict"]))
def test_load_state_dict_matches_pytorch(case: str) -> None:
    expected = RECORDED["load_state_dict"][case]["result"]
    if "error" in expected:
        expected = {"error": expected_error(expected["error"])}
    assert run_load_case(RECORDED["load_state_dict"][case]["source"], paramtool, nn) == expected


@pytest.mark.parametrize("dtype", sorted(RECORDED["type_names"]))
def test_typename_of_tensor_matches_pytorch(dtype: str) -> None:
    tensor = paramtool.zeros(2, dtype=getattr(paramtool, dtype))
    assert typename(tensor) == as_paramtool(RECORDED["type_names"][dtype])


def test_typename_of_other_objects() -> None:
    assert typename is paramtool.typename
    assert typename(3) == "int"
    assert typename(nn.Module()) == "paramtool.nn.module.Module"
    assert typename(Module) == "paramtool.nn.module.Module"


@pytest.mark.parametrize("dtype", sorted(RECORDED["type_names"]))
def test_tensor_type_converts_to_recorded_legacy_names(dtype: str) -> None:
    legacy = as_paramtool(RECORDED["type_names"][dtype])
    source = paramtool.full((3,), 1.0)
    by_name, by_dtype = source.type(legacy), source.type(getattr(paramtool, dtype))
    for converted in (by_name, by_dtype, source.type(legacy.replace("paramtool.", "torch."))):
        assert converted.dtype == getattr(paramtool, dtype)
        assert converted.type() == legacy
    np.testing.assert_array_equal(by_name.numpy(), by_dtype.numpy())


def test_tensor_type_returns_self_when_unchanged_and_rejects_other_strings() -> None:
    tensor = paramtool.zeros(2)
    assert tensor.type(paramtool.float32) is tensor
    assert tensor.type("paramtool.FloatTensor") is tensor
    with pytest.raises(DTypeError, match="invalid type: 'float64'"):
        tensor.type("float64")


# -- load_state_dict: what paramtool adds -------------------------------------------------------


def snapshot(model: Module) -> dict:
    return {
        name: (id(t), t.dtype, np.array(t.numpy(), copy=True))
        for name, t in model.state_dict(keep_vars=True).items()
    }


@pytest.mark.parametrize(
    "case",
    sorted(c for c, r in RECORDED["load_state_dict"].items() if "error" in r["result"]),
)
def test_failed_load_changes_nothing(case: str) -> None:
    namespace = build(RECORDED["load_state_dict"][case]["source"])
    model = namespace["model"].materialize(seed=0)
    state = {
        k: v.clone() if isinstance(v, paramtool.Tensor) else v
        for k, v in namespace["state"].items()
    }
    for value in state.values():
        if isinstance(value, paramtool.Tensor):
            value.fill_(7.0)
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict"):
        model.load_state_dict(state, strict=namespace["strict"])
    after = snapshot(model)
    assert after.keys() == before.keys()
    for name, (ident, dtype, values) in before.items():
        assert after[name][0] == ident and after[name][1] == dtype
        np.testing.assert_array_equal(after[name][2], values)


def test_valid_keys_before_a_size_mismatch_are_not_written() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    model.materialize(seed=0)
    first = model[0].weight.numpy().copy()
    state = {k: paramtool.full(tuple(v.shape), 5.0) for k, v in model.state_dict().items()}
    state["1.bias"] = paramtool.zeros(4)
    with pytest.raises(RuntimeError, match="size mismatch for 1.bias"):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].weight.numpy(), first)


def test_load_copies_into_the_same_parameter_objects() -> None:
    model = nn.Linear(3, 2)
    weight = model.weight
    state = {
        "weight": paramtool.full((2, 3), 0.25, dtype=paramtool.float64),
        "bias": paramtool.ones(2),
    }
    assert repr(model.load_state_dict(state)) == "<All keys matched successfully>"
    assert model.weight is weight and model.weight.dtype == paramtool.float32
    np.testing.assert_array_equal(model.weight.numpy(), np.full((2, 3), 0.25, np.float32))
    state["weight"].fill_(9.0)
    assert float(model.weight.numpy()[0, 0]) == 0.25  # copied, not shared


def test_load_accepts_numpy_arrays_and_keeps_buffer_dtype() -> None:
    recorded = RECORDED["load_state_dict"]["int_buffer_from_float"]["source"]
    model = build(recorded)["model"]
    model.load_state_dict({"count": np.array([1.0, 2.0, 3.0])})
    assert model.count.dtype == paramtool.int64
    assert model.count.tolist() == [1, 2, 3]


def test_tied_parameter_is_loaded_once_with_its_last_value() -> None:
    # PyTorch loads each name in turn, so the last name's value is the one a tie keeps.
    linear = nn.Linear(2, 2)
    model = nn.Sequential(linear, linear)
    state = {
        "0.weight": paramtool.ones(2, 2), "0.bias": paramtool.ones(2),
        "1.weight": paramtool.full((2, 2), 2.0), "1.bias": paramtool.full((2,), 2.0),
    }  # fmt: skip
    model.load_state_dict(state)
    assert model[0].weight is model[1].weight
    assert model[0].weight.tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert model[1].bias.tolist() == [2.0, 2.0]


def test_load_with_assign_takes_the_tensors_and_keeps_ties_and_requires_grad() -> None:
    linear = nn.Linear(2, 2)
    linear.bias.requires_grad_(False)
    model = nn.Sequential(linear, linear)
    state = {k: paramtool.full(tuple(v.shape), 3.0) for k, v in model.state_dict().items()}
    model.load_state_dict(state, assign=True)
    assert isinstance(model[0].weight, nn.Parameter)
    assert model[0].weight is model[1].weight
    assert model[0].weight.shares_storage(state["1.weight"])  # the last name's, as when copying
    assert model[0].weight.requires_grad and not model[0].bias.requires_grad


def test_load_leaves_unloaded_deferred_tensors_deferred() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    result = model.load_state_dict({"0.weight": paramtool.ones(3, 2)}, strict=False)
    assert result.missing_keys == ["0.bias", "1.weight", "1.bias"]
    assert not model[0].weight.is_deferred
    assert model[0].bias.is_deferred and model[1].weight.is_deferred


def test_incompatible_keys_is_a_named_tuple() -> None:
    keys = _IncompatibleKeys(["a"], [])
    missing, unexpected = keys
    assert (missing, unexpected) == (["a"], [])
    assert str(keys) == "_IncompatibleKeys(missing_keys=['a'], unexpected_keys=[])"


# -- state_dict ---------------------------------------------------------------------------------


def test_state_dict_values_share_storage_and_are_not_parameters() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    state = model.state_dict()
    assert type(state["0.weight"]) is paramtool.Tensor
    assert state["0.weight"].shares_storage(model[0].weight)
    state["0.weight"].fill_(4.0)
    assert model[0].weight.tolist() == [[4.0, 4.0], [4.0, 4.0]]
    kept = model.state_dict(keep_vars=True)
    assert kept["0.weight"] is model[0].weight


def test_state_dict_prefix_and_destination() -> None:
    model = nn.Linear(2, 2)
    destination = {"x": 1}
    result = model.state_dict(destination=destination, prefix="enc.")
    assert result is destination
    assert list(result) == ["x", "enc.weight", "enc.bias"]


# -- conversion ---------------------------------------------------------------------------------


def test_apply_converts_each_tensor_once_and_keeps_ties() -> None:
    source = RECORDED["definitions"]["buffer_shared_between_modules"]["source"]
    model = build(source)["model"]
    seen: list[int] = []

    def convert(t: paramtool.Tensor) -> paramtool.Tensor:
        seen.append(id(t))
        return t.to(paramtool.float64)

    model._apply(convert)
    assert len(seen) == len(set(seen)) == 3  # the shared buffer, 2.weight, 2.bias
    assert model[0].table is model[1].table
    assert model[0].table.dtype == paramtool.float64


def test_conversion_keeps_parameter_identity_and_stays_deferred() -> None:
    linear = nn.Linear(3, 3)
    model = nn.Sequential(linear, linear)
    weight = linear.weight
    model.double()
    assert model[0].weight is weight is model[1].weight
    assert weight.dtype == paramtool.float64 and weight.is_deferred
    model.to(paramtool.zeros(1, dtype=paramtool.float16))
    assert weight.dtype == paramtool.float16
    model.to(device="cpu", dtype=paramtool.bfloat16).float()
    assert weight.dtype == paramtool.float32 and weight.is_deferred


def test_converted_values_equal_the_cast_of_the_original() -> None:
    model = nn.Linear(4, 4).materialize(seed=1)
    original = model.weight.numpy().copy()
    model.half()
    np.testing.assert_array_equal(model.weight.numpy(), original.astype(np.float16))


@pytest.mark.skipif(cuda_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match="pip install"):
        nn.Linear(2, 2).cuda()


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs cupy and a CUDA GPU")
def test_cuda_moves_parameters_and_buffers_and_back() -> None:
    model = build(RECORDED["definitions"]["buffers_persistent_and_not"]["source"])["model"]
    model.materialize(seed=0)
    expected = model.linear.weight.numpy().copy()
    model.cuda()
    assert all(t.device.type == "cuda" for t in (*model.parameters(), *model.buffers()))
    model.to("cpu")
    np.testing.assert_array_equal(model.linear.weight.numpy(), expected)


# -- materialize --------------------------------------------------------------------------------


def test_materialize_draws_each_tensor_from_its_canonical_name() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Sequential(nn.Linear(2, 4), shared, shared).materialize(seed=5)
    twin = nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 4))
    for (name, param), twin_param in zip(model.named_parameters(), twin.parameters(), strict=True):
        expected = twin_param.materialize(name=name, seed=5).numpy()
        np.testing.assert_array_equal(param.numpy(), expected, err_msg=name)
    assert model[1].weight is model[2].weight and not model[2].weight.is_deferred


def test_deepcopy_keeps_ties_inside_the_copy() -> None:
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, shared)
    clone = copy.deepcopy(model)
    assert clone[0].weight is clone[1].weight
    assert clone[0].weight is not model[0].weight
    assert [n for n, _ in clone.named_parameters()] == ["0.weight", "0.bias"]


def test_materialize_does_not_depend_on_order() -> None:
    first = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2)).materialize(seed=11)
    second = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))
    for name, param in reversed(list(second.named_parameters())):
        param.materialize(name=name, seed=11)
    for (name, a), (_, b) in zip(first.named_parameters(), second.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    third = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2)).materialize(seed=12)
    assert not np.array_equal(third[0].weight.numpy(), first[0].weight.numpy())


def test_materialize_a_submodule_under_its_name_in_the_model() -> None:
    whole = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2)).materialize(seed=4)
    part = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))
    part[1].materialize(seed=4, prefix="1")
    assert part[0].weight.is_deferred
    np.testing.assert_array_equal(part[1].weight.numpy(), whole[1].weight.numpy())
    np.testing.assert_array_equal(part[1].bias.numpy(), whole[1].bias.numpy())
    alone = nn.Linear(5, 2).materialize(seed=4)  # keyed by "weight": other values
    assert not np.array_equal(alone.weight.numpy(), whole[1].weight.numpy())


# -- attributes, modes, calls -------------------------------------------------------------------


def test_plain_attribute_and_deletion() -> None:
    model = nn.Linear(2, 2)
    model.register_buffer("stat", paramtool.zeros(2), persistent=False)
    model.child = nn.ReLU()
    model.note = "plain"
    assert {"weight", "bias", "stat", "child", "note"} <= set(dir(model))
    for name in ("weight", "stat", "child", "note"):
        delattr(model, name)
        assert not hasattr(model, name)
    assert list(model.state_dict()) == ["bias"]
    assert "stat" not in model._non_persistent_buffers_set


def test_buffer_marker_registers_with_its_persistence() -> None:
    model = nn.Module()
    model.kept = nn.Buffer(paramtool.zeros(2))
    model.hidden = nn.Buffer(paramtool.zeros(2), persistent=False)
    assert [n for n, _ in model.named_buffers()] == ["kept", "hidden"]
    assert list(model.state_dict()) == ["kept"]
    model.hidden = paramtool.ones(2)  # reassigning keeps the buffer non-persistent
    assert list(model.state_dict()) == ["kept"] and model.hidden.tolist() == [1.0, 1.0]


def test_call_dispatches_to_forward_with_arguments() -> None:
    class Scale(nn.Module):
        def forward(self, x: float, *, factor: float = 2.0) -> float:
            return x * factor

    assert Scale()(3.0) == 6.0
    assert Scale()(3.0, factor=3.0) == 9.0


def test_get_submodule_parameter_and_buffer() -> None:
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2)))
    model[0][0].register_buffer("stat", paramtool.zeros(2))
    assert model.get_submodule("") is model
    assert model.get_submodule("0.0") is model[0][0]
    assert model.get_parameter("0.0.weight") is model[0][0].weight
    assert model.get_buffer("0.0.stat") is model[0][0].stat


def test_zero_grad_and_requires_grad() -> None:
    model = nn.Linear(2, 2)
    model.weight.grad = paramtool.ones(2, 2)
    model.zero_grad(set_to_none=False)
    assert model.weight.grad.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    model.zero_grad()
    assert model.weight.grad is None
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())


def test_named_modules_shares_a_memo_and_prefix() -> None:
    shared = nn.ReLU()
    model = nn.Sequential(shared, nn.Sequential(shared))
    memo: set = set()
    assert [n for n, _ in model.named_modules(memo=memo, prefix="net")] == ["net", "net.0", "net.1"]
    assert shared in memo
    assert list(model.named_modules(memo=memo)) == []
