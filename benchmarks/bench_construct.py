"""Time and memory of constructing LLaMA-2 7B and 70B (sample_models/llama.py), deferred.

For each size, a fresh Python process builds the model several times and reports the median
construction time, the time of one ``state_dict()`` walk with a parameter count (what ``inspect``
needs), the tracemalloc peak of one construction and the growth of the process's peak RSS.
When PyTorch is installed, the same file is run again with ``import paramtool as torch``
resolving to torch and the model built on the ``meta`` device (shapes only), as the reference.

    python benchmarks/bench_construct.py [--repeat 5] [--sizes 7b,70b]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LLAMA = ROOT / "sample_models" / "llama.py"


def load_llama(backend: str):
    """Import sample_models/llama.py with ``paramtool`` being paramtool or torch."""
    if backend == "torch":
        import torch

        sys.modules["paramtool"] = torch
        sys.modules["paramtool.nn"] = torch.nn
    else:
        sys.path.insert(0, str(ROOT))  # the checkout's paramtool, installed or not
    spec = importlib.util.spec_from_file_location("bench_llama", LLAMA)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def construct(module, backend: str, size: str):
    if backend == "torch":
        import torch

        with torch.device("meta"):
            return module.build_model(size=size)
    return module.build_model(size=size)


def measure(backend: str, size: str, repeat: int) -> dict:
    """Run in a worker process: every figure for one backend and one size."""
    module = load_llama(backend)
    construct(module, backend, size)  # warm-up: imports, caches
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model = construct(module, backend, size)
        times.append(time.perf_counter() - start)
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    start = time.perf_counter()
    count = sum(p.numel() for p in model.parameters())
    entries = len(model.state_dict())
    walk = time.perf_counter() - start
    del model
    tracemalloc.start()
    construct(module, backend, size)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "backend": backend,
        "size": size,
        "parameters": count,
        "state_dict_entries": entries,
        "construct_median_s": statistics.median(times),
        "construct_min_s": min(times),
        "walk_s": walk,
        "tracemalloc_peak_mib": peak / 2**20,
        "max_rss_growth_mib": rss_growth / 1024,  # ru_maxrss is in KiB on Linux
    }


def run_worker(backend: str, size: str, repeat: int) -> dict:
    command = [sys.executable, __file__, "--worker", backend, "--sizes", size]
    command += ["--repeat", str(repeat)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{backend} {size} failed:\n{result.stderr}")
    return json.loads(result.stdout)


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def report(rows: list[dict]) -> None:
    header = f"{'backend':<10}{'size':<6}{'parameters':>16}{'construct':>12}{'walk':>10}"
    print(header + f"{'tracemalloc':>14}{'RSS growth':>12}")
    for r in rows:
        print(
            f"{r['backend']:<10}{r['size']:<6}{r['parameters']:>16,}"
            f"{r['construct_median_s'] * 1e3:>10.1f}ms{r['walk_s'] * 1e3:>8.1f}ms"
            f"{r['tracemalloc_peak_mib']:>11.2f}MiB{r['max_rss_growth_mib']:>9.1f}MiB"
        )
    by_key = {(r["backend"], r["size"]): r for r in rows}
    for (backend, size), r in by_key.items():
        ref = by_key.get(("torch", size))
        if backend == "paramtool" and ref:
            ratio = r["construct_median_s"] / ref["construct_median_s"]
            print(f"{size}: paramtool / torch(meta) construction time = {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="7b,70b")
    parser.add_argument("--worker", choices=["paramtool", "torch"])
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    if args.worker:
        print(json.dumps(measure(args.worker, sizes[0], args.repeat)))
        return
    backends = ["paramtool"] + (["torch"] if torch_installed() else [])
    rows = [run_worker(b, s, args.repeat) for s in sizes for b in backends]
    report(rows)


if __name__ == "__main__":
    main()
