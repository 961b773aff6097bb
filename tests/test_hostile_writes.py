"""Writes interrupted where a write is most fragile: an export's local Dask cluster while it
starts, every terminating signal; the checkpoint stays whole and stderr holds one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_support import ROOT

pytest.importorskip("distributed")

MLP = ["--model", str(ROOT / "sample_models" / "mlp.py"), "--max-shard-size", "1MB"]
MLP += ["--arg", "in_features=512", "--arg", "hidden=1024", "--arg", "out_features=512"]  # 4 MB


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def export(out: Path, seed: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "paramtool", "export", str(out), *MLP, "--seed", str(seed), *extra]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for_children(process: subprocess.Popen, limit: float = 60) -> None:
    """Wait until a thread of ``process`` has started a child process (Linux: from /proc)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, "the export ended before its cluster started"
        tasks = Path(f"/proc/{process.pid}/task").glob("*/children")
        if any(_read(task).split() for task in tasks):
            return
        time.sleep(0.002)
    raise AssertionError("no worker process started")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:  # the thread ended meanwhile
        return ""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_the_local_cluster_starts_is_one_line_and_keeps_the_old_checkpoint(
    tmp_path: Path, sig: signal.Signals
) -> None:
    target, reference = tmp_path / "ckpt", tmp_path / "new"
    assert export(target, 1).wait(timeout=60) == 0 and export(reference, 2).wait(timeout=60) == 0
    before, after = snapshot(target), snapshot(reference)
    process = export(target, 2, "--workers", "2")
    wait_for_children(process)  # the cluster is starting: its worker processes come up
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    # Interrupted: exit 1 and the old checkpoint; or, when the signal came as the new one was
    # put in place, the new one (exit 0, or ended by the signal once all was done), never a mix.
    outcomes = ((1, before), (0, after), (-sig, after))
    assert (process.returncode, snapshot(target)) in outcomes, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "new"]


@pytest.mark.parametrize("out", ["file/ckpt", "file/model.safetensors", "file/sub/ckpt"])
def test_an_out_below_a_file_is_a_usage_error(tmp_path: Path, out: str) -> None:
    (tmp_path / "file").write_text("x")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "paramtool", "export", str(tmp_path / out), *MLP[:2]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"{tmp_path / 'file'} is not a folder" in done.stderr and "Errno" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert (tmp_path / "file").read_text() == "x"


def test_sigint_while_the_command_line_loads_is_aborted_without_a_traceback() -> None:
    # The signal lands inside the import of click, the moment an interrupted run of
    # `paramtool export` most often hit before a command could catch it.
    code = (
        "import os, signal, sys\n"
        "sys.modules.pop('click', None)\n"
        "import importlib.abc\n"
        "class Slow(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'click':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Slow())\n"
        "from paramtool.cli import main\n"
        "print('not reached')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "Aborted!\n")
