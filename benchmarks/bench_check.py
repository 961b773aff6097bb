"""``paramtool check`` as a whole process: wall time and peak memory (max RSS), streaming.

Each case runs ``python -m paramtool check ...`` in a fresh process ``--repeat`` times and
prints the median wall time and the median of the child's max RSS (``wait4``'s rusage), beside
the float32 size of the model's parameters: a check streams layer by layer, so its peak is
about the largest layer plus activations, not the model. With ``--torch`` (in an environment
with PyTorch) the same model is also run by PyTorch on the same batch shape with forward hooks
on every module, weights materialised up front, for the time and memory it needs.

    PYTHONPATH=. python benchmarks/bench_check.py [--case llama7b] [--repeat 3] [--torch]

Cases: ``llama7b`` (sample_models/llama.py default size, ``--input 1,16 --int``; target peak
RSS <= 2.5 GB while fp32 weights are 27 GB), ``gpt2`` (``--input 2,64 --int``), ``resnet18``
(``--input 2,3,224,224``); ``*_grad`` adds ``--grad`` (layers recomputed in the backward).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (model file, extra check arguments, target peak RSS in bytes or None)
CASES: dict[str, tuple[str, list[str], float | None]] = {
    "llama7b": ("sample_models/llama.py", ["--input", "1,16", "--int"], 2.5e9),
    "llama7b_grad": ("sample_models/llama.py", ["--input", "1,16", "--int", "--grad"], 2.5e9),
    "gpt2": ("sample_models/gpt2.py", ["--input", "2,64", "--int"], None),
    "gpt2_grad": ("sample_models/gpt2.py", ["--input", "2,64", "--int", "--grad"], None),
    "resnet18": ("sample_models/resnet.py", ["--input", "2,3,224,224"], None),
}


def run_process(command: list[str]) -> tuple[float, int, int]:
    """Run ``command``; its wall seconds, max RSS in bytes and exit status."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)


def model_bytes(model_file: str) -> int:
    """float32 bytes of the model's parameters (from the deferred model: nothing allocated)."""
    from paramtool.export import ModelRecipe, prepare  # noqa: PLC0415

    model = prepare(ModelRecipe(str(ROOT / model_file))).model
    return sum(p.numel() * 4 for p in model.parameters())


def bench_paramtool(case: str, repeat: int, seed: int) -> None:
    model_file, args, target = CASES[case]
    command = [sys.executable, "-m", "paramtool", "check", model_file, *args, "--seed", str(seed)]
    runs = [run_process(command) for _ in range(repeat)]
    failed = [code for _, _, code in runs if code != 0]
    if failed:
        raise SystemExit(f"{case}: paramtool check exited {failed[0]}")
    wall = statistics.median(r[0] for r in runs)
    rss = statistics.median(r[1] for r in runs)
    weights = model_bytes(model_file)
    verdict = "" if target is None else f"  target <= {target / 1e9:.1f} GB: " + (
        "met" if rss <= target else "MISSED"
    )  # fmt: skip
    print(
        f"{case:9} paramtool check: wall {wall:7.2f} s  max RSS {rss / 1e9:6.2f} GB  "
        f"(fp32 weights {weights / 1e9:6.2f} GB, RSS/weights {rss / weights:.3f}){verdict}"
    )


TORCH_SCRIPT = """
import importlib.util, sys, time, resource
import torch
sys.modules["paramtool"] = torch
sys.modules["paramtool.nn"] = torch.nn
spec = importlib.util.spec_from_file_location("m", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
shape, ints = [int(n) for n in sys.argv[2].split(",")], sys.argv[3] == "1"
start = time.perf_counter()
model = m.build_model().eval()
stats = []
for mod in model.modules():
    mod.register_forward_hook(lambda mod, a, out: stats.append(
        out.detach().double().std().item() if isinstance(out, torch.Tensor) else None))
x = torch.randint(0, 1000, shape) if ints else torch.randn(shape)
with torch.no_grad():
    model(x)
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def bench_torch(case: str, repeat: int) -> None:
    model_file, args, _ = CASES[case]
    shape = args[args.index("--input") + 1]
    command = [sys.executable, "-c", TORCH_SCRIPT, str(ROOT / model_file), shape,
               "1" if "--int" in args else "0"]  # fmt: skip
    runs = [run_process(command) for _ in range(repeat)]
    if any(code != 0 for _, _, code in runs):
        print(f"{case:9} torch (build + hooked forward): did not complete (out of memory?)")
        return
    wall = statistics.median(r[0] for r in runs)
    rss = statistics.median(r[1] for r in runs)
    print(f"{case:9} torch build + hooked forward: wall {wall:7.2f} s  max RSS {rss / 1e9:6.2f} GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch", action="store_true", help="also run PyTorch (not for llama7b)")
    options = parser.parse_args()
    for case in options.case or sorted(CASES):
        bench_paramtool(case, options.repeat, options.seed)
        if options.torch and not case.startswith("llama7b") and not case.endswith("_grad"):
            bench_torch(case, options.repeat)


if __name__ == "__main__":
    main()
