"""Parallel export benchmark: one process, local Dask workers, a loopback Dask cluster.

    python benchmarks/bench_export.py [--repeat 3] [--dir /tmp] [--layers 4] [--workers 2]

The checkpoint is the LLaMA sample cut to ``--layers`` layers in bfloat16, 300 MB shards
(4 layers: 2.1 GB in 9 shards), written by the ``paramtool export`` command as a whole
process each time:

1. one process (the default), ``--workers N``, and ``--scheduler`` on a scheduler and N workers
   started as separate processes on 127.0.0.1: wall time, CPU time of the command and every
   process it started (or of the cluster's workers), cores busy (CPU / wall), peak resident
   memory of each worker against the largest tensor, and whether every shard and the index
   are byte-identical to the single-process export. Medians of ``--repeat`` runs;
   ratios single-process wall / parallel wall.
2. kill -9 of one local worker while it writes a shard: the export still completes, identical.
3. kill -9 of the whole run (command and workers) mid-way, then the same command again: it
   completes, identical, reusing the shards already staged, with no temporary file left.

Run it on a quiet machine: a busy one measures the neighbours.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
LLAMA = ROOT / "sample_models" / "llama.py"


def export_command(out: Path, layers: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "paramtool", "export", str(out), "--model", str(LLAMA),
        "--arg", f"num_hidden_layers={layers}", "--dtype", "bfloat16",
        "--max-shard-size", "300MB", "--seed", "0", *extra,
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class Sampler:
    """Peak resident memory of each process of a set, sampled every 10 ms."""

    def __init__(self, roots: list[int], children: bool) -> None:
        self.roots, self.children = roots, children
        self.peaks: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _processes(self) -> list[psutil.Process]:
        found = []
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                found.append(root)
                if self.children:
                    found += root.children(recursive=True)
            except psutil.Error:
                continue
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            for process in self._processes():
                try:
                    rss = process.memory_info().rss
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)
                self.cpu[process.pid] = times.user + times.system
            time.sleep(0.01)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_local(out: Path, layers: int, extra: list[str]) -> dict[str, float]:
    """One export as a whole process; CPU counts every process it started."""
    shutil.rmtree(out, ignore_errors=True)
    cpu0, t0 = children_cpu(), time.perf_counter()
    process = subprocess.Popen(export_command(out, layers, *extra), env=env(), stderr=subprocess.PIPE)  # fmt: skip
    with Sampler([process.pid], children=True) as sampler:
        _, err = process.communicate()
    wall = time.perf_counter() - t0
    if process.returncode != 0:
        raise SystemExit(f"export failed: {err.decode()}")
    workers = [peak for pid, peak in sampler.peaks.items() if pid != process.pid]
    return {
        "wall": wall,
        "cpu": children_cpu() - cpu0,
        "peak_command": sampler.peaks.get(process.pid, 0),
        "peak_worker": max(workers) if workers else sampler.peaks.get(process.pid, 0),
    }


def scheduler_address(file: Path, timeout: float = 60) -> str:
    """The address a scheduler writes to its ``--scheduler-file`` (once the file is whole)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    raise SystemExit("the scheduler did not start")


def start_cluster(home: Path, workers: int) -> tuple[str, list[subprocess.Popen]]:
    """``dask scheduler`` and ``dask worker`` processes on the loopback address."""
    file = home / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    worker_env = {**env(), "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}  # as documented
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": worker_env, "cwd": home}  # fmt: skip
    scheduler = [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    scheduler += ["--idle-timeout", "300s", "--scheduler-file", str(file)]
    worker = [*dask, "worker", "--scheduler-file", str(file), "--nthreads", "1", "--no-nanny"]
    worker += ["--no-dashboard", "--death-timeout", "60"]
    processes = [subprocess.Popen(scheduler, **quiet)]  # type: ignore[call-overload]
    processes += [subprocess.Popen(worker, **quiet) for _ in range(workers)]  # type: ignore[call-overload]
    address = scheduler_address(file)
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(workers, timeout=60)
    return address, processes


def run_cluster(out: Path, layers: int, address: str, workers: list[subprocess.Popen]) -> dict[str, float]:  # fmt: skip
    """One export on the cluster; CPU and memory are the command's and the workers'."""
    shutil.rmtree(out, ignore_errors=True)
    pids = [w.pid for w in workers]
    before = {pid: sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids}
    cpu0, t0 = children_cpu(), time.perf_counter()
    process = subprocess.Popen(export_command(out, layers, "--scheduler", address), env=env(), stderr=subprocess.PIPE)  # fmt: skip
    with Sampler(pids, children=False) as sampler:
        _, err = process.communicate()
    wall = time.perf_counter() - t0
    if process.returncode != 0:
        raise SystemExit(f"export failed: {err.decode()}")
    worker_cpu = sum(sum(psutil.Process(pid).cpu_times()[:2]) - before[pid] for pid in pids)
    return {
        "wall": wall,
        "cpu": children_cpu() - cpu0 + worker_cpu,
        "peak_command": 0,
        "peak_worker": max(sampler.peaks.values()),
    }


def files(folder: Path) -> dict[str, str]:
    """Each file's SHA-256: equal digests, identical bytes."""
    digests = {}
    for path in sorted(folder.iterdir()):
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(2**24):
                digest.update(block)
        digests[path.name] = digest.hexdigest()
    return digests


def hidden(parent: Path) -> list[str]:
    return sorted(str(p.relative_to(parent)) for p in parent.rglob(".*"))


def staged(target: Path) -> Path:
    return target.parent / f".{target.name}.paramtool-staging"


def wait_for_temp(target: Path, timeout: float = 120) -> Path:
    """The first temporary shard file seen in the staging folder (a shard mid-write)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        folder = staged(target)
        temps = list(folder.glob(".model-*.tmp")) if folder.is_dir() else []
        if temps:
            return temps[0]
        time.sleep(0.002)
    raise SystemExit("no shard seen mid-write")


def kill_one_worker(target: Path, layers: int, workers: int) -> tuple[bool, float]:
    shutil.rmtree(target, ignore_errors=True)
    t0 = time.perf_counter()
    process = subprocess.Popen(export_command(target, layers, "--workers", str(workers)), env=env(), stderr=subprocess.PIPE)  # fmt: skip
    while True:  # a temp written by a worker (not the command itself)
        temp = wait_for_temp(target)
        pid = int(temp.name.rsplit(".", 2)[1].split("-")[0])
        if pid != process.pid:
            break
    os.kill(pid, signal.SIGKILL)
    _, err = process.communicate()
    return process.returncode == 0, time.perf_counter() - t0


def kill_whole_run(target: Path, layers: int, workers: int) -> tuple[int, float]:
    shutil.rmtree(target, ignore_errors=True)
    process = subprocess.Popen(export_command(target, layers, "--workers", str(workers)), env=env(), stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # at least two shards staged, then kill everything
        if len(list(staged(target).glob("model-*"))) >= 2 if staged(target).is_dir() else False:
            break
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    reused = len(list(staged(target).glob("model-*")))
    t0 = time.perf_counter()
    again = subprocess.run(export_command(target, layers, "--workers", str(workers)), env=env(), capture_output=True)  # fmt: skip
    if again.returncode != 0:
        raise SystemExit(f"re-run failed: {again.stderr.decode()}")
    return reused, time.perf_counter() - t0


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rows) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from paramtool.export import ModelRecipe, ModelSource, make_plan

    source = ModelSource(ModelRecipe(str(LLAMA), args={"num_hidden_layers": args.layers}, dtype="bfloat16", seed=0))  # fmt: skip
    plan = make_plan(source, "300MB")
    largest = max(t.nbytes for s in plan.shards for t in s.tensors)
    print(f"LLaMA, {args.layers} layers, bfloat16: {plan.total_size / 1e9:.2f} GB in {len(plan.shards)} shards; largest tensor {largest / 1e6:.0f} MB")  # fmt: skip
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}, repeat {args.repeat}")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="bench-export-", dir=args.dir))
    try:
        single_out, local_out, cluster_out = work / "single", work / "local", work / "cluster"
        rows: dict[str, list[dict[str, float]]] = {"single": [], "local": [], "cluster": []}
        home = work / "home"
        home.mkdir()
        address, cluster = start_cluster(home, args.workers)
        same = {"local": True, "cluster": True}
        try:
            for _ in range(args.repeat):
                rows["single"].append(run_local(single_out, args.layers, []))
                reference = files(single_out)
                rows["local"].append(run_local(local_out, args.layers, ["--workers", str(args.workers)]))  # fmt: skip
                same["local"] &= files(local_out) == reference
                rows["cluster"].append(run_cluster(cluster_out, args.layers, address, cluster))
                same["cluster"] &= files(cluster_out) == reference
                shutil.rmtree(local_out)
                shutil.rmtree(cluster_out)
        finally:
            for process in cluster:
                process.kill()
                process.wait()
        base = summary(rows["single"])["wall"]
        print(f"\n{'run':<28}{'wall s':>8}{'CPU s':>8}{'cores':>7}{'busy/N':>8}{'speed-up':>9}{'worker peak':>13}{'/largest':>9}  identical")  # fmt: skip
        for name, label, n in (("single", "one process", 1), ("local", f"--workers {args.workers}", args.workers), ("cluster", f"loopback cluster, {args.workers} workers", args.workers)):  # fmt: skip
            m = summary(rows[name])
            ident = "-" if name == "single" else ("yes" if same[name] else "NO")
            print(f"{label:<28}{m['wall']:8.2f}{m['cpu']:8.2f}{m['cpu'] / m['wall']:7.2f}{m['cpu'] / m['wall'] / n:8.2f}{base / m['wall']:9.2f}{m['peak_worker'] / 1e6:10.0f} MB{m['peak_worker'] / largest:9.2f}  {ident}")  # fmt: skip
        ok, wall = kill_one_worker(local_out, args.layers, args.workers)
        print(f"\nkill -9 of one worker mid-shard: completed={ok}, identical={files(local_out) == reference}, wall {wall:.2f} s")  # fmt: skip
        reused, wall = kill_whole_run(local_out, args.layers, args.workers)
        leftovers = [h for h in hidden(work) if not h.startswith("home")]
        print(f"kill -9 of the whole run, then again: {reused} staged shards reused, identical={files(local_out) == reference}, re-run wall {wall:.2f} s, temporary files left: {leftovers or 'none'}")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
