"""A model file is Python that paramtool runs; it cannot corrupt output or fake success.

What it prints goes to stderr; ``SystemExit``, ``KeyboardInterrupt`` and any ``BaseException``
become one error naming the file and line (exit 1); cyclic or very deep module trees and a
deeply nested ``--config`` are clear errors, not tracebacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_support import invoke, run

from paramtool.models.structure import MAX_DEPTH


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def one_line_error(result: object, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, result.output  # type: ignore[attr-defined]
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, stderr
    return errors[0]


PRINTING = """\
import torch
import torch.nn as nn

print("building the model")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        print("in __init__")
        self.fc = nn.Linear(2, 2)


def build_model():
    print({"not": "json"})
    return Net()
"""


def test_json_stdout_is_one_document_when_the_file_prints(tmp_path: Path) -> None:
    path = write(tmp_path, "model.py", PRINTING)
    result = run("inspect", path, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert [row["name"] for row in data["tensors"]] == ["fc.weight", "fc.bias"]
    assert "building the model" in result.stderr and "in __init__" in result.stderr


def test_prints_go_to_stderr_in_process_too(tmp_path: Path) -> None:
    result = invoke("inspect", write(tmp_path, "model.py", PRINTING), "--json")
    assert result.exit_code == 0
    json.loads(result.stdout)
    assert "in __init__" in result.stderr


@pytest.mark.parametrize(
    ("body", "line", "text"),
    [
        ("import sys\nsys.exit(0)\n", 2, "called sys.exit(0)"),
        ("import sys\n\nsys.exit(3)\n", 3, "called sys.exit(3)"),
        ("raise KeyboardInterrupt\n", 1, "KeyboardInterrupt"),
        ("class Stop(BaseException):\n    pass\n\nraise Stop('halt')\n", 4, "Stop: halt"),
        ("import os\nraise SystemExit('bye')\n", 2, "called sys.exit('bye')"),
    ],
)
def test_exits_and_base_exceptions_are_one_line_errors(
    tmp_path: Path, body: str, line: int, text: str
) -> None:
    path = write(tmp_path, "model.py", "import torch.nn as nn\nmodel = nn.Linear(2, 2)\n" + body)
    for command in (["inspect", path], ["stats", path], ["init", path]):
        message = one_line_error(invoke(*command))
        assert f"model.py:{line + 2}:" in message and text in message


def test_sys_exit_in_the_builder_names_the_builder(tmp_path: Path) -> None:
    path = write(tmp_path, "model.py", "import sys\n\ndef build_model():\n    sys.exit(0)\n")
    message = one_line_error(invoke("inspect", path))
    assert "model.py:4:" in message and "build_model" in message


def test_export_does_not_succeed_when_the_file_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path, "model.py", "import sys\nimport torch\nsys.exit(0)\n")
    out = tmp_path / "out.safetensors"
    one_line_error(invoke("export", out, "--model", path))
    assert not out.exists()


def test_a_model_deeper_than_the_limit_is_a_clear_error(tmp_path: Path) -> None:
    body = "import torch.nn as nn\nm = nn.Linear(2, 2)\nfor _ in range({n}):\n    m = nn.Sequential(m)\nmodel = m\n"
    shallow = write(tmp_path, "shallow.py", body.format(n=MAX_DEPTH - 2))
    assert invoke("inspect", shallow, "--json").exit_code == 0
    deep = write(tmp_path, "deep.py", body.format(n=1200))
    message = one_line_error(invoke("inspect", deep))
    assert f"nested more than {MAX_DEPTH} levels" in message


@pytest.mark.parametrize(
    "body",
    [
        "m = nn.Sequential(nn.Linear(2, 2))\nm.add_module('me', m)\nmodel = m\n",
        "a = nn.Sequential(nn.ReLU())\nb = nn.Sequential(a)\na.add_module('up', b)\nmodel = b\n",
    ],
)
def test_a_cyclic_model_is_a_clear_error(tmp_path: Path, body: str) -> None:
    path = write(tmp_path, "model.py", "import torch.nn as nn\n" + body)
    assert "form a cycle" in one_line_error(invoke("inspect", path))


def test_a_config_nested_100k_deep_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("[" * 100_000 + "]" * 100_000)
    model = write(tmp_path, "model.py", "import torch\ndef build_model(config):\n    pass\n")
    message = one_line_error(invoke("inspect", model, "--config", config))
    assert "nested too deeply" in message


@pytest.mark.parametrize("arg", ["noequals", "1x=2", "=3", "a.b=1", " =1"])
def test_malformed_arg_is_a_usage_error(tmp_path: Path, arg: str) -> None:
    path = write(tmp_path, "model.py", "import torch\nmodel = torch.nn.Linear(2, 2)\n")
    for command in ("inspect", "init", "stats"):
        result = invoke(command, path, "--arg", arg)
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--arg'" in result.stderr and "Traceback" not in result.output


def test_os_exit_in_a_model_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = write(tmp_path, "model.py", "import os\nimport torch\nos._exit(0)\n")
    assert "model.py:3: the model file called os._exit(0)" in one_line_error(
        invoke("inspect", path)
    )


def test_exit_handlers_and_chdir_of_a_model_file_do_not_outlive_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "model.py",
        """\
        import atexit, os
        import torch.nn as nn
        atexit.register(print, "printed at exit")
        os.chdir(os.path.dirname(os.__file__))
        model = nn.Linear(2, 2)
    """,
    )
    out = tmp_path / "out.safetensors"
    result = run("export", out.name, "--model", path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.exists() and "printed at exit" not in result.stdout + result.stderr
    result = run("inspect", path, "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["tensors"][0]["name"] == "weight"


def test_a_model_file_reading_stdin_does_not_wait(tmp_path: Path) -> None:
    path = write(tmp_path, "model.py", "import torch\nname = input('layer? ')\n")
    command = [sys.executable, "-m", "paramtool", "inspect", str(path)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(command, input="x\n", capture_output=True, text=True, env=env,
                          timeout=60)  # fmt: skip
    assert done.returncode == 1 and "model.py:2: EOFError" in done.stderr


def test_a_fifo_named_as_a_model_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "model.py"
    os.mkfifo(fifo)
    message = one_line_error(invoke("inspect", fifo))
    assert "is not a regular file" in message


@pytest.mark.parametrize(
    "arg", ["x=" + "[" * 100_000, "x=__import__('os').system('touch ran')", "x=(3, 4", "x='a"]
)
def test_an_arg_that_looks_like_code_is_a_usage_error_and_never_runs(
    tmp_path: Path, arg: str
) -> None:
    path = write(tmp_path, "model.py", "import torch\nmodel = torch.nn.Linear(2, 2)\n")
    result = invoke("inspect", path, "--arg", arg)
    assert result.exit_code == 2 and "not a Python literal" in result.stderr
    assert not (tmp_path / "ran").exists()


def test_plain_words_stay_strings() -> None:
    from paramtool.models.loader import parse_assignments

    assert parse_assignments(["act=gelu", "size=70b", "kind=gpt-nano", "dims=(3, 4)"]) == {
        "act": "gelu", "size": "70b", "kind": "gpt-nano", "dims": (3, 4)
    }  # fmt: skip


def test_escape_sequences_a_model_file_prints_reach_stderr_as_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "model.py",
        """\
        import torch.nn as nn
        print("\\x1b[31mred\\x07\\tok")
        model = nn.Linear(2, 2)
    """,
    )
    result = run("inspect", path, "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["kind"] == "model"
    assert "\\x1b[31mred\\x07\tok" in result.stderr and "\x1b" not in result.stderr


def run_limited(*args: object, limit: float = 20) -> subprocess.CompletedProcess[str]:
    """``python -m paramtool ARGS`` that must end within ``limit`` seconds."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "paramtool", *(str(a) for a in args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=limit)


NET = """\
import os, sys, threading, time
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
"""


def test_a_thread_the_file_starts_neither_holds_the_command_nor_writes_to_stdout(
    tmp_path: Path,
) -> None:
    # A non-daemon thread printing forever: `python model.py` would never end.
    body = NET + "\n\ndef tick():\n    while True:\n        print('tick', flush=True)\n        time.sleep(0.002)\n\n\nthreading.Thread(target=tick).start()\n"  # fmt: skip
    path = write(tmp_path, "model.py", body)
    for command in (["inspect", path, "--json"], ["export", tmp_path / "o.safetensors", "--model", path, "--json"]):  # fmt: skip
        result = run_limited(*command)
        assert result.returncode == 0, result.stderr[-2000:]
        json.loads(result.stdout)  # no 'tick' in it, though the thread printed all along
        assert "tick" in result.stderr and "Traceback" not in result.stderr


def test_what_the_file_writes_to_descriptor_1_or_a_forked_child_never_reaches_stdout(
    tmp_path: Path,
) -> None:
    body = NET + "\n\nos.write(1, b'raw write\\n')\nif os.fork() == 0:\n    print('in the child')\n"
    result = run_limited("inspect", write(tmp_path, "model.py", body), "--json")
    assert result.returncode == 0, result.stderr
    assert [row["name"] for row in json.loads(result.stdout)["tensors"]] == ["fc.weight", "fc.bias"]  # fmt: skip
    assert "raw write" in result.stderr and result.stderr.count("in the child") == 1


@pytest.mark.parametrize("fd", [1, 2])
def test_descriptors_the_file_closes_are_put_back(tmp_path: Path, fd: int) -> None:
    path = write(tmp_path, "model.py", NET + f"\n\nos.close({fd})\n")
    result = run_limited("export", tmp_path / "out.safetensors", "--model", path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files"] and "wrote" not in result.stdout


@pytest.mark.parametrize(
    ("method", "command"),
    [
        (
            "def forward(self, x):\n        print('forward ran')\n        sys.exit(0)",
            ["check", "--input", "3,2"],
        ),  # fmt: skip
        ("def forward(self, x):\n        raise GeneratorExit", ["check", "--input", "3,2"]),
        ("def forward(self, x):\n        os._exit(0)", ["check", "--input", "3,2"]),
        ("def example_input(self):\n        sys.exit(0)", ["check"]),
        (
            "def example_input(self):\n        import torch\n        return torch.randn(4, 2)\n\n    def forward(self, x):\n        sys.exit(0)",
            ["init", "--scheme", "lsuv"],
        ),  # fmt: skip
    ],
)
def test_model_code_run_after_loading_cannot_fake_success(
    tmp_path: Path, method: str, command: list[str]
) -> None:
    path = write(tmp_path, "model.py", NET + "\n    " + method + "\n")
    result = run_limited(command[0], path, *command[1:], "--json")
    assert result.returncode == 1 and result.stdout == "", result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert errors[0].startswith(f"Error: {path}:") and "in forward()" in errors[0] or "in example_input()" in errors[0]  # fmt: skip


def test_prints_of_forward_go_to_stderr(tmp_path: Path) -> None:
    method = "def forward(self, x):\n        print('forward ran')\n        return self.fc(x)"
    result = run_limited("check", write(tmp_path, "model.py", NET + "\n    " + method + "\n"), "--input", "3,2", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)
    assert "forward ran" in result.stderr


def test_signals_alarms_and_builtins_the_file_changes_are_put_back(tmp_path: Path) -> None:
    import builtins
    import signal

    from paramtool.models.loader import load_model

    body = NET + "\n\nimport builtins, signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nsignal.alarm(30)\ndel builtins.print\n"  # fmt: skip
    before, timer = signal.getsignal(signal.SIGINT), signal.getitimer(signal.ITIMER_REAL)[0]
    load_model(write(tmp_path, "model.py", body))
    assert signal.getsignal(signal.SIGINT) is before
    left = signal.getitimer(signal.ITIMER_REAL)[0]  # the test runner's own alarm, or none
    assert (left == 0) if timer == 0 else (timer - 5 < left <= timer), (timer, left)
    assert builtins.print is print


@pytest.mark.parametrize("command", ["export", "init"])
def test_a_fifo_as_the_model_of_a_writing_command_is_refused_at_once(
    tmp_path: Path, command: str
) -> None:
    fifo = tmp_path / "model.py"
    os.mkfifo(fifo)
    args = ["export", tmp_path / "o.safetensors", "--model", fifo] if command == "export" else ["init", fifo]  # fmt: skip
    result = run_limited(*args, limit=10)
    assert result.returncode == 1 and "is not a regular file" in result.stderr
