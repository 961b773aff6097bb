"""Every command through a real ``python -m paramtool`` process, and the design-card commands."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_support import MODELS, run, tiny_lm_state, validate, write_checkpoint
from safetensors.numpy import load_file


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder holding ``model.py`` (the tiny LM) and a matching checkpoint."""
    shutil.copy(MODELS / "tiny_lm.py", tmp_path / "model.py")
    write_checkpoint(
        tmp_path / "ck.safetensors", tiny_lm_state(), **{"head.weight": "embed.weight"}
    )
    return tmp_path


def test_design_card_commands_verbatim(folder: Path) -> None:
    inspect = run("inspect", "model.py", cwd=folder)
    assert inspect.returncode == 0, inspect.stderr
    assert "parameters: 1,048 (trainable 1,016, frozen 32)" in inspect.stdout
    init = run("init", "--scheme", "kaiming", cwd=folder)
    assert init.returncode == 0, init.stderr
    assert "layers.0.attn.weight" in init.stdout
    export = run("export", "state.safetensors", cwd=folder)
    assert export.returncode == 0, export.stderr
    assert export.stdout == "" and "wrote state.safetensors" in export.stderr
    assert "layers.2.proj.weight" in load_file(folder / "state.safetensors")


def test_json_commands(folder: Path) -> None:
    assert (
        validate(run("inspect", "--json", "--tree", cwd=folder).stdout, "inspect")["kind"]
        == "model"
    )
    assert validate(run("stats", "ck.safetensors", "--json", cwd=folder).stdout, "stats")["stats"]
    assert validate(run("load", "model.py", "ck.safetensors", "--json", cwd=folder).stdout, "load")[
        "ok"
    ]
    same = run("diff", "ck.safetensors", "ck.safetensors", "--json", cwd=folder)
    assert same.returncode == 0 and validate(same.stdout, "diff")["same"]
    export = run("export", "out", "--max-shard-size", "2kB", "--json", cwd=folder)
    assert len(validate(export.stdout, "export")["files"]) > 2


def test_failures_exit_1_with_one_line(folder: Path) -> None:
    del_state = tiny_lm_state()
    del del_state["pos"]
    write_checkpoint(folder / "bad.safetensors", del_state)
    for args in (
        ["load", "model.py", "bad.safetensors"],
        ["inspect", "missing.py"],
        ["init", "--device", "cuda"],
    ):
        result = run(*args, cwd=folder)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert "missing (1):\n  pos\n" in run("load", "model.py", "bad.safetensors", cwd=folder).stdout
    assert run("inspect", "--bogus", cwd=folder).returncode == 2
