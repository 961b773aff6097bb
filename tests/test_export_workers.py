"""Export on Dask: local worker processes and a cluster of separate processes on the loopback
address write the same bytes as one process; a worker killed mid-shard is replaced and its
shard written again; without Dask, one line says what to install."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import paramtool
from paramtool.export import ModelRecipe, ModelSource, make_plan, write_checkpoint
from paramtool.export.staging import staging_folder
from tests.cli_support import ROOT, invoke
from tests.test_export_atomic import LARGER, LLAMA, SMALL, cli_args, leftovers, snapshot

pytest.importorskip("distributed")


def export(out: Path, args: dict[str, int], *extra: str, shard: str = "100kB") -> Path:
    result = invoke("export", out, *cli_args(args, seed=5, shard=shard), *extra)
    assert result.exit_code == 0, result.output
    return out


def test_local_workers_write_the_bytes_one_process_writes(tmp_path: Path) -> None:
    one = export(tmp_path / "one", SMALL)
    two = export(tmp_path / "two", SMALL, "--workers", "2")
    assert len(list(one.glob("model-*"))) == 6
    assert snapshot(two) == snapshot(one)
    assert leftovers(tmp_path) == []


def test_without_dask_one_line_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = invoke("export", tmp_path / "out", *cli_args(SMALL, seed=5), "--workers", "2")
    assert result.exit_code == 1
    assert result.output == (
        "Error: --workers and --scheduler need Dask: pip install 'paramtool[distributed]'\n"
    )
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_workers_and_scheduler_together_are_a_usage_error(tmp_path: Path) -> None:
    result = invoke(
        "export", tmp_path / "o", *cli_args(SMALL, 5), "--workers", "2", "--scheduler", "tcp://x:1"
    )
    assert result.exit_code == 2 and "not both" in result.output


def dask(*args: str, cwd: Path) -> subprocess.Popen:
    """``dask ARGS`` (the command Dask installs) as a separate process."""
    command = [sys.executable, "-m", "dask", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler and two workers (one thread each) on 127.0.0.1, started in another folder
    (shared by this module's tests; the test that kills a worker needs only one left)."""
    home = tmp_path_factory.mktemp("cluster")
    file = home / "scheduler.json"
    # An idle scheduler and its workers end by themselves should this process be killed.
    scheduler = dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--idle-timeout", "300s", "--scheduler-file", str(file), cwd=home)  # fmt: skip
    worker = ["worker", "--scheduler-file", str(file), "--nthreads", "1", "--no-dashboard"]
    worker += ["--no-nanny", "--death-timeout", "60"]
    workers = [dask(*worker, cwd=home) for _ in range(2)]
    processes = [scheduler, *workers]
    try:
        deadline, address = time.monotonic() + 60, None
        while address is None and time.monotonic() < deadline:
            try:  # the scheduler writes the file once it listens
                address = json.loads(file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_a_loopback_cluster_of_separate_processes_writes_the_same_bytes(
    tmp_path: Path, cluster: tuple[str, list[subprocess.Popen]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, _ = cluster
    one = export(tmp_path / "one", SMALL)
    monkeypatch.chdir(tmp_path)  # relative paths: the workers run in another folder
    two = export(Path("two"), SMALL, "--scheduler", address)
    assert snapshot(tmp_path / two) == snapshot(one)
    assert leftovers(tmp_path / "two") == []


def test_a_worker_killed_mid_shard_is_replaced_and_the_bytes_are_the_same(
    tmp_path: Path, cluster: tuple[str, list[subprocess.Popen]]
) -> None:
    address, workers = cluster
    target = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "paramtool", "export", str(target), *cli_args(LARGER, seed=5, shard="6MB"), "--scheduler", address]  # fmt: skip
    run = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    # A shard being written is a temporary file named after its writer's pid: kill that one.
    pids = {w.pid for w in workers}
    deadline, victim = time.monotonic() + 60, None
    while victim is None and time.monotonic() < deadline and run.poll() is None:
        folder = staging_folder(target)
        temps = list(folder.glob(".model-*.tmp")) if folder.is_dir() else []
        writing = {int(p.name.rsplit(".", 2)[1].split("-")[0]) for p in temps}
        victim = next(iter(writing & pids), None)
        time.sleep(0.002)
    assert victim is not None, "no shard was seen mid-write"
    os.kill(victim, signal.SIGKILL)
    # The scheduler sends the killed worker's shard to the one left.
    _, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    reference = export(tmp_path / "reference", LARGER, shard="6MB")
    assert snapshot(target) == snapshot(reference)
    assert leftovers(tmp_path) == []


def test_workers_start_their_own_fill_threads(tmp_path: Path) -> None:
    # The parent's fill threads are running (a tensor of several chunks was just generated);
    # workers (forked from a fork server, never from this process) run fills of their own.
    paramtool.randn(4 * 2**20).compute(name="warm", seed=0)
    source = ModelSource(ModelRecipe(LLAMA, args=LARGER, seed=8))  # tensors of several chunks
    one = write_checkpoint(source, tmp_path / "one", "20MB")
    done: list[tuple[str, int]] = []
    two = write_checkpoint(source, tmp_path / "two", "20MB", workers=2, progress=lambda *r: done.append(r))  # fmt: skip
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]
    # The progress callback hears of every shard, whichever worker wrote it.
    plan = make_plan(source, "20MB")
    assert sorted(done) == sorted((shard.file, shard.nbytes) for shard in plan.shards)
