"""Model sources by name: ``torchvision:NAME``, ``timm:NAME``, ``hf:PATH``.

Without the library, a source is one line saying what to install (exit 1); that part runs in
CI. With PyTorch and torchvision, timm and transformers installed (a local check, skipped in
CI), the tables paramtool gives are compared with the torch models' own: state_dict names in
order, shapes, dtypes, requires_grad, buffers and their persistence, and ties by identity; and
an init + export of ``torchvision:resnet50`` loads into torchvision's resnet50 with strict=True.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from paramtool.errors import ModelLoadError
from paramtool.models.sources import (
    absolute_target,
    is_model_target,
    open_model,
    source_kind,
    target_label,
)
from tests.cli_support import invoke, validate

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "sample_models" / "configs"
LLAMA_7B = ROOT / "tests" / "data" / "hf_configs" / "llama-2-7b"


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def test_sources_are_told_by_prefix() -> None:
    assert source_kind("torchvision:resnet50") == "torchvision"
    assert source_kind("timm:vit_base_patch16_224") == "timm"
    assert source_kind("hf:configs/gpt2.json") == "hf"
    assert source_kind("model.py") is None
    assert source_kind("hf:") is None  # nothing named
    assert source_kind("keras:resnet") is None
    assert is_model_target("hf:x") and is_model_target("model.py")
    assert not is_model_target("model.safetensors")


def test_absolute_targets_keep_the_prefix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_target("timm:convnext_tiny") == "timm:convnext_tiny"
    assert absolute_target("hf:cfg/config.json") == f"hf:{tmp_path / 'cfg' / 'config.json'}"
    assert absolute_target("model.py") == str(tmp_path / "model.py")


def test_targets_are_labelled_shortly() -> None:
    """The label export records as the source model in ``__metadata__``."""
    assert target_label("sample_models/gpt2.py") == "gpt2.py"
    assert target_label("torchvision:resnet50") == "torchvision:resnet50"
    assert target_label(f"hf:{LLAMA_7B}") == "hf:llama-2-7b"
    assert target_label(f"hf:{LLAMA_7B / 'config.json'}") == "hf:llama-2-7b/config.json"


def test_model_file_options_do_not_apply_to_sources() -> None:
    with pytest.raises(ModelLoadError, match="--entry/--config apply to model files"):
        open_model("timm:resnet18", entry="net")


@pytest.mark.skipif(_installed("torchvision"), reason="torchvision is installed")
def test_a_source_without_its_library_says_what_to_install() -> None:
    result = invoke("inspect", "torchvision:resnet50")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "torchvision" in lines[0] and "pip install torch torchvision" in lines[0]


@pytest.mark.skipif(_installed("transformers"), reason="transformers is installed")
def test_an_hf_source_without_transformers_says_what_to_install() -> None:
    result = invoke("inspect", f"hf:{CONFIGS / 'gpt2.json'}", "--memory")
    assert result.exit_code == 1
    assert "pip install torch transformers" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- the local acceptance check: PyTorch's own tables ------------------------------------------

needs_ecosystem = pytest.mark.skipif(
    not all(_installed(n) for n in ("torch", "torchvision", "timm", "transformers")),
    reason="needs torch, torchvision, timm and transformers",
)


def _torch_model(source: str) -> Any:
    """The reference: the torch model built directly with its library, on meta."""
    import torch

    kind, _, name = source.partition(":")
    with torch.device("meta"):
        if kind == "torchvision":
            import torchvision

            return getattr(torchvision.models, name)()
        if kind == "timm":
            import timm

            return timm.create_model(name)
        import transformers

        path = Path(name)
        data = json.loads((path / "config.json" if path.is_dir() else path).read_text())
        config = transformers.AutoConfig.for_model(**data)
        if "Masked" in data["architectures"][0]:
            return transformers.AutoModelForMaskedLM.from_config(config)
        return transformers.AutoModelForCausalLM.from_config(config)


def _table(model: Any) -> dict[str, Any]:
    """PyTorch's table: what ``inspect --json`` must give."""
    state = model.state_dict(keep_vars=True)
    params = dict(model.named_parameters(remove_duplicate=False))
    buffers = dict(model.named_buffers(remove_duplicate=False))
    groups: dict[int, list[str]] = {}
    for name, tensor in {**params, **buffers}.items():
        groups.setdefault(id(tensor), []).append(name)
    return {
        "state_dict": [(n, list(t.shape), str(t.dtype)[6:]) for n, t in state.items()],
        "trainable": {n: p.requires_grad for n, p in params.items()},
        "buffers": {n: n in state for n in buffers},
        "ties": sorted(sorted(names) for names in groups.values() if len(names) > 1),
        "unique": sum(p.numel() for p in model.parameters()),
    }


def _ours(data: dict[str, Any]) -> dict[str, Any]:
    rows = data["tensors"]
    return {
        "state_dict": [(t["name"], t["shape"], t["dtype"]) for t in rows if t["persistent"]],
        "trainable": {t["name"]: t["trainable"] for t in rows if t["kind"] == "parameter"},
        "buffers": {t["name"]: t["persistent"] for t in rows if t["kind"] == "buffer"},
        "ties": sorted(sorted(names) for names in data["ties"]),
        "unique": data["totals"]["parameters"],
    }


SOURCES = [
    ("torchvision:resnet50", 25_557_032),
    ("torchvision:vit_b_16", 86_567_656),
    ("timm:convnext_tiny", 28_589_128),
    ("timm:vit_base_patch16_224", 86_567_656),
    (f"hf:{CONFIGS / 'gpt2.json'}", 124_439_808),
    (f"hf:{CONFIGS / 'bert-base-uncased.json'}", None),
    (f"hf:{LLAMA_7B}", 6_738_415_616),
]


@needs_ecosystem
@pytest.mark.parametrize(("source", "published"), SOURCES, ids=[s for s, _ in SOURCES])
def test_a_source_gives_pytorchs_table(source: str, published: int | None) -> None:
    result = invoke("inspect", source, "--json")
    assert result.exit_code == 0, result.output
    ours = _ours(validate(result.stdout, "inspect"))
    reference = _torch_model(source)
    assert ours == _table(reference)
    assert repr(open_model(source)) == repr(reference)
    if published is not None:
        assert ours["unique"] == published


@needs_ecosystem
def test_gpt2_ties_the_head_as_transformers_does() -> None:
    data = json.loads(invoke("inspect", f"hf:{CONFIGS / 'gpt2.json'}", "--json").stdout)
    assert data["ties"] == [["transformer.wte.weight", "lm_head.weight"]]


@needs_ecosystem
def test_hf_load_conventions_carry_over(tmp_path: Path) -> None:
    """GPT2LMHeadModel lets a checkpoint hold the old ``attn.bias`` masks and lack the tied
    head: both are listed as ignored, and a strict load passes."""
    from safetensors.numpy import load_file, save_file

    gpt2 = f"hf:{CONFIGS / 'gpt2.json'}"
    out = tmp_path / "gpt2.safetensors"
    result = invoke("export", out, "--model", gpt2, "--arg", "n_layer=1", "--scheme", "normal")
    assert result.exit_code == 0, result.output
    state = load_file(str(out))
    state["transformer.h.0.attn.bias"] = np.ones((1, 1, 4, 4), dtype=np.float32)
    save_file(state, str(tmp_path / "old.safetensors"))
    check = invoke("load", gpt2, tmp_path / "old.safetensors", "--arg", "n_layer=1", "--json")
    assert check.exit_code == 0, check.output
    assert json.loads(check.stdout)["ignored_unexpected"] == ["transformer.h.0.attn.bias"]


@needs_ecosystem
def test_hf_args_set_config_attributes() -> None:
    result = invoke("inspect", f"hf:{LLAMA_7B}", "--arg", "num_hidden_layers=2", "--json")
    assert result.exit_code == 0, result.output
    names = [t["name"] for t in json.loads(result.stdout)["tensors"]]
    assert "model.layers.1.mlp.up_proj.weight" in names
    assert not any(n.startswith("model.layers.2.") for n in names)
    typo = invoke("inspect", f"hf:{LLAMA_7B}", "--arg", "num_hidden_layer=2")
    assert typo.exit_code == 1 and "LlamaConfig has no 'num_hidden_layer'" in typo.stderr


@needs_ecosystem
def test_memory_of_an_hf_config_is_the_hand_computation() -> None:
    """LLaMA-2-7B: 6,738,415,616 parameters; two float32 rotary tables of 64 values."""
    result = invoke("inspect", f"hf:{LLAMA_7B}", "--memory", "--json")
    memory = validate(result.stdout, "inspect")["memory"]
    params = 6_738_415_616
    assert memory["parameters"] == params and memory["buffer_bytes"] == 2 * 64 * 4
    by_dtype = {row["dtype"]: row for row in memory["by_dtype"]}
    assert by_dtype["float32"]["inference"] == 4 * params + 512
    assert by_dtype["int4"]["inference"] == params // 2 + 512
    assert by_dtype["bfloat16"]["training_adam"] == 16 * params + 512


@needs_ecosystem
def test_a_file_needing_torchvision_is_built_by_pytorch_under_auto(tmp_path: Path) -> None:
    import torchvision

    (tmp_path / "model.py").write_text(
        "import torch\nimport torchvision\n\n\n"
        "def build_model(num_classes=10):\n"
        "    return torchvision.models.resnet18(num_classes=num_classes)\n"
    )
    result = invoke("inspect", tmp_path / "model.py", "--arg", "num_classes=5", "--json")
    assert result.exit_code == 0, result.output
    assert "needs torchvision, which paramtool's core lacks: built with PyTorch" in result.stderr
    assert _ours(validate(result.stdout, "inspect")) == _table(
        torchvision.models.resnet18(num_classes=5)
    )
    refused = invoke("inspect", tmp_path / "model.py", "--torch", "paramtool")
    assert refused.exit_code == 1 and "pip install torch torchvision" in refused.stderr


@needs_ecosystem
def test_unknown_names_suggest_close_ones() -> None:
    result = invoke("inspect", "torchvision:resnet5")
    assert result.exit_code == 1
    assert "torchvision has no model 'resnet5'; did you mean resnet50" in result.stderr


@needs_ecosystem
def test_init_and_export_of_resnet50_load_into_torchvision_strictly(tmp_path: Path) -> None:
    import torch
    import torchvision
    from safetensors.torch import load_file

    out = tmp_path / "resnet50.safetensors"
    result = invoke("export", out, "--model", "torchvision:resnet50", "--seed", "0")
    assert result.exit_code == 0, result.output
    state = load_file(str(out))
    model = torchvision.models.resnet50()
    model.load_state_dict(state, strict=True)
    # paramtool's defaults for torch.nn layers: conv/linear U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    # batch norm weight 1, bias 0, running statistics 0 and 1
    fan_in = 64 * 3 * 3
    conv = state["layer1.0.conv2.weight"]
    assert float(conv.abs().max()) <= fan_in**-0.5
    assert abs(float(conv.std()) - (fan_in**-0.5) / 3**0.5) < 1e-3
    assert torch.equal(state["bn1.running_var"], torch.ones(64))
    assert int(state["bn1.num_batches_tracked"]) == 0
    init = invoke("init", "torchvision:resnet50", "--seed", "0", "--json")
    assert init.exit_code == 0, init.output
    rows = {row["name"]: row for row in json.loads(init.stdout)["parameters"]}
    assert rows["fc.weight"]["recipe"].startswith("uniform")
    assert os.path.getsize(out) > 4 * 25_557_032
    same = invoke("diff", "torchvision:resnet50", out, "--seed", "0")
    assert same.exit_code == 0 and same.stdout.strip().endswith("same"), same.output
