"""Record PyTorch's view of the model files in this folder into ``reference.json``.

Each file is run with ``paramtool`` replaced by ``torch`` (the files are written against the
torch-shaped API), and the parameter table, counts and load-check answers PyTorch gives are
stored, so that the test suite can compare paramtool's reports against them without torch.

Run: ``python tests/data/models/record_reference.py`` (needs torch).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent
MODELS = {
    "mlp.py": "model",
    "tiny_lm.py": "build_model",
    "shared.py": "net",
    "single_class.py": "Net",
}
#: Names dropped from and added to the state_dict for the load-check record.
DROP = ("layers.1.attn.bias", "head.weight", "embed.weight")
EXTRA = ("layers.9.attn.weight",)


def run_with_torch(path: Path, entry: str) -> torch.nn.Module:
    sys.modules["paramtool"] = torch
    spec = importlib.util.spec_from_file_location(f"reference_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    obj = getattr(module, entry)
    return obj if isinstance(obj, torch.nn.Module) else obj()


def dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def table(model: torch.nn.Module) -> dict:
    params = list(model.named_parameters(remove_duplicate=False))
    buffers = list(model.named_buffers(remove_duplicate=False))
    unique = list(model.parameters())
    return {
        "parameters": [[n, list(p.shape), dtype(p), p.requires_grad] for n, p in params],
        "buffers": [[n, list(b.shape), dtype(b)] for n, b in buffers],
        "state_dict": list(model.state_dict()),
        "numel": sum(p.numel() for p in unique),
        "trainable": sum(p.numel() for p in unique if p.requires_grad),
        "buffer_numel": sum(b.numel() for b in model.buffers()),
        "modules": [[n, type(m).__name__] for n, m in model.named_modules(remove_duplicate=False)],
    }


def load_check(model: torch.nn.Module) -> dict:
    state = {k: v for k, v in model.state_dict().items() if k not in DROP}
    state.update({name: torch.zeros(8, 8) for name in EXTRA})
    state["layers.0.proj.weight"] = torch.zeros(4, 8)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        message = str(exc)
    state["layers.0.proj.weight"] = model.layers[0].proj.weight.detach().clone()
    result = model.load_state_dict(state, strict=False)
    return {
        "drop": list(DROP),
        "extra": list(EXTRA),
        "size_mismatch": "layers.0.proj.weight",
        "missing": list(result.missing_keys),
        "unexpected": list(result.unexpected_keys),
        "strict_error": message,
    }


def main() -> None:
    record = {"torch": torch.__version__, "models": {}}
    for file, entry in MODELS.items():
        record["models"][file] = table(run_with_torch(HERE / file, entry))
    record["load_check"] = load_check(run_with_torch(HERE / "tiny_lm.py", "build_model"))
    (HERE / "reference.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
