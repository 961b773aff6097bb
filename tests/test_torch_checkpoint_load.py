"""Loading torch.save checkpoints into models, with Hugging Face's load conventions.

``tiny_bert/pytorch_model.bin`` follows an older ``save_pretrained`` file: it stores
``embeddings.position_ids`` (int64), which the sample BERT keeps out of its state_dict and
declares ignorable, as transformers' BERT does.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from cli_support import MODELS, ROOT, invoke, validate, write_checkpoint

from paramtool.checkpoint import load_into, open_checkpoint
from paramtool.models.loader import load_model
from paramtool.nn.state_match import ignorable

FIXTURES = ROOT / "tests" / "fixtures" / "torch_checkpoints"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
BERT = FIXTURES / "tiny_bert"


def test_an_old_bert_file_loads_strictly_with_position_ids_ignored() -> None:
    result = invoke("load", ROOT / "sample_models/bert.py", BERT / "pytorch_model.bin", "--config", BERT / "config.json", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "load")
    assert data["ok"] and data["unexpected"] == [] and data["missing"] == []
    assert data["ignored_unexpected"] == ["embeddings.position_ids"]
    text = invoke("load", ROOT / "sample_models/bert.py", BERT, "--config", BERT / "config.json")
    assert "ignored, as the model declares (1):\n  embeddings.position_ids" in text.stdout


def test_load_state_dict_honours_the_declaration_and_loads_the_values() -> None:
    config = json.loads((BERT / "config.json").read_text())
    model = load_model(str(ROOT / "sample_models/bert.py"), config=config)
    result = load_into(model, BERT / "pytorch_model.bin", strict=True)
    assert list(result.unexpected_keys) == [] and list(result.missing_keys) == []
    stored = open_checkpoint(BERT).array("encoder.layer.1.output.dense.weight")
    np.testing.assert_array_equal(model.encoder.layer[1].output.dense.weight.numpy(), stored)


def test_without_the_declaration_the_name_is_unexpected() -> None:
    config = json.loads((BERT / "config.json").read_text())
    model = load_model(str(ROOT / "sample_models/bert.py"), config=config)
    type(model)._keys_to_ignore_on_load_unexpected = None
    try:
        result = load_into(model, BERT / "pytorch_model.bin", strict=False)
    finally:
        del type(model)._keys_to_ignore_on_load_unexpected
    assert list(result.unexpected_keys) == ["embeddings.position_ids"]


def test_tied_weights_keys_may_be_missing() -> None:
    llama = load_model(str(ROOT / "sample_models/llama.py"), args={"size": "7b"})
    missing, unexpected = ignorable(type(llama))
    assert [p.pattern for p in missing] == [r"^lm_head\.weight$"]
    assert any(p.search("model.layers.0.self_attn.rotary_emb.inv_freq") for p in unexpected)


def test_gpt2_mask_buffers_of_old_files_are_ignored(tmp_path: Path) -> None:
    args = ["--arg", "n_layer=1", "--arg", "n_embd=8", "--arg", "n_head=2", "--arg", "vocab_size=11", "--arg", "n_positions=5"]  # fmt: skip
    model = ROOT / "sample_models/gpt2.py"
    assert invoke("export", tmp_path / "g.safetensors", "--model", model, *args).exit_code == 0
    state = open_checkpoint(tmp_path / "g.safetensors").arrays()
    state = {k: np.ascontiguousarray(v) for k, v in state.items() if k != "lm_head.weight"}
    state["transformer.h.0.attn.bias"] = np.tril(np.ones((1, 1, 5, 5), np.float32))
    state["transformer.h.0.attn.masked_bias"] = np.array(-1e4, np.float32)
    write_checkpoint(tmp_path / "old.safetensors", state)
    result = invoke("load", model, tmp_path / "old.safetensors", *args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(data["ignored_unexpected"]) == ["transformer.h.0.attn.bias", "transformer.h.0.attn.masked_bias"]  # fmt: skip


def test_inspect_counts_float_parameters_and_integer_buffers_apart() -> None:
    result = invoke("inspect", BERT, "--json")
    assert result.exit_code == 0, result.output
    totals = json.loads(result.stdout)["totals"]
    tensors = EXPECTED["tiny_bert"]["tensors"]
    floats = sum(math.prod(t["shape"]) for t in tensors.values() if t["dtype"].startswith("float"))
    assert totals["parameters"] == floats
    assert totals["buffers"] == math.prod(tensors["embeddings.position_ids"]["shape"]) == 16
    text = invoke("inspect", BERT).stdout
    assert (
        f"parameters: {floats:,} (floating point)\nbuffers:    16 (integer and bool tensors)"
        in text
    )


def test_a_state_dict_loads_into_its_model_file() -> None:
    for target in ("tiny_lm.bin", "lightning.ckpt", "sharded"):
        result = invoke("load", MODELS / "tiny_lm.py", FIXTURES / target)
        assert result.exit_code == 0, (target, result.output)
        assert "load (strict): ok" in result.stdout


def test_inspect_lists_a_training_checkpoints_keys() -> None:
    result = invoke("inspect", FIXTURES / "lightning.ckpt", "--json")
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "inspect")
    assert data["key"] == "state_dict" and data["contents"]["epoch"] == "int 3"
    assert json.loads(data["metadata"]["hyper_parameters"])["name"] == "tiny"
    assert len(data["tensors"]) == 19
    text = invoke("inspect", FIXTURES / "lightning.ckpt").stdout
    assert "top-level keys (tensors read from 'state_dict'; pick another with --key):" in text
    assert "  optimizer_states: list of 1 entry, 54 tensors inside" in text
    wrong = invoke("inspect", FIXTURES / "lightning.ckpt", "--key", "optimizer_states")
    assert wrong.exit_code == 1
    assert wrong.stderr.strip().endswith("'optimizer_states' holds list of 1 entry, 54 tensors inside, not tensors")  # fmt: skip


def test_links_out_of_the_folder_need_follow_links(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes((FIXTURES / "tiny_lm.bin").read_bytes())
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "pytorch_model.bin").symlink_to(outside)
    refused = invoke("stats", folder)
    assert refused.exit_code == 1 and "--follow-links" in refused.stderr
    assert invoke("stats", folder, "--follow-links").exit_code == 0


def test_inspect_reports_views_sharing_a_storage() -> None:
    result = invoke("inspect", FIXTURES / "dtypes_legacy.pt", "--json")
    data = validate(result.stdout, "inspect")
    assert [sorted(g) for g in data["overlapping"]] == [["base", "column", "rows", "strided", "transposed"]]  # fmt: skip
    assert data["ties"] == [["tied_a", "tied_b"]]
    text = invoke("inspect", FIXTURES / "dtypes_legacy.pt").stdout
    assert "overlapping views of one storage: 1\n  base, " in text


def test_inspect_json_gives_pytorchs_names_shapes_and_dtypes() -> None:
    for name in ("dtypes_zip.pt", "dtypes_legacy.pt", "tiny_lm.bin", "lightning.ckpt", "sharded"):
        result = invoke("inspect", FIXTURES / name, "--json")
        assert result.exit_code == 0, result.output
        rows = {t["name"]: (t["shape"], t["dtype"]) for t in validate(result.stdout, "inspect")["tensors"]}  # fmt: skip
        expected = EXPECTED[name]["tensors"]
        assert rows == {n: (t["shape"], t["dtype"]) for n, t in expected.items()}, name
