"""Autograd's semantics and error texts equal PyTorch's: scenarios in
tests/fixtures/autograd_cases.py, PyTorch's answers recorded in torch_autograd.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import paramtool

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import autograd_cases  # noqa: E402

RECORDED = json.loads(autograd_cases.FILE.read_text())


def _normalise(value: object) -> object:
    """PyTorch's messages name ``torch.Size``; ours name ``paramtool.Size``."""
    return json.loads(json.dumps(value).replace("paramtool.", "torch."))


@pytest.mark.parametrize("name", sorted(autograd_cases.SCENARIOS))
def test_scenario_matches_pytorch(name: str) -> None:
    paramtool.manual_seed(0)
    assert _normalise(autograd_cases.SCENARIOS[name](paramtool)) == RECORDED[name]
