"""Module hooks against PyTorch: the scenarios of fixtures/hook_scenarios.py, run on paramtool,
must log what PyTorch logged (fixtures/torch_hooks.json, recorded by record_torch_hooks.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import paramtool
from paramtool import nn
from paramtool.nn import hooks

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import hook_scenarios  # noqa: E402

EXPECTED = json.loads((FIXTURES / "torch_hooks.json").read_text())["scenarios"]


@pytest.mark.parametrize("name", sorted(hook_scenarios.FORWARD))
def test_forward_hooks_match_pytorch(name: str) -> None:
    assert hook_scenarios.FORWARD[name](paramtool, hooks) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(hook_scenarios.BACKWARD))
def test_backward_hooks_match_pytorch(name: str) -> None:
    assert hook_scenarios.BACKWARD[name](paramtool, hooks) == EXPECTED[name]


def test_no_hooks_calls_forward_directly() -> None:
    class Echo(nn.Module):
        def forward(self, *args, **kwargs):
            return args, kwargs

    assert Echo()(1, b=2) == ((1,), {"b": 2})


def test_handle_outlives_module() -> None:
    module = nn.Module()
    handle = module.register_forward_hook(lambda *a: None)
    del module
    handle.remove()  # the registry is gone: nothing to do, no error


def test_global_hooks_are_removed() -> None:
    seen = []
    handle = hooks.register_module_forward_hook(lambda m, a, out: seen.append(type(m).__name__))
    with handle:
        nn.Identity()(paramtool.ones(1))
    nn.Identity()(paramtool.ones(1))
    assert seen == ["Identity"]


def test_model_files_reach_the_global_hooks_where_torch_keeps_them(tmp_path, capsys) -> None:
    from paramtool.models.loader import load_model

    model_file = tmp_path / "model.py"
    model_file.write_text(
        "import torch\n"
        "import torch.nn.modules.module as module_file\n"
        "seen = []\n"
        "handle = module_file.register_module_forward_hook(\n"
        "    lambda m, a, out: seen.append(type(m).__name__))\n"
        "model = torch.nn.Sequential(torch.nn.Identity())\n"
        "model(torch.ones(1))\n"
        "handle.remove()\n"
        "print(seen)\n"
    )
    load_model(str(model_file))
    captured = capsys.readouterr()
    assert "['Identity', 'Sequential']" in captured.out + captured.err
