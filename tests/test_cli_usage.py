"""Small things a new user meets: a missing default model.py shows the usage, --scheme help
lists the schemes, and shell completion completes scheme names."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from paramtool.cli import main
from paramtool.nn.init.schemes import scheme_names


@pytest.mark.parametrize("command", ["inspect", "init", "stats"])
def test_missing_default_model_file_shows_the_usage(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 2
    assert f"Usage: main {command} [OPTIONS]" in result.stderr
    assert "no model.py in this folder" in result.stderr and "Traceback" not in result.output


def test_a_named_missing_file_is_one_line_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["inspect", "other.py"])
    assert result.exit_code == 1 and result.stderr.startswith("Error: other.py")


def test_scheme_help_lists_every_scheme() -> None:
    text = " ".join(CliRunner().invoke(main, ["init", "--help"]).output.split())
    for name in scheme_names():
        assert f" {name}," in text or f" {name}." in text, name


def _complete(*words: str) -> list[str]:
    env = {
        "_PARAMTOOL_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(["paramtool", *words]),
        "COMP_CWORD": str(len(words)),
    }
    result = CliRunner().invoke(main, [], env=env, prog_name="paramtool")
    return [line.split(",", 1)[1] for line in result.output.splitlines()]


def test_shell_completion_of_scheme_names() -> None:
    assert _complete("init", "--scheme", "kaiming_") == ["kaiming_normal", "kaiming_uniform"]
    assert "he_uniform" in _complete("export", "out.safetensors", "--scheme", "he")
    assert _complete("init", "--rule", "*.bias=zer") == ["*.bias=zeros"]
    assert "inspect" in _complete("ins")


@pytest.mark.parametrize("bug", [RuntimeError, ValueError, KeyError])
def test_an_internal_bug_keeps_its_traceback(bug: type, monkeypatch: pytest.MonkeyPatch) -> None:
    import paramtool.cli.inspect as command

    def broken(*args: object, **kwargs: object) -> None:
        raise bug("a bug in paramtool")

    monkeypatch.setattr(command, "open_inventory", broken)
    result = CliRunner().invoke(main, ["inspect", "x.safetensors"])
    assert isinstance(result.exception, bug)  # not turned into a one-line user error
    assert "Error: a bug in paramtool" not in result.output


def test_paramtool_errors_and_os_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paramtool.cli.inspect as command
    from paramtool.errors import StateDictError

    for error in (
        StateDictError("Error(s) in loading state_dict for Net:\n\tMissing"),
        OSError(28, "No space left on device"),
    ):

        def broken(*args: object, error: Exception = error, **kwargs: object) -> None:
            raise error

        monkeypatch.setattr(command, "open_inventory", broken)
        result = CliRunner().invoke(main, ["inspect", "x.safetensors"])
        assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
        assert result.stderr.startswith("Error: ")
