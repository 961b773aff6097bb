"""Converting a float32 ``torch.save`` file to safetensors: paramtool against PyTorch.

Writes a ``.bin`` of SIZE (default 1 GB; 4096 x 4096 float32 tensors, as a model's layers) with
``torch.save``, then times, as whole processes, in alternation:

- PyTorch: ``torch.load(weights_only=True)`` then ``safetensors.torch.save_file``;
- paramtool: ``paramtool convert IN OUT`` (no PyTorch imported).

Prints each side's median wall time and peak RSS (from ``wait4``) over the runs, the speed
ratio (PyTorch time / paramtool time: above 1.0 means paramtool is faster), and checks that
both outputs hold the same bytes. Needs torch and safetensors (run it in an environment with both).

    python benchmarks/bench_convert.py [--size-mb 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRITE = """
import sys, torch
side, count = 4096, int(sys.argv[2])
generator = torch.Generator().manual_seed(0)
state = {f"layers.{i}.weight": torch.randn(side, side, generator=generator) for i in range(count)}
torch.save(state, sys.argv[1])
"""

TORCH_SIDE = """
import sys, torch
from safetensors.torch import save_file
state = torch.load(sys.argv[1], weights_only=True)
save_file(state, sys.argv[2])
"""


def write_checkpoint(path: Path, size_mb: int) -> None:
    """Written by a child process: a forked child starts with its parent's peak RSS, so this
    process stays small and the figures measured from ``wait4`` are the children's own."""
    count = max(1, round(size_mb * 2**20 / (4096 * 4096 * 4)))
    subprocess.run([sys.executable, "-c", WRITE, str(path), str(count)], check=True)


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def data_digest(path: Path) -> str:
    """SHA-256 of every tensor's bytes, in name order (headers may order them differently)."""
    from safetensors import safe_open

    digest = hashlib.sha256()
    with safe_open(str(path), framework="numpy") as f:
        for name in sorted(f.keys()):
            digest.update(name.encode())
            digest.update(f.get_tensor(name).tobytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as folder:
        source = Path(folder) / "pytorch_model.bin"
        write_checkpoint(source, options.size_mb)
        ours_out, torch_out = Path(folder) / "ours.safetensors", Path(folder) / "torch.safetensors"
        ours_cmd = [sys.executable, "-m", "paramtool", "convert", str(source), str(ours_out)]
        torch_cmd = [sys.executable, "-c", TORCH_SIDE, str(source), str(torch_out)]
        run(ours_cmd)  # warm the page cache for both sides alike
        ours, theirs = [], []
        for _ in range(options.runs):
            theirs.append(run(torch_cmd))
            ours.append(run(ours_cmd))
        same = data_digest(ours_out) == data_digest(torch_out)
        size = source.stat().st_size / 1e6
        t_ours = statistics.median(w for w, _ in ours)
        t_torch = statistics.median(w for w, _ in theirs)
        print(f"{size:.0f} MB float32 .bin, {options.runs} runs, medians (whole processes)")
        print(
            f"  torch.load + save_file  {t_torch:7.2f} s   peak RSS {max(r for _, r in theirs):7.0f} MB"
        )
        print(
            f"  paramtool convert       {t_ours:7.2f} s   peak RSS {max(r for _, r in ours):7.0f} MB"
        )
        print(f"  speed ratio (torch / paramtool): {t_torch / t_ours:.2f}x")
        print(f"  same tensor bytes: {same}")


if __name__ == "__main__":
    main()
