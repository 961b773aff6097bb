"""ResNet-18 forward and backward on CPU: paramtool vs PyTorch, same weights, same input.

The sample ``sample_models/resnet.py`` runs on paramtool; PyTorch runs the same file with its two
import lines switched to ``torch`` (``tests/fixtures/resnet_cases.py``), both in eval mode for
the forward (inference) and in training mode for backward (the time of ``loss.backward()``
after a forward, cross-entropy loss). The two libraries' runs alternate; each figure is the
median (and the fastest) of ``--repeat`` runs after a warm-up; the ratio is PyTorch's time over
paramtool's (1.0 = as fast; the targets are >= 0.5 for
forward, >= 0.3 for backward). Needs torch.

    PYTHONPATH=. python benchmarks/bench_conv.py [--batch 1] [--size 224] [--repeat 7] [--threads N]

``--threads N`` runs both libraries on N threads (the script restarts itself with
``OPENBLAS_NUM_THREADS=N`` for numpy's BLAS, and sets torch's thread count).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import paramtool

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures"))
import resnet_cases  # noqa: E402

TARGETS = {"forward": 0.5, "backward": 0.3}


def interleaved(calls: tuple[Callable[[], float], ...], repeat: int) -> list[list[float]]:
    """Seconds of each run of each timing call, the calls alternating run by run (after a
    warm-up) so that both libraries see the same machine load."""
    for call in calls:
        call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for i, call in enumerate(calls):
            times[i].append(call())
    return times


def timed(call: Callable[[], object]) -> Callable[[], float]:
    """A call returning its own wall time."""

    def run() -> float:
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    return run


def timed_backward(forward: Callable[[], object]) -> Callable[[], float]:
    """A call running a forward untimed, then returning the wall time of its ``backward()``."""

    def run() -> float:
        loss = forward()
        start = time.perf_counter()
        loss.backward()
        return time.perf_counter() - start

    return run


def build(backend: str, lib: object, state: dict) -> object:
    sample = resnet_cases.load_sample(backend)
    model = sample.build_model("resnet18")
    model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads and os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)  # read when numpy loads BLAS
        os.execv(sys.executable, [sys.executable, *sys.argv])
    import torch  # noqa: PLC0415 - the reference

    if args.threads:
        torch.set_num_threads(args.threads)

    sample = resnet_cases.load_sample("torch")
    shapes = {k: tuple(v.shape) for k, v in sample.build_model("resnet18").state_dict().items()}
    state = resnet_cases.seeded_state(shapes, 0)
    x = np.random.default_rng(0).standard_normal((args.batch, 3, args.size, args.size))
    x = x.astype(np.float32)
    target = [1] * args.batch
    ours, theirs = build("paramtool", paramtool, state), build("torch", torch, state)
    px, tx = paramtool.tensor(x), torch.tensor(x)
    pt, tt = paramtool.tensor(target), torch.tensor(target)
    results = {}
    ours.eval(), theirs.eval()
    with paramtool.no_grad(), torch.no_grad():
        results["forward"] = interleaved((timed(lambda: ours(px)), timed(lambda: theirs(tx))),
                                         args.repeat)  # fmt: skip
    ours.train(), theirs.train()
    results["backward"] = interleaved(
        (timed_backward(lambda: paramtool.nn.functional.cross_entropy(ours(px), pt)),
         timed_backward(lambda: torch.nn.functional.cross_entropy(theirs(tx), tt))),
        args.repeat,
    )  # fmt: skip
    print(f"ResNet-18, input {args.batch}x3x{args.size}x{args.size}, float32, CPU, "
          f"median of {args.repeat}; torch {torch.__version__} with {torch.get_num_threads()} threads")  # fmt: skip
    print("(ratio = torch time / paramtool time; 'best' uses each side's fastest run, which a "
          "loaded machine disturbs least)")  # fmt: skip
    print(f"{'pass':<10}{'paramtool ms':>14}{'torch ms':>10}{'ratio':>7}"
          f"{'best pt ms':>12}{'best torch':>12}{'ratio':>7}{'target':>8}")  # fmt: skip
    for name, (ours_s, theirs_s) in results.items():
        p, t = statistics.median(ours_s), statistics.median(theirs_s)
        bp, bt = min(ours_s), min(theirs_s)
        print(f"{name:<10}{p * 1e3:>14.1f}{t * 1e3:>10.1f}{t / p:>7.2f}"
              f"{bp * 1e3:>12.1f}{bt * 1e3:>12.1f}{bt / bp:>7.2f}{TARGETS[name]:>8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
