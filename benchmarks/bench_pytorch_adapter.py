"""Benchmark the PyTorch adapter: what mirroring a meta-device model costs beside building it.

For each source whose library is installed (torchvision, timm, transformers), in one process:
the median time PyTorch takes to build the model on the meta device, the median time
``to_paramtool`` takes to mirror it and ``from_module`` to list it, their ratio, and the memory
the mirror allocates (tracemalloc peak). Library imports are done once, before timing, since
they cost the same with or without paramtool. Needs PyTorch; run it in a venv that has it:

    python benchmarks/bench_pytorch_adapter.py [--runs N]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOURCES = [
    "torchvision:resnet50",
    "timm:vit_base_patch16_224",
    f"hf:{ROOT / 'sample_models' / 'configs' / 'gpt2.json'}",
    f"hf:{ROOT / 'sample_models' / 'configs' / 'llama-2-70b-hf.json'}",
]


def median_seconds(func: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    from paramtool.models.pytorch import to_paramtool
    from paramtool.models.sources import build_source
    from paramtool.report import from_module

    print(f"{'source':<28} {'torch meta':>11} {'mirror':>9} {'list':>8} {'ratio':>6} {'alloc':>9}")
    for source in SOURCES:
        package = {"hf": "transformers"}.get(source.partition(":")[0], source.partition(":")[0])
        if importlib.util.find_spec(package) is None:
            print(f"{source:<28} skipped: {package} is not installed")
            continue
        build_source(source)  # imports the library once
        built, model = median_seconds(lambda s=source: build_source(s), runs)
        mirrored, mirror = median_seconds(lambda m=model: to_paramtool(m), runs)
        listed, inventory = median_seconds(lambda m=mirror: from_module(m), runs)
        tracemalloc.start()
        to_paramtool(model)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        name = source if len(source) < 28 else "hf:" + Path(source[3:]).name
        ratio = (mirrored + listed) / built
        print(
            f"{name:<28} {built * 1e3:>9.0f}ms {mirrored * 1e3:>7.0f}ms {listed * 1e3:>6.0f}ms "
            f"{ratio:>6.2f} {peak / 1e6:>7.1f}MB  ({inventory.totals.parameters:,} parameters)"
        )


if __name__ == "__main__":
    main()
