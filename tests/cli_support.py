"""Helpers shared by the CLI tests: invoking commands and checking --json against the schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
from click.testing import CliRunner, Result
from safetensors.numpy import save_file

from paramtool.cli import main

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "data" / "models"
SCHEMA = ROOT / "paramtool" / "cli" / "schema.json"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``paramtool ARGS`` in-process (stdout and stderr kept apart)."""
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m paramtool ARGS`` in a real subprocess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "paramtool", *(str(a) for a in args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@cache
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())


def validate(text: str, command: str) -> dict[str, Any]:
    """Parse a command's --json output and validate it against the documented schema."""
    data = json.loads(text)
    schema = {**_schema(), "$ref": f"#/$defs/{command}"}
    jsonschema.Draft202012Validator(schema).validate(data)
    return data


def write_checkpoint(path: Path, tensors: dict[str, np.ndarray], **metadata: str) -> Path:
    """A checkpoint written by the reference safetensors library."""
    save_file(tensors, str(path), metadata=metadata or None)
    return path


def tiny_lm_state(seed: int = 0, n_layer: int = 3) -> dict[str, np.ndarray]:
    """Random values for every persistent tensor of tests/data/models/tiny_lm.py, tied head dropped."""
    rng = np.random.default_rng(seed)
    shapes = {"pos": (1, 4, 8), "embed.weight": (16, 8)}
    for i in range(n_layer):
        shapes |= {
            f"layers.{i}.norm.weight": (8,),
            f"layers.{i}.norm.bias": (8,),
            f"layers.{i}.attn.weight": (24, 8),
            f"layers.{i}.attn.bias": (24,),
            f"layers.{i}.proj.weight": (8, 8),
        }
    state = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    state["step"] = np.array(7, dtype=np.int64)
    return state
