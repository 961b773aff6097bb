"""The tutorials' code about torch.nn.Parameter runs unmodified as ``import torch`` model files
and prints what it prints under PyTorch (recorded by tests/fixtures/record_torch_models.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from paramtool import nn
from paramtool.models.loader import load_model

HERE = Path(__file__).resolve().parent
TUTORIALS = HERE / "data" / "torch_tutorials"
PRINTED = json.loads((HERE / "fixtures" / "torch_models.json").read_text())["tutorials"]


def test_every_tutorial_file_is_recorded() -> None:
    assert sorted(PRINTED) == sorted(p.name for p in TUTORIALS.glob("*.py"))


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_tutorial_prints_what_pytorch_prints(name: str) -> None:
    printed = io.StringIO()
    model = load_model(TUTORIALS / name, output=printed)
    assert isinstance(model, nn.Module)
    # paramtool's own messages name its types as paramtool.X where PyTorch's say torch.X
    assert printed.getvalue().replace("paramtool.", "torch.") == PRINTED[name]
