"""Forward and backward speed of whole models on the CPU: paramtool against PyTorch, same run.

GPT-2 small (``sample_models/gpt2.py``, 124M parameters, tied head) on 1 x 256 tokens: the same
file is built twice, once on paramtool and once on PyTorch (its imports rewritten), with the
same weights; each timing is the median of ``--repeat`` runs, paramtool and PyTorch
alternating so that both see the same machine load. Backward is the backward of the mean
log-sum-exp of the logits. Prints the medians, the speed ratios (PyTorch time / paramtool
time: 1.0 is as fast) and the largest difference of the logits.

    python benchmarks/bench_forward.py [--repeat 5] [--tokens 256] [--threads N]

Needs PyTorch (run it in an environment with both).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

import paramtool

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"


def load_sample(name: str, torch_module: bool) -> types.ModuleType:
    """A sample model file as a module, on paramtool or (imports rewritten) on PyTorch."""
    source = (SAMPLES / f"{name}.py").read_text()
    if torch_module:
        source = source.replace("import paramtool as torch", "import torch")
        source = source.replace("from paramtool import nn", "from torch import nn")
    module = types.ModuleType(f"{name}_{'torch' if torch_module else 'paramtool'}")
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, str(SAMPLES / f"{name}.py"), "exec"), module.__dict__)
    return module


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def gpt2_models(tokens: int) -> tuple[object, object, object, object]:
    """paramtool's and PyTorch's GPT-2 small with the same weights, and the token ids."""
    import torch  # noqa: PLC0415

    ours = load_sample("gpt2", False).build_model("gpt2").materialize(seed=0).eval()
    theirs = load_sample("gpt2", True).build_model("gpt2").eval()
    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state)
    ids = np.random.default_rng(0).integers(0, 50257, (1, tokens))
    return ours, theirs, paramtool.tensor(ids), torch.from_numpy(ids)


def bench_gpt2(repeat: int, tokens: int) -> dict[str, float]:
    """Median forward and backward seconds of both libraries and the logits' largest gap."""
    ours, theirs, ids, tids = gpt2_models(tokens)
    times: dict[str, list[float]] = {k: [] for k in ("pt_fwd", "th_fwd", "pt_bwd", "th_bwd")}
    gap = 0.0
    for i in range(repeat + 1):  # the first round warms up both
        for lib, model, x in (("pt", ours, ids), ("th", theirs, tids)):
            model.zero_grad()
            out: list[object] = []
            forward = timed(lambda m=model, x=x, o=out: o.append(m(x)))
            loss = out[0].logsumexp(-1).mean()
            backward = timed(loss.backward)
            if i:
                times[f"{lib}_fwd"].append(forward)
                times[f"{lib}_bwd"].append(backward)
            if lib == "pt":
                ours_logits = out[0].detach().numpy()
            else:
                gap = max(gap, float(np.abs(out[0].detach().numpy() - ours_logits).max()))
    result = {k: statistics.median(v) for k, v in times.items()}
    result["max_logit_gap"] = gap
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        sys.exit("bench_forward needs PyTorch installed beside paramtool")
    if args.threads:
        torch.set_num_threads(args.threads)
    r = bench_gpt2(args.repeat, args.tokens)
    print(f"GPT-2 small, 1 x {args.tokens} tokens, median of {args.repeat} (seconds)")
    for phase, target in (("fwd", 0.5), ("bwd", 0.3)):
        ratio = r[f"th_{phase}"] / r[f"pt_{phase}"]
        print(f"  {phase}: paramtool {r[f'pt_{phase}']:.3f}  torch {r[f'th_{phase}']:.3f}  "
              f"speed ratio {ratio:.2f}x (target >= {target}x)")  # fmt: skip
    print(f"  largest |logit difference|: {r['max_logit_gap']:.2e}")


if __name__ == "__main__":
    main()
