"""Checkpoints crossing to and from Hugging Face's layout.

``save_pretrained`` stores a tied tensor once and records nothing about the dropped name (GPT-2's
``lm_head.weight``). paramtool must still load such a file with strict=True and re-tie it. The
transformers tests (skipped where transformers is not installed) load paramtool's exports with
``from_pretrained`` and HF's saves with paramtool, both ways, with identical values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors.numpy import save_file as reference_save_file

from paramtool.checkpoint import fill_tied_names, load_file, load_into
from paramtool.cli import main
from paramtool.models.loader import load_model

SAMPLES = Path(__file__).resolve().parents[1] / "sample_models"
TINY_GPT2 = {"n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 100, "n_positions": 32}


def _hf_style_gpt2_file(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A GPT-2 file as save_pretrained writes it: lm_head.weight left out, no tie record."""
    model = load_model(SAMPLES / "gpt2.py", config=TINY_GPT2).materialize(seed=5)
    arrays = {k: v.numpy() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    path = tmp_path / "model.safetensors"
    reference_save_file(arrays, str(path), metadata={"format": "pt"})
    return path, arrays


def test_untracked_tie_is_filled_and_retied(tmp_path: Path) -> None:
    path, arrays = _hf_style_gpt2_file(tmp_path)
    model = load_model(SAMPLES / "gpt2.py", config=TINY_GPT2)
    result = load_into(model, path, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert model.lm_head.weight is model.transformer.wte.weight
    np.testing.assert_array_equal(model.lm_head.weight.numpy(), arrays["transformer.wte.weight"])


def test_fill_tied_names_adds_only_names_tied_in_the_model(tmp_path: Path) -> None:
    path, _ = _hf_style_gpt2_file(tmp_path)
    model = load_model(SAMPLES / "gpt2.py", config=TINY_GPT2)
    state = load_file(path)
    del state["transformer.ln_f.bias"]  # a real gap: nothing may paper over it
    filled = fill_tied_names(state, model)
    assert set(filled) - set(state) == {"lm_head.weight"}
    assert filled["lm_head.weight"] is state["transformer.wte.weight"]
    with pytest.raises(
        RuntimeError, match='Missing key\\(s\\) in state_dict: "transformer.ln_f.bias"'
    ):
        load_into(model, _rewrite(state, path), strict=True)


def _rewrite(state: dict, path: Path) -> Path:
    out = path.with_name("gap.safetensors")
    reference_save_file({k: np.ascontiguousarray(v.numpy()) for k, v in state.items()}, str(out))
    return out


def test_load_command_accepts_a_save_pretrained_file(tmp_path: Path) -> None:
    path, _ = _hf_style_gpt2_file(tmp_path)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_GPT2))
    result = CliRunner().invoke(
        main, ["load", str(SAMPLES / "gpt2.py"), str(path), "--config", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["missing"] == [] and report["unexpected"] == []
    assert ["transformer.wte.weight", "lm_head.weight"] in report["ties_restored"]


HF_CASES = {
    "gpt2": ("GPT2LMHeadModel", "GPT2Config", TINY_GPT2),
    "bert": ("BertModel", "BertConfig", {"num_hidden_layers": 2, "hidden_size": 64,
             "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}),
    "llama": ("LlamaForCausalLM", "LlamaConfig", {"num_hidden_layers": 2, "hidden_size": 64,
              "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
              "vocab_size": 100}),
}  # fmt: skip


@pytest.mark.parametrize("sample", sorted(HF_CASES))
def test_transformers_loads_paramtool_exports_and_back(sample: str, tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    model_cls, config_cls, kwargs = HF_CASES[sample]
    config = getattr(transformers, config_cls)(**kwargs)
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "config.json").write_text(config.to_json_string())
    result = CliRunner().invoke(
        main,
        ["export", str(ours / "model.safetensors"), "--model", str(SAMPLES / f"{sample}.py"),
         "--config", str(ours / "config.json"), "--seed", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    hf, info = getattr(transformers, model_cls).from_pretrained(ours, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    written = load_file(ours / "model.safetensors")
    for name, tensor in written.items():
        np.testing.assert_array_equal(hf.state_dict()[name].numpy(), tensor.numpy(), err_msg=name)

    theirs = tmp_path / "theirs"
    hf.save_pretrained(theirs)
    model = load_model(SAMPLES / f"{sample}.py", config=json.loads(config.to_json_string()))
    assert load_into(model, theirs / "model.safetensors", strict=True).missing_keys == []
    for name, tensor in model.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), hf.state_dict()[name].numpy(), err_msg=name)
