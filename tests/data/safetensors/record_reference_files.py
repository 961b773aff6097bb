"""Record files written by the reference ``safetensors.torch.save_model`` (needs torch).

Run from the repository root: ``python tests/data/safetensors/record_reference_files.py``.
Writes ``save_model_tied.safetensors`` (a small language model whose output layer is tied to its
embedding, saved by ``save_model``) and ``save_model_tied.json`` (PyTorch's state_dict names
and which of them share storage), read by ``tests/test_safetensors_state.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_model

HERE = Path(__file__).parent


class TinyLM(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(11, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.lm_head = torch.nn.Linear(4, 11, bias=False)
        self.lm_head.weight = self.embed.weight  # weight tying, as GPT-2 does


def main() -> None:
    torch.manual_seed(0)
    model = TinyLM()
    save_model(model, str(HERE / "save_model_tied.safetensors"))
    state = model.state_dict()
    shared = {
        name: other
        for name, tensor in state.items()
        for other, kept in state.items()
        if other < name and tensor.data_ptr() == kept.data_ptr()
    }
    record = {
        "torch_version": torch.__version__,
        "state_dict_keys": list(state),
        "shared": shared,
        "values": {name: tensor.tolist() for name, tensor in state.items()},
    }
    (HERE / "save_model_tied.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
