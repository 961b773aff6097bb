"""Unmodified PyTorch model files (``import torch``) give PyTorch's exact table, without PyTorch.

Each case of tests/fixtures/torch_models.json (recorded with PyTorch by
tests/fixtures/record_torch_models.py) runs as ``paramtool inspect FILE --json`` and must list
the same names in the same order (non-persistent buffers at their place), with the same shapes,
dtypes, kinds, requires_grad, ties and totals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import invoke, validate

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "data" / "torch_models"
RECORDED = json.loads((HERE / "fixtures" / "torch_models.json").read_text())
CASES = RECORDED["cases"]
TOTALS = ("parameters", "trainable", "frozen", "buffers", "tensors", "names")


def _case_id(case: dict[str, Any]) -> str:
    args = ",".join(f"{k}={v}" for k, v in case["args"].items())
    return f"{case['file']}:{case['entry']}" + (f"({args})" if args else "")


def inspect_json(case: dict[str, Any]) -> dict[str, Any]:
    """``paramtool inspect FILE --json --entry E --arg K=V ...`` for one case."""
    command = ["inspect", CORPUS / case["file"], "--json", "--entry", case["entry"]]
    for key, value in case["args"].items():
        command += ["--arg", f"{key}={value!r}"]
    result = invoke(*command)
    assert result.exit_code == 0, result.stderr or result.output
    return validate(result.stdout, "inspect")


def test_the_corpus_is_large_and_varied() -> None:
    assert len({case["file"] for case in CASES}) >= 20
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_inspect_gives_pytorchs_table(case: dict[str, Any]) -> None:
    data = inspect_json(case)
    got = [
        {
            "name": row["name"],
            "shape": row["shape"],
            "dtype": row["dtype"],
            "kind": row["kind"],
            "trainable": row["trainable"],
            "persistent": row["persistent"],
            "tied_to": row["tied_to"],
        }
        for row in data["tensors"]
    ]
    assert [r["name"] for r in got] == [r["name"] for r in case["rows"]]
    assert got == case["rows"]
    assert data["ties"] == case["ties"]
    assert {key: data["totals"][key] for key in TOTALS} == case["totals"]
