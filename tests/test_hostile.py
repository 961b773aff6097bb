"""Hostile input through the real CLI: every case ends in exit 0 with the right result, or in one
message with exit 1 (a usage error: exit 2, its last line the message), within 10 s, with no
traceback, no control character from a name on the terminal, no byte of a file outside the
checkpoint folder printed, no code run from a checkpoint and no temporary file left behind.

The cases run as subprocesses, several at a time, once per module; each test checks the outcome
of its case. Crashes and full disks during sharded writes are in test_export_atomic.py.
"""

from __future__ import annotations

import json
import os
import pickle
import pty
import re
import stat
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.cli_support import ROOT
from tests.torch_files import Storage, Tensor, tensor, write_zip

#: Longest a case may run (the machine may be busy: start-up alone takes about a second).
LIMIT = 10.0
#: Control characters (C0 but tab and newline, DEL, C1): none may reach the output.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
#: The first bytes of a file outside every checkpoint folder; never printed.
SECRET = b"SECRET-BYTES-never-printed\n" + b"x" * 64
MARKER = "ran.txt"


@dataclass(frozen=True)
class Outcome:
    """What one command did."""

    args: tuple[str, ...]
    code: int | None  # None: still running after LIMIT
    out: str
    err: str


def _run(folder: Path, args: tuple[str, ...], tty: bool = False) -> Outcome:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    command = [sys.executable, "-m", "paramtool", *args]
    if tty:
        return _run_on_terminal(folder, command, env, args)
    try:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=LIMIT)  # fmt: skip
    except subprocess.TimeoutExpired:
        return Outcome(args, None, "", "")
    decode = lambda b: b.decode("utf-8", "replace")  # noqa: E731
    return Outcome(args, done.returncode, decode(done.stdout), decode(done.stderr))


def _run_on_terminal(folder: Path, command: list[str], env: dict[str, str], args: tuple[str, ...]) -> Outcome:  # fmt: skip
    """Run with stdout on a pseudo-terminal (rich styles what a terminal gets)."""
    main, secondary = pty.openpty()
    process = subprocess.Popen(command, cwd=folder, env={**env, "TERM": "xterm-256color"}, stdout=secondary, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)  # fmt: skip
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    try:
        code = process.wait(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        return Outcome(args, None, "", "")
    err = process.stderr.read().decode("utf-8", "replace")  # type: ignore[union-attr]
    # The terminal's own sequences (styles) are allowed; a name's raw ESC never is: styles are
    # removed before the check.
    out = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode("utf-8", "replace"))
    return Outcome(args, code, out.replace("\r\n", "\n"), err)


def safetensors_raw(path: Path, header: bytes | dict, data: bytes = b"", length: int | None = None) -> None:  # fmt: skip
    """A safetensors file with any header text and any declared header length."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


class RunsCode:
    """Unpickling this would create the marker file (a checkpoint must never run it)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {MARKER}",))


def build_inputs(folder: Path) -> None:
    """Write every hostile input of the cases into ``folder``."""
    save_file({"a": np.ones(2, np.float32)}, str(folder / "good.safetensors"))
    (folder / "secret.txt").write_bytes(SECRET)
    bad = {
        "empty": b"",
        "four_bytes": b"\x01\x02\x03\x04",
    }
    for name, raw in bad.items():
        (folder / f"{name}.safetensors").write_bytes(raw)
    safetensors_raw(folder / "huge_length.safetensors", b"{}", length=2**63 - 1)
    safetensors_raw(folder / "not_json.safetensors", b"{not json")
    safetensors_raw(folder / "deep_header.safetensors", b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    safetensors_raw(folder / "bad_dtype.safetensors", {"a": {**F32, "dtype": "F99"}}, b"\0" * 8)
    safetensors_raw(folder / "negative_shape.safetensors", {"a": {**F32, "shape": [-2]}}, b"\0" * 8)
    safetensors_raw(folder / "past_end.safetensors", {"a": {**F32, "data_offsets": [0, 8000]}}, b"\0" * 8)  # fmt: skip
    safetensors_raw(folder / "huge_shape.safetensors", {"a": {**F32, "shape": [2**62, 2**62]}}, b"\0" * 8)  # fmt: skip
    safetensors_raw(folder / "bad_utf8.safetensors", b'{"\xff":' + json.dumps(F32).encode() + b"}", b"\0" * 8)  # fmt: skip
    safetensors_raw(folder / "truncated.safetensors", {"a": F32}, b"\0" * 3)
    overlap = {"a": F32, "b": {**F32, "data_offsets": [4, 12]}}
    safetensors_raw(folder / "overlap.safetensors", overlap, b"\0" * 12)
    names = {"markup_close": "[/x]", "markup_bold": "[bold]w[/bold]", "escape": "\x1b[31mred", "newline": "a\nb", "title": "\x1b]0;owned\x07t"}  # fmt: skip
    for tag, name in names.items():
        state = {name: np.ones(2, np.float32), "[link=file:///x]p[/link]": np.zeros(1, np.float32)}
        save_file(
            state, str(folder / f"name_{tag}.safetensors"), metadata={"k\x1b[2J": "v\x1b[31m"}
        )
        save_file(
            {**state, name: np.zeros(2, np.float32)}, str(folder / f"name_{tag}_b.safetensors")
        )
    os.mkfifo(folder / "fifo.safetensors")
    os.mkfifo(folder / "fifo.json")
    (folder / "a_folder.safetensors").mkdir()
    (folder / "loop.safetensors").symlink_to(folder / "loop.safetensors")
    (folder / "uni ñ 😀.safetensors").write_bytes((folder / "good.safetensors").read_bytes())
    (folder / "new\nline.safetensors").write_bytes((folder / "good.safetensors").read_bytes())
    _sharded(folder)
    _pickles(folder)
    _model_files(folder)
    (folder / "deep_config.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)


def _index(folder: Path, weight_map: object, text: str | None = None) -> Path:
    folder.mkdir()
    index = text if text is not None else json.dumps({"metadata": {}, "weight_map": weight_map})
    (folder / "model.safetensors.index.json").write_text(index)
    return folder


def _sharded(folder: Path) -> None:
    outside = folder / "secret.txt"
    _index(folder / "shard_escapes", {"a": "../secret.txt"})
    _index(folder / "shard_absolute", {"a": str(outside)})
    link = _index(folder / "shard_link_out", {"a": "s.safetensors"})
    (link / "s.safetensors").symlink_to(outside)
    fifo = _index(folder / "shard_fifo", {"a": "s.safetensors"})
    os.mkfifo(fifo / "s.safetensors")
    device = _index(folder / "shard_dev_null", {"a": "s.safetensors"})
    (device / "s.safetensors").symlink_to("/dev/null")
    _index(folder / "index_deep", None, '{"weight_map":' + "[" * 100_000 + "]" * 100_000 + "}")
    _index(folder / "index_not_a_map", None, '{"weight_map": [1, 2]}')
    _index(folder / "index_missing_shard", {"a": "nope.safetensors"})


def _zip(path: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _pickles(folder: Path) -> None:
    (folder / "legacy_runs_code.bin").write_bytes(pickle.dumps({"state_dict": RunsCode()}, protocol=2))  # fmt: skip
    _zip(folder / "zip_runs_code.pt", {"archive/data.pkl": pickle.dumps(RunsCode(), protocol=2), "archive/version": b"3\n"})  # fmt: skip
    _zip(folder / "zip_traversal.pt", {"../../../x/data.pkl": pickle.dumps({}, protocol=2)})
    _zip(folder / "zip_deep.pt", {"archive/data.pkl": b"\x80\x02" + b"(" * 100_000 + b"l" * 100_000 + b"."})  # fmt: skip
    (folder / "zip_truncated.pt").write_bytes((folder / "zip_runs_code.pt").read_bytes()[:40])
    (folder / "pickle_huge_bytes.pt").write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 2**60) + b"x")
    four = np.arange(4, dtype=np.float32)
    write_zip(folder / "zip_int_names.pt", {1: tensor("0", four), (1, 2): tensor("1", four)})
    write_zip(folder / "zip_escape_name.pt", {"\x1b[31mw": tensor("0", four), "[/x]": tensor("1", four)})  # fmt: skip
    write_zip(folder / "zip_past_storage.pt", {"w": Tensor(Storage("0", four), 3, (2, 2), (2, 1))})


MODEL = "import paramtool as torch\nfrom paramtool import nn\n\n"
MODEL_FILES = {
    "ok.py": MODEL + "model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))\n",
    "writes.py": MODEL + f"open({MARKER!r}, 'w').close()\nmodel = nn.Linear(2, 2)\n",
    "exit0.py": "import sys\n\nsys.exit(0)\n",
    "exit3.py": "import sys\n\nsys.exit(3)\n",
    "base_exception.py": "class Stop(BaseException):\n    pass\n\n\nraise Stop('halt')\n",
    "interrupt.py": "raise KeyboardInterrupt\n",
    "prints.py": MODEL + "print('hello from the model')\nmodel = nn.Linear(2, 2)\n",
    "takes_x.py": MODEL
    + "class M(nn.Module):\n    def __init__(self, x=None):\n        super().__init__()\n        self.x = nn.Linear(2, 2)\n",
    "deep.py": MODEL
    + "model = nn.Linear(2, 2)\nfor _ in range(1500):\n    model = nn.Sequential(model)\n",
    "contains_itself.py": MODEL
    + "model = nn.Sequential(nn.Linear(2, 2))\nmodel.add_module('me', model)\n",
    "markup_name.py": MODEL
    + "model = nn.Module()\nmodel.register_parameter('[/x]', nn.Parameter(torch.zeros(2)))\n",
    "syntax_error.py": "def (:\n",
    "recursion_limit.py": "import sys\n\nsys.setrecursionlimit(60)\n"
    + MODEL
    + "model = nn.Linear(2, 2)\n",
    "closes_stderr.py": "import sys\n\nsys.stderr.close()\n" + MODEL + "model = nn.Linear(2, 2)\n",
    "huge.py": MODEL
    + "model = nn.Linear(10**6, 10**6)  # a 4 TB weight: inspect works, values cannot\n",
}
#: A model whose own override of a traversal raises once it is built (the raise is on line 9).
for method in ("named_parameters", "state_dict"):
    MODEL_FILES[f"raises_{method}.py"] = MODEL + (
        "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        f"        self.l = nn.Linear(2, 2)\n\n    def {method}(self, *args, **kwargs):\n"
        f"        raise ValueError('no {method} here')\n\n\nmodel = M()\n"
    )


def _model_files(folder: Path) -> None:
    for name, source in MODEL_FILES.items():
        (folder / name).write_text(source)


#: (case id, arguments, expected exit code, text the output must hold).
CASES: list[tuple[str, tuple[str, ...], int, str]] = []


#: Expected code of a case whose exit 1 is a verdict (diff: different) printed on stdout.
VERDICT = -1


def case(name: str, *args: str, code: int = 1, shows: str = "") -> None:
    CASES.append((name, args, code, shows))


for stem in ("empty", "four_bytes", "huge_length", "not_json", "deep_header", "bad_dtype", "negative_shape", "past_end", "huge_shape", "bad_utf8", "truncated", "overlap"):  # fmt: skip
    case(f"inspect-{stem}", "inspect", f"{stem}.safetensors")
for stem in ("deep_header", "huge_shape", "truncated"):
    case(f"stats-{stem}", "stats", f"{stem}.safetensors")
    case(f"convert-{stem}", "convert", f"{stem}.safetensors", "out.safetensors")
case("diff-past-end", "diff", "past_end.safetensors", "good.safetensors")
for command in ("inspect", "stats"):
    case(f"{command}-fifo", command, "fifo.safetensors", shows="not a regular file")
case("diff-fifo", "diff", "good.safetensors", "fifo.safetensors", shows="not a regular file")
case("load-fifo", "load", "ok.py", "fifo.safetensors", shows="not a regular file")
case("export-from-fifo", "export", "--model", "ok.py", "--from", "fifo.safetensors", "out.safetensors", shows="not a regular file")  # fmt: skip
case("export-config-fifo", "export", "--model", "ok.py", "--config", "fifo.json", "out.safetensors", shows="not a regular file")  # fmt: skip
case("inspect-dev-zero", "inspect", "/dev/zero", shows="not a regular file")
case("inspect-folder", "inspect", "a_folder.safetensors")
case("inspect-missing", "inspect", "missing.safetensors")
case("inspect-empty-path", "inspect", "")
case("inspect-symlink-loop", "inspect", "loop.safetensors")
case("inspect-unicode-path", "inspect", "uni ñ 😀.safetensors", code=0, shows="float32")
case("inspect-newline-path", "inspect", "new\nline.safetensors", code=0, shows="float32")
for stem in ("shard_escapes", "shard_absolute", "shard_link_out"):
    case(f"inspect-{stem}", "inspect", stem)
    case(f"stats-{stem}", "stats", stem)
case("inspect-shard-fifo", "inspect", "shard_fifo", shows="not a regular file")
case("inspect-dev-null-shard", "inspect", "shard_dev_null", shows="not a regular file")
case("inspect-index-deep", "inspect", "index_deep")
case("inspect-index-not-a-map", "inspect", "index_not_a_map")
case("inspect-index-missing-shard", "inspect", "index_missing_shard")
for stem in ("legacy_runs_code.bin", "zip_runs_code.pt"):
    case(f"inspect-{stem}", "inspect", stem)
    case(f"convert-{stem}", "convert", stem, "out.safetensors")
case("convert-zip-int-names", "convert", "zip_int_names.pt", "out.safetensors", shows="names must be strings")  # fmt: skip
case("inspect-zip-escape-name", "inspect", "zip_escape_name.pt", code=0, shows="\\x1b[31mw")
case("convert-zip-escape-name", "convert", "zip_escape_name.pt", "out.safetensors", code=0, shows="wrote out.safetensors")  # fmt: skip
for stem in (
    "zip_traversal.pt",
    "zip_deep.pt",
    "zip_truncated.pt",
    "pickle_huge_bytes.pt",
    "zip_past_storage.pt",
):
    case(f"inspect-{stem}", "inspect", stem)
for command in ("inspect", "stats"):
    for tag in ("markup_close", "markup_bold", "escape", "newline", "title"):
        case(f"{command}-name-{tag}", command, f"name_{tag}.safetensors", code=0, shows="[link=file:///x]p[/link]")  # fmt: skip
for tag in ("markup_close", "markup_bold", "escape"):
    case(f"diff-name-{tag}", "diff", f"name_{tag}.safetensors", f"name_{tag}_b.safetensors", code=VERDICT, shows="DIFFERENT")  # fmt: skip
for tag, out in (("escape", "e\x1b[31m.safetensors"), ("newline", "n\nl.safetensors")):
    shown = out.replace("\x1b", "\\x1b").replace("\n", "\\x0a")
    case(f"export-out-{tag}", "export", "--model", "ok.py", out, code=0, shows=f"wrote {shown}")
    case(f"convert-out-{tag}", "convert", "good.safetensors", out, code=0, shows=f"wrote {shown}")
case("inspect-json-escape", "inspect", "--json", "name_escape.safetensors", code=0, shows="\\u001b[31mred")  # fmt: skip
case("inspect-markup-model-name", "inspect", "markup_name.py", code=0, shows="[/x]")
for stem, shows in (("exit0", "sys.exit(0)"), ("exit3", "sys.exit(3)")):
    case(f"export-{stem}", "export", "--model", f"{stem}.py", "out.safetensors", shows=shows)
    case(f"diff-{stem}", "diff", f"{stem}.py", "ok.py", shows=shows)
    case(f"load-{stem}", "load", f"{stem}.py", "good.safetensors", shows=shows)
    case(f"stats-{stem}", "stats", f"{stem}.py", shows=shows)
case("inspect-base-exception", "inspect", "base_exception.py", shows="Stop: halt")
case("export-base-exception", "export", "--model", "base_exception.py", "out.safetensors", shows="Stop: halt")  # fmt: skip
case("inspect-keyboard-interrupt", "inspect", "interrupt.py", shows="interrupt.py")
case("inspect-deep-model", "inspect", "deep.py")
case("inspect-module-contains-itself", "inspect", "contains_itself.py")
case("export-module-contains-itself", "export", "--model", "contains_itself.py", "out.safetensors")  # fmt: skip
case("inspect-huge-tensor", "inspect", "huge.py", code=0, shows="1,000,001,000,000")
for command in ("stats", "export"):
    args = ("huge.py",) if command == "stats" else ("--model", "huge.py", "out.safetensors")
    case(f"{command}-huge-tensor", command, *args, shows="does not fit in memory")
# What a model file changes in the process is put back: paramtool's own work goes on.
for stem in ("recursion_limit", "closes_stderr"):
    case(f"stats-{stem}", "stats", f"{stem}.py", code=0, shows="all values finite")
    case(f"export-{stem}", "export", "--model", f"{stem}.py", "out.safetensors", code=0, shows="wrote out.safetensors")  # fmt: skip
case("inspect-syntax-error", "inspect", "syntax_error.py", shows="syntax_error.py")
case("inspect-json-prints", "inspect", "--json", "prints.py", code=0, shows='"kind": "model"')
case("stats-json-prints", "stats", "--json", "prints.py", code=0, shows="hello from the model")
case("export-config-deep", "export", "--model", "ok.py", "--config", "deep_config.json", "out.safetensors", shows="deep")  # fmt: skip
# An --arg value is a Python literal, read without evaluating it: anything else is a usage error.
case("inspect-arg-deep", "inspect", "takes_x.py", "--arg", "x=" + "[" * 100_000, code=2, shows="--arg")  # fmt: skip
case("inspect-arg-code", "inspect", "takes_x.py", "--arg", f"x=__import__('os').system('touch {MARKER}')", code=2, shows="--arg")  # fmt: skip
case("inspect-arg-literal", "inspect", "takes_x.py", "--arg", "x=[1, {'a': (2, None)}]", code=0, shows="x.weight")  # fmt: skip
case("export-arg-malformed", "export", "--model", "takes_x.py", "--arg", "novalue", "out.safetensors", code=2, shows="--arg")  # fmt: skip
case("load-model-file-as-checkpoint", "load", "ok.py", "writes.py", code=2, shows="is a model file")  # fmt: skip
for bad in ("novalue", "=v"):
    case(f"export-metadata-{bad}", "export", "--model", "ok.py", "--metadata", bad, "out.safetensors", code=2, shows="--metadata")  # fmt: skip
    case(f"convert-metadata-{bad}", "convert", "good.safetensors", "out.safetensors", "--metadata", bad, code=2, shows="--metadata")  # fmt: skip
for bad in ("abc", "1.5", str(2**64), str(-(2**63) - 1)):
    case(f"export-seed-{bad}", "export", "--model", "ok.py", "--seed", bad, "out.safetensors", code=2, shows="--seed")  # fmt: skip
case("init-seed-negative", "init", "ok.py", "--seed", "-1", code=0, shows="0.weight")
for bad in ("nan", "-1", "inf"):
    case(f"diff-atol-{bad}", "diff", "good.safetensors", "good.safetensors", "--atol", bad, code=2, shows="--atol")  # fmt: skip
case("diff-atol-nan-json", "diff", "good.safetensors", "good.safetensors", "--atol", "nan", "--json", code=2)  # fmt: skip
for bad in ("normal:std=nan", "normal:std=1e400"):
    case(f"export-scheme-{bad}", "export", "--model", "ok.py", "--scheme", bad, "out.safetensors", shows="finite")  # fmt: skip
for out in ("", ".", "/"):
    case(f"export-out-{out or 'empty'}", "export", "--model", "ok.py", out, code=2, shows="OUT")
# The model's own method raising after it is built is the model file's error, named with its line.
for method in ("named_parameters", "state_dict"):
    shows = f"raises_{method}.py:10: ValueError: no {method} here"
    for command in ("inspect", "stats", "init"):
        case(f"{command}-raises-{method}", command, f"raises_{method}.py", shows=shows)
    case(f"export-raises-{method}", "export", "--model", f"raises_{method}.py", "out.safetensors", shows=shows)  # fmt: skip
    case(f"diff-raises-{method}", "diff", f"raises_{method}.py", "ok.py", shows=shows)
# An OUT that exists and is neither a file nor a folder is never replaced.
case("export-out-fifo", "export", "--model", "ok.py", "fifo.safetensors", code=2, shows="not a regular file")  # fmt: skip
case("convert-out-fifo", "convert", "good.safetensors", "fifo.safetensors", code=2, shows="not a regular file")  # fmt: skip
# A filter matching no name in either input is no comparison: not "0/0 same".
case("diff-filter-no-match", "diff", "good.safetensors", "good.safetensors", "--filter", "nope*", shows="no tensor name matches 'nope*'")  # fmt: skip
for bad in ("0", "-1", "0.5", "12XB"):
    case(f"export-max-shard-size-{bad}", "export", "--model", "ok.py", "--max-shard-size", bad, "out", code=2, shows="'--max-shard-size'")  # fmt: skip
    case(f"convert-max-shard-size-{bad}", "convert", "good.safetensors", "out", "--max-shard-size", bad, code=2, shows="'--max-shard-size'")  # fmt: skip
case("check-input-too-large", "check", "ok.py", "--input", "100000000,100000000", code=2, shows="memory")  # fmt: skip


#: Started once with paramtool's CLI imported; forks one child per case, which runs the CLI's
#: entry point (what ``python -m paramtool`` runs) on its own cwd, stdin, stdout and stderr, and
#: reports each child's exit status (None: killed after the time limit). Start-up is paid once.
FORK_RUNNER = r"""
import json, os, signal, sys, time
from paramtool.cli import main
# What the commands import on first use, imported once here rather than in every child.
import ml_dtypes, rich.console, rich.table, rich.text, paramtool.report, paramtool.export
import paramtool.checkpoint, paramtool.cli.check, paramtool.cli.compare, paramtool.cli.convert
import paramtool.cli.inspect, paramtool.cli.write

jobs, limit, running, codes = json.load(sys.stdin), float(sys.argv[1]), {}, {}
pending = list(enumerate(jobs))
while pending or running:
    while pending and len(running) < 4:
        index, job = pending.pop(0)
        sys.stdout.flush(); sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.chdir(job["cwd"])
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            for fd, path in ((1, job["out"]), (2, job["err"])):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            sys.argv = ["paramtool", *job["args"]]
            try:
                main(args=job["args"], prog_name="paramtool")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        running[pid] = (index, time.monotonic())
    pid, status = os.waitpid(-1, os.WNOHANG)
    if pid:
        codes[running.pop(pid)[0]] = os.waitstatus_to_exitcode(status)
        continue
    for pid, (index, started) in list(running.items()):
        if time.monotonic() - started > limit:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            codes[index] = None
            del running[pid]
    time.sleep(0.005)
json.dump([codes[i] for i in range(len(jobs))], sys.stdout)
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Outcome, Path]]:
    """Every case run once, in a folder of its own holding links to the inputs."""
    return run_cases(tmp_path_factory.mktemp("hostile"), CASES, build_inputs)


def run_cases(
    base: Path, cases: list[tuple[str, tuple[str, ...], int, str]], build: Callable[[Path], None]
) -> dict[str, tuple[Outcome, Path]]:
    """Run each case's command once, several at a time, each in a folder of its own under
    ``base`` holding links to the inputs ``build`` writes; the outcome and folder by case id."""
    inputs, io = base / "inputs", base / "io"
    inputs.mkdir()
    io.mkdir()
    build(inputs)
    jobs = []
    for number, (_, args, _, _) in enumerate(cases):
        folder = base / f"case{number}"
        folder.mkdir()
        for path in inputs.iterdir():
            (folder / path.name).symlink_to(path)
        jobs.append({"cwd": str(folder), "args": list(args), "out": str(io / f"{number}.out"), "err": str(io / f"{number}.err")})  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    command = [sys.executable, "-c", FORK_RUNNER, str(LIMIT)]
    done = subprocess.run(command, input=json.dumps(jobs), env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    codes = json.loads(done.stdout)
    results = {}
    for number, ((name, args, _, _), code) in enumerate(zip(cases, codes, strict=True)):
        out, err = ((io / f"{number}.{s}").read_bytes().decode("utf-8", "replace") for s in ("out", "err"))  # fmt: skip
        results[name] = (Outcome(args, code, out, err), base / f"case{number}")
    return results


def check_outcome(result: Outcome, code: int, shows: str, folder: Path) -> None:
    """The rules every case keeps, then its own expectation."""
    assert result.code is not None, f"{result.args!r}: still running after {LIMIT} s"
    text = result.out + result.err
    assert "Traceback" not in text, text
    assert not CONTROL.search(text.replace("\t", "")), repr(text)
    assert SECRET.decode()[:20] not in text, "bytes of a file outside the checkpoint were printed"
    if code == VERDICT:
        assert result.code == 1 and result.err == "", result.err
    else:
        assert result.code == code, (result.code, result.err)
    if code == 1:
        assert result.err.count("\n") == 1 and result.err.startswith("Error: "), result.err
    if code == 2:
        assert result.err.splitlines()[-1].startswith("Error: "), result.err
    if shows:
        assert shows in text, text
    assert not (folder / MARKER).exists(), "code ran from a checkpoint or an argument"
    assert [p.name for p in folder.rglob(".*")] == [], "temporary files left behind"
    assert not (folder / "out.safetensors").exists() or code == 0


@pytest.mark.parametrize(("name", "code", "shows"), [(c[0], c[2], c[3]) for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_hostile_case(outcomes: dict[str, tuple[Outcome, Path]], name: str, code: int, shows: str) -> None:  # fmt: skip
    result, folder = outcomes[name]
    check_outcome(result, code, shows, folder)


@pytest.mark.parametrize("command", ["inspect", "stats", "diff"])
def test_names_reach_a_terminal_escaped(tmp_path: Path, command: str) -> None:
    save_file({"\x1b[31mred": np.ones(2, np.float32), "[/x]": np.ones(1, np.float32), "[bold]w[/bold]": np.ones(1, np.float32)}, str(tmp_path / "a.safetensors"))  # fmt: skip
    save_file({"\x1b[31mred": np.zeros(2, np.float32), "[/x]": np.ones(1, np.float32), "[bold]w[/bold]": np.ones(1, np.float32)}, str(tmp_path / "b.safetensors"))  # fmt: skip
    args = ("diff", "a.safetensors", "b.safetensors") if command == "diff" else (command, "a.safetensors")  # fmt: skip
    started = time.monotonic()
    result = _run(tmp_path, args, tty=True)
    assert time.monotonic() - started < LIMIT + 1
    assert result.code == (1 if command == "diff" else 0), result.err
    assert "\x1b" not in result.out and "Traceback" not in result.err
    assert "\\x1b[31mred" in result.out
    if command != "diff":  # diff lists only what differs
        assert "[/x]" in result.out and "[bold]w[/bold]" in result.out


def test_a_model_file_as_checkpoint_of_load_is_never_run(tmp_path: Path) -> None:
    """load reads CHECKPOINT's headers only: a model file there is refused, not run."""
    for name, source in MODEL_FILES.items():
        (tmp_path / name).write_text(source)
    result = _run(tmp_path, ("load", "ok.py", "writes.py"))
    assert result.code == 2 and "is a model file" in result.err
    assert not (tmp_path / MARKER).exists()
    ran = _run(tmp_path, ("inspect", "writes.py"))  # as MODEL or TARGET, it does run (by design)
    assert ran.code == 0 and (tmp_path / MARKER).exists()


def test_seeds_are_64_bit_as_in_pytorch() -> None:
    """PyTorch 2.13: manual_seed(-1).initial_seed() is 2**64 - 1; 2**64 and -2**63 - 1 raise
    ValueError. A negative seed draws what its two's complement draws."""
    import paramtool

    assert paramtool.manual_seed(-1).initial_seed() == 2**64 - 1
    first = paramtool.randn(5).numpy()
    paramtool.manual_seed(2**64 - 1)
    assert np.array_equal(paramtool.randn(5).numpy(), first)
    for bad in (2**64, -(2**63) - 1):
        with pytest.raises(ValueError, match="seed must be within"):
            paramtool.manual_seed(bad)
    paramtool.manual_seed(0)


@pytest.mark.parametrize("name", ["export-out-fifo", "convert-out-fifo"])
def test_a_fifo_out_is_left_as_it_was(outcomes: dict[str, tuple[Outcome, Path]], name: str) -> None:  # fmt: skip
    _, folder = outcomes[name]
    assert stat.S_ISFIFO((folder / "fifo.safetensors").stat().st_mode)


def test_a_bug_of_paramtool_in_a_traversal_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # fmt: skip
    from paramtool.models.loader import load_model  # noqa: PLC0415
    from paramtool.nn import Module  # noqa: PLC0415

    (tmp_path / "ok.py").write_text(MODEL_FILES["ok.py"])

    def broken(self: Module, *args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("paramtool's own bug")

    monkeypatch.setattr(Module, "state_dict", broken)
    with pytest.raises(ZeroDivisionError, match="own bug"):
        load_model(tmp_path / "ok.py")
