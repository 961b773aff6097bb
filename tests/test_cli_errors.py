"""Failure paths: one ``Error:`` line on stderr, no traceback, exit 1 (2 for usage errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import MODELS, invoke, tiny_lm_state, write_checkpoint

from paramtool.core.device import cuda_available

TINY = MODELS / "tiny_lm.py"


def one_line_error(result, *fragments: str) -> str:  # noqa: ANN001 - click's Result
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""
    return lines[0]


def test_missing_model_file(tmp_path: Path) -> None:
    one_line_error(invoke("inspect", tmp_path / "gone.py"), "gone.py: no such file")


def test_default_target_is_model_py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("inspect")  # a usage error that shows the usage line
    assert result.exit_code == 2 and "Usage: " in result.stderr
    assert "no model.py in this folder" in result.stderr and "Traceback" not in result.output


def test_syntax_error_in_model_file(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text("from paramtool import nn\nmodel = nn.Linear(4,\n")
    one_line_error(invoke("inspect", path), "model.py:2: syntax error")


def test_constructor_that_raises() -> None:
    one_line_error(
        invoke("init", MODELS / "raises.py"), "raises.py:11: ValueError: width 4 is too wide"
    )


def test_no_model_found() -> None:
    one_line_error(
        invoke("export", "x.safetensors", "--model", MODELS / "no_model.py"), "no model found"
    )


def test_several_models() -> None:
    one_line_error(
        invoke("inspect", MODELS / "several.py"), "several models found (encoder, decoder)"
    )


def test_bad_arg_is_a_usage_error() -> None:
    result = invoke("inspect", TINY, "--arg", "oops")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--arg': 'oops': expected KEY=VALUE" in result.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\x05\x00", "t.safetensors"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}", "t.safetensors"),
        (b"\xff\xff\xff\xff\xff\xff\xff\x7f{}", "t.safetensors"),
    ],
)
def test_malformed_checkpoint(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "t.safetensors"
    path.write_bytes(content)
    for command in ("inspect", "stats"):
        one_line_error(invoke(command, path), fragment)
    one_line_error(invoke("load", TINY, path), fragment)


def test_missing_checkpoint(tmp_path: Path) -> None:
    one_line_error(invoke("load", TINY, tmp_path / "nope.safetensors"), "nope.safetensors")


def test_model_options_on_a_checkpoint_are_refused(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "c.safetensors", tiny_lm_state())
    one_line_error(invoke("inspect", path, "--arg", "n=1"), "apply to model files")


def test_bad_rule() -> None:
    one_line_error(invoke("init", TINY, "--rule", "no-equals-sign"), "no-equals-sign")


def test_unknown_scheme() -> None:
    one_line_error(invoke("init", TINY, "--scheme", "bogus"), "bogus")


def test_cuda_without_gpu() -> None:
    if cuda_available():
        pytest.skip("a GPU is present")
    one_line_error(invoke("init", TINY, "--device", "cuda"), "cuda")


def test_bad_dtype() -> None:
    one_line_error(invoke("init", TINY, "--dtype", "float7"), "unknown dtype 'float7'")


@pytest.mark.parametrize("command", [["init", TINY], ["export", "x.safetensors", "--model", TINY]])
@pytest.mark.parametrize("dtype", ["int8", "bool"])
def test_integer_dtype_is_refused_not_a_traceback(command: list, dtype: str) -> None:
    # torch's Module.to(torch.int8) raises TypeError: only floating point dtypes convert a model
    one_line_error(invoke(*command, "--dtype", dtype), f"--dtype {dtype}: only floating-point")


def test_unknown_device_is_named_as_a_device() -> None:
    line = one_line_error(invoke("init", TINY, "--device", "tpu"), "unknown device 'tpu'")
    assert "dtype" not in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = invoke("--debug", "inspect", tmp_path / "gone.py")
    assert result.exit_code == 1
    assert isinstance(result.exception, Exception)
    assert type(result.exception).__name__ == "ModelLoadError"


def test_usage_error_exits_2() -> None:
    result = invoke("inspect", "--no-such-option")
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    assert invoke("export", "out.safetensors", "--max-shard-size", "1GB").exit_code == 2


def test_a_warning_is_one_line_without_source_paths(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text("from paramtool import nn\nmodel = nn.Sequential(nn.Linear(0, 3))\n")
    result = invoke("inspect", path)
    assert result.exit_code == 0, result.output
    # torch.nn.init's own text for a zero-element tensor
    assert result.stderr == "warning: Initializing zero-element tensors is a no-op\n"
