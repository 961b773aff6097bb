"""One load-matching routine: ``load_into`` (a real load) and ``paramtool load``'s header check
agree on every case, and both agree with PyTorch's rules where PyTorch has one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from paramtool import nn, report
from paramtool.checkpoint import load_into
from paramtool.errors import ParamtoolError, StateDictError
from paramtool.nn.state_match import Found, StateLayout, match_state


class TiedNet(nn.Module):
    """An embedding tied to the output head, a batch norm and a plain linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.norm = nn.BatchNorm1d(4)
        self.proj = nn.Linear(4, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight


def _full_state(model: nn.Module) -> dict[str, np.ndarray]:
    """Every stored name of ``model`` (aliases of a tie left out), filled with distinct values."""
    rng = np.random.default_rng(0)
    state = {}
    seen: set[int] = set()
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        state[name] = rng.normal(size=tuple(tensor.shape)).astype(np.dtype(tensor.dtype))
    return state


def _drop(name: str) -> Callable[[dict], dict]:
    return lambda state: {k: v for k, v in state.items() if k != name}


def _add(name: str, value: np.ndarray) -> Callable[[dict], dict]:
    return lambda state: {**state, name: value}


def _cast(name: str, dtype: type) -> Callable[[dict], dict]:
    return lambda state: {**state, name: state[name].astype(dtype)}


#: case -> (how the checkpoint differs from the model's own state, safetensors metadata)
CASES: dict[str, tuple[Callable[[dict], dict], dict[str, str] | None]] = {
    "exact": (lambda s: s, {"head.weight": "embed.weight"}),
    "tie_filled_without_metadata": (lambda s: s, None),
    "missing": (_drop("proj.bias"), None),
    "unexpected": (_add("proj.scale", np.ones(4, np.float32)), None),
    "unexpected_under_parameter": (_add("proj.weight.extra", np.ones(1, np.float32)), None),
    "size_mismatch": (_add("proj.weight", np.ones((4, 3), np.float32)), None),
    "no_num_batches_tracked": (_drop("norm.num_batches_tracked"), None),
    "no_running_mean": (_drop("norm.running_mean"), None),
    "dtype_cast": (_cast("proj.weight", np.float16), None),
    "int_buffer_from_float": (_cast("norm.num_batches_tracked", np.float32), None),
    "scalar_as_vector": (
        lambda s: {**s, "norm.num_batches_tracked": np.array([7], np.int64)},
        None,
    ),
}


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("case", sorted(CASES))
def test_load_into_and_load_check_agree(case: str, strict: bool, tmp_path: Path) -> None:
    change, metadata = CASES[case]
    model = TiedNet()
    state = change(_full_state(model))
    path = tmp_path / "ck.safetensors"
    save_file(state, path, metadata=metadata)
    check = report.check_load(report.from_module(model), report.open_inventory(path))
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    try:
        result = load_into(model, path, strict=strict)
    except StateDictError as exc:
        assert not check.ok(strict), check.to_dict(strict)
        names = [m.name for m in check.shape_mismatches]
        names += check.missing + check.unexpected if strict else []
        assert names and all(name in str(exc) for name in names)
        after = model.state_dict()
        assert all(np.array_equal(before[k], after[k].numpy()) for k in before)  # unchanged
        return
    assert check.ok(strict), check.to_dict(strict)
    assert (result.missing_keys, result.unexpected_keys) == (check.missing, check.unexpected)
    for name, value in state.items():
        if name in dict(model.state_dict()) and name not in check.unexpected:
            loaded = model.state_dict()[name].numpy().reshape(value.shape)
            np.testing.assert_array_equal(loaded, value.astype(loaded.dtype))


def test_cases_cover_each_outcome(tmp_path: Path) -> None:
    """The table holds a success, a strict-only failure and a failure either way."""
    outcomes = set()
    for case, (change, metadata) in CASES.items():
        model = TiedNet()
        path = tmp_path / f"{case}.safetensors"
        save_file(change(_full_state(model)), path, metadata=metadata)
        check = report.check_load(report.from_module(model), report.open_inventory(path))
        outcomes.add((check.ok(True), check.ok(False)))
    assert outcomes == {(True, True), (False, True), (False, False)}


def test_optional_num_batches_tracked_loads_and_checks_ok(tmp_path: Path) -> None:
    model = TiedNet()
    path = tmp_path / "old.safetensors"
    save_file(_drop("norm.num_batches_tracked")(_full_state(model)), path)
    check = report.check_load(report.from_module(model), report.open_inventory(path))
    assert check.ok(strict=True) and check.missing == []
    assert load_into(model, path).missing_keys == []


def test_tie_filled_from_stored_name_is_reported(tmp_path: Path) -> None:
    model = TiedNet()
    path = tmp_path / "hf.safetensors"
    save_file(_full_state(model), path)  # stores embed.weight only, no metadata
    check = report.check_load(report.from_module(model), report.open_inventory(path))
    assert check.filled == {"head.weight": "embed.weight"}
    assert check.ties_restored == [["embed.weight", "head.weight"]]


def test_dtype_casts_are_listed_not_failures(tmp_path: Path) -> None:
    model = TiedNet()
    path = tmp_path / "half.safetensors"
    save_file(_cast("proj.weight", np.float16)(_full_state(model)), path)
    check = report.check_load(report.from_module(model), report.open_inventory(path))
    assert [(m.name, m.expected, m.found) for m in check.dtype_mismatches] == [
        ("proj.weight", "float32", "float16")
    ]
    assert check.ok(strict=True)


def test_unexpected_keys_in_pytorch_order() -> None:
    """PyTorch reports an unexpected key at the deepest module holding it, modules in load
    order: a root-level extra name comes before a child's even when stored after it."""
    layout = StateLayout.from_module(TiedNet())
    found = {slot.name: Found(slot.shape, slot.dtype) for slot in layout.slots}
    found = {"proj.extra": Found((1,), "float32"), **found, "extra": Found((1,), "float32")}
    assert match_state(layout, found).unexpected == ["extra", "proj.extra"]


def test_state_dict_error_is_a_runtime_error_and_paramtool_error() -> None:
    model = nn.Linear(2, 2)
    with pytest.raises(StateDictError) as info:
        model.load_state_dict({"weight": np.zeros((2, 2), np.float32)})
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ParamtoolError)
    assert 'Missing key(s) in state_dict: "bias".' in str(info.value)


def test_a_module_containing_itself_is_an_error_not_a_hang() -> None:
    outer = nn.Sequential(nn.Linear(2, 2))
    outer._modules["again"] = outer  # bypasses registration checks, as a bad model file may
    with pytest.raises(StateDictError, match="again contains itself"):
        outer.load_state_dict({})


def test_a_very_deep_model_loads_without_recursion() -> None:
    model = inner = nn.Sequential()
    for _ in range(3000):
        child = nn.Sequential()
        inner.add_module("0", child)
        inner = child
    inner.add_module("0", nn.Linear(1, 1))
    layout = StateLayout.from_module(model)
    assert [s.name.count(".") for s in layout.slots] == [3001, 3001]
    found = {slot.name: Found(slot.shape, slot.dtype) for slot in layout.slots}
    assert match_state(layout, found).ok()
