"""Benchmark ``paramtool inspect`` of an unmodified ``import torch`` LLaMA-2-70B model file.

The file is ``tests/data/torch_models/llama_meta.py`` (Meta's model.py layout with plain
``nn.Linear``) built with ``--arg size=70b`` (68,976,648,192 parameters). Measured in the same
run, each as whole processes (median of ``--runs``, wall time and peak RSS):

- ``paramtool inspect FILE`` run by this interpreter (no PyTorch needed: ``import torch`` in
  the file resolves to paramtool); target <= 0.5 s and <= 100 MB;
- ``paramtool inspect sample_models/llama.py`` (the same model written against paramtool), to
  show what running a torch file adds;
- PyTorch building the same file on the meta device, run by ``--torch-python`` (default
  this interpreter) when that interpreter has torch.

In-process figures (construction only, imports excluded) are printed beside them. The
processes run as an installed paramtool does: bytecode cached (in a temporary
``PYTHONPYCACHEPREFIX``, with ``PYTHONDONTWRITEBYTECODE`` unset) after one warm-up run each.

Run: ``python benchmarks/bench_torch_file.py [--runs N] [--torch-python PATH]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "torch_models" / "llama_meta.py"
SAMPLE = ROOT / "sample_models" / "llama.py"
TARGET_SECONDS, TARGET_MB = 0.5, 100
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench_torch_file_pycache_")
ENV["PYTHONPATH"] = str(ROOT)

TORCH_META = f"""
import runpy, sys, torch
sys.path.insert(0, {str(MODEL.parent)!r})
namespace = runpy.run_path({str(MODEL)!r})
with torch.device("meta"):
    model = namespace["build_model"](size="70b")
print(sum(p.numel() for p in model.parameters()))
"""


def whole_process(command: list[str], runs: int) -> tuple[float, float, str]:
    """Median wall seconds and peak RSS (MB) of ``command`` run ``runs`` times; its stdout."""
    times, peaks, out = [], [], ""
    env = ENV
    subprocess.run(command, capture_output=True, env=env, check=True)  # warm-up: cache bytecode
    for _ in range(runs):
        start = time.perf_counter()
        timed = ["/usr/bin/time", "-f", "%M", *command]
        done = subprocess.run(timed, capture_output=True, text=True, env=env, check=True)
        times.append(time.perf_counter() - start)
        peaks.append(int(done.stderr.strip().splitlines()[-1]) / 1024)
        out = done.stdout
    return statistics.median(times), statistics.median(peaks), out


def in_process(runs: int) -> tuple[float, float]:
    """Median seconds to build the torch file and the sample, imports excluded."""
    sys.path.insert(0, str(ROOT))
    from paramtool.models.loader import load_model  # noqa: PLC0415

    def median(path: Path) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            load_model(path, args={"size": "70b"})
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return median(MODEL), median(SAMPLE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--torch-python", default=sys.executable)
    options = parser.parse_args()
    paramtool = [sys.executable, "-m", "paramtool", "inspect"]
    seconds, mb, out = whole_process([*paramtool, str(MODEL), "--arg", "size=70b"], options.runs)
    count = next(line for line in out.splitlines() if line.startswith("parameters:"))
    print(f"paramtool inspect (import torch file, 70b): {seconds:.3f} s, {mb:.0f} MB  [{count}]")
    verdict = "ok" if seconds <= TARGET_SECONDS and mb <= TARGET_MB else "OVER TARGET"
    print(f"  target <= {TARGET_SECONDS} s and <= {TARGET_MB} MB: {verdict}")
    s_seconds, s_mb, _ = whole_process([*paramtool, str(SAMPLE), "--arg", "size=70b"], options.runs)
    print(f"paramtool inspect (paramtool sample, 70b):   {s_seconds:.3f} s, {s_mb:.0f} MB"
          f"  (torch file / sample: {seconds / s_seconds:.2f}x)")  # fmt: skip
    version, _, _ = whole_process([sys.executable, "-m", "paramtool", "--version"], options.runs)
    print(f"paramtool --version (start-up alone):       {version:.3f} s")
    has_torch = (
        Path(options.torch_python).exists()
        and not subprocess.run(
            [options.torch_python, "-c", "import torch"], capture_output=True
        ).returncode
    )
    if has_torch:
        t_seconds, t_mb, t_out = whole_process(
            [options.torch_python, "-c", TORCH_META], options.runs
        )
        print(f"PyTorch on meta (same file, 70b):            {t_seconds:.3f} s, {t_mb:.0f} MB"
              f"  [{int(t_out):,} parameters]; paramtool is {t_seconds / seconds:.1f}x faster")  # fmt: skip
    else:
        print(f"PyTorch side skipped: {options.torch_python} has no torch (--torch-python)")
    file_build, sample_build = in_process(options.runs)
    print(f"in-process build (imports excluded): torch file {file_build * 1e3:.0f} ms, "
          f"sample {sample_build * 1e3:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
