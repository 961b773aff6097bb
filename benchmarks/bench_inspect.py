"""Benchmark ``paramtool inspect`` on the LLaMA-2-70B sample and on a multi-GB checkpoint.

For each target: wall time (median of several runs) and peak resident memory, in-process (the
library calls behind ``inspect``) and through a real ``python -m paramtool inspect`` process.
The checkpoint is LLaMA-2-7B-shaped in bfloat16 (13.5 GB), written sparse in a temporary folder
(a valid safetensors file whose data pages are never touched). When the reference
``safetensors`` library is installed, its header read (``safe_open``, then each name's shape
and dtype) is timed beside it.

Run: ``python benchmarks/bench_inspect.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LLAMA = ROOT / "sample_models" / "llama.py"


def median_seconds(func: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sparse_checkpoint(folder: Path) -> Path:
    """A LLaMA-2-7B-shaped bf16 checkpoint: header written, data left as a hole in the file."""
    from paramtool import report  # noqa: PLC0415
    from paramtool.models.loader import load_model  # noqa: PLC0415

    inventory = report.from_module(load_model(LLAMA))
    header: dict[str, object] = {}
    offset = 0
    for row in inventory.rows:
        if not row.persistent:
            continue
        nbytes = row.numel * 2
        header[row.name] = {
            "dtype": "BF16",
            "shape": list(row.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path = folder / "llama-7b-bf16.safetensors"
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw)
        f.truncate(8 + len(raw) + offset)
    return path


def in_process(target: Path, args: list[str], runs: int) -> tuple[float, float]:
    """Median seconds of the library work behind ``inspect`` (in a fresh process) and its peak RSS in MB."""
    code = f"""
import json, resource, statistics, sys, time
sys.path.insert(0, {str(ROOT)!r})
from paramtool import report
from paramtool.models.loader import parse_assignments
args = parse_assignments({args!r})
def work():
    inv = report.open_inventory({str(target)!r}, args=args or None)
    inv.totals; report.build_tree(inv)
times = []
for _ in range({runs}):
    t = time.perf_counter(); work(); times.append(time.perf_counter() - t)
print(json.dumps([statistics.median(times), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, rss = json.loads(out.stdout)
    return seconds, rss


def via_cli(target: Path, args: list[str], runs: int) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MB) of ``python -m paramtool inspect TARGET --json``."""
    extra = [x for a in args for x in ("--arg", a)]
    command = [sys.executable, "-m", "paramtool", "inspect", str(target), "--json", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return statistics.median(times), rss


def reference_header_read(path: Path, runs: int) -> float | None:
    try:
        from safetensors import safe_open  # noqa: PLC0415
    except ImportError:
        return None

    def read() -> None:
        with safe_open(str(path), "np") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                part = f.get_slice(key)
                part.get_shape(), part.get_dtype()

    return median_seconds(read, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = sparse_checkpoint(Path(folder))
        size_gb = checkpoint.stat().st_size / 1e9
        targets = [
            ("llama.py size=70b (68,976,648,192 params)", LLAMA, ["size=70b"]),
            (f"llama-7b bf16 checkpoint ({size_gb:.1f} GB)", checkpoint, []),
        ]
        print(
            f"{'target':45} {'in-process':>12} {'peak RSS':>10} {'subprocess':>12} {'peak RSS':>10}"
        )
        for label, target, args in targets:
            seconds, rss = in_process(target, args, runs)
            cli_seconds, cli_rss = via_cli(target, args, runs)
            print(
                f"{label:45} {seconds * 1e3:9.1f} ms {rss:7.0f} MB {cli_seconds * 1e3:9.1f} ms {cli_rss:7.0f} MB"
            )
        reference = reference_header_read(checkpoint, runs)
        if reference is not None:
            seconds, _ = in_process(checkpoint, [], runs)
            print(
                f"safetensors.safe_open header read of the checkpoint: {reference * 1e3:.1f} ms "
                f"(paramtool inspect work / reference = {seconds / reference:.2f}x)"
            )


if __name__ == "__main__":
    main()
