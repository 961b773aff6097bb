"""The sample models against published parameter counts, Hugging Face / torchvision / timm names
and PyTorch's own view of the same files (tests/fixtures/sample_models_torch.json, recorded by
tests/fixtures/record_sample_counts.py with ``paramtool`` standing for ``torch``)."""

from __future__ import annotations

import ast
import importlib.util
import json
import time
import tracemalloc
from functools import cache
from pathlib import Path

import pytest

import paramtool
from paramtool import nn

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_models"
TORCH = json.loads((Path(__file__).parent / "fixtures" / "sample_models_torch.json").read_text())
MODELS = TORCH["models"]

# Published parameter counts (tied weights counted once): torchvision's model table, the Hugging
# Face model cards / papers, timm's model table; the three small nets are counted by hand.
PUBLISHED = {
    "mlp": 4 * 3 + 3 + 3 * 1 + 1,
    "shared_pair": 8 * 8 + 8,
    "shared_middle": (4 * 8 + 8) + (8 * 8 + 8) + (8 * 1 + 1),
    "sge": 2 * 64,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "gpt2": 124_439_808,
    "bert": 109_482_240,
    "llama7b": 6_738_415_616,
    "llama70b": 68_976_648_192,
    "vit_b_16": 86_567_656,
}

# Names and shapes from the reference implementations' state_dicts.
REFERENCE_ENTRIES = [
    ("mlp", "2.weight", (1, 3)),
    ("sge", "weight", (1, 64, 1, 1)),
    ("resnet18", "layer2.0.downsample.0.weight", (128, 64, 1, 1)),
    ("resnet18", "layer4.1.bn2.num_batches_tracked", ()),
    ("resnet50", "layer4.2.conv3.weight", (2048, 512, 1, 1)),
    ("resnet50", "fc.weight", (1000, 2048)),
    ("gpt2", "transformer.h.0.attn.c_attn.weight", (768, 2304)),  # Conv1D: (in, out)
    ("gpt2", "transformer.h.11.mlp.c_proj.weight", (3072, 768)),
    ("gpt2", "transformer.wpe.weight", (1024, 768)),
    ("gpt2", "lm_head.weight", (50257, 768)),
    ("bert", "embeddings.word_embeddings.weight", (30522, 768)),
    ("bert", "encoder.layer.0.attention.self.query.weight", (768, 768)),
    ("bert", "encoder.layer.11.output.LayerNorm.bias", (768,)),
    ("bert", "pooler.dense.weight", (768, 768)),
    ("llama7b", "model.layers.31.mlp.gate_proj.weight", (11008, 4096)),
    ("llama7b", "model.norm.weight", (4096,)),
    ("llama70b", "model.layers.79.self_attn.k_proj.weight", (1024, 8192)),  # 8 kv heads x 128
    ("llama70b", "model.layers.0.self_attn.q_proj.weight", (8192, 8192)),
    ("llama70b", "lm_head.weight", (32000, 8192)),
    ("vit_b_16", "cls_token", (1, 1, 768)),
    ("vit_b_16", "pos_embed", (1, 197, 768)),
    ("vit_b_16", "patch_embed.proj.weight", (768, 3, 16, 16)),
    ("vit_b_16", "blocks.11.attn.qkv.weight", (2304, 768)),
]

# Buffers the reference libraries keep out of the state_dict (persistent=False).
NON_PERSISTENT = {
    "bert": ["embeddings.position_ids"],
    "llama7b": ["model.rotary_emb.inv_freq"],
}


def load_sample(filename: str):
    """Import a sample model file as a fresh module."""
    spec = importlib.util.spec_from_file_location(
        f"sample_{Path(filename).stem}", SAMPLES / filename
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def build(label: str) -> nn.Module:
    """The sample model ``label`` of the fixture, built (deferred) with paramtool."""
    entry = MODELS[label]
    return load_sample(entry["file"]).build_model(**entry["kwargs"])


def unique_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tie_groups(model: nn.Module) -> list[list[str]]:
    by_id: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        by_id.setdefault(id(p), []).append(name)
    return [names for names in by_id.values() if len(names) > 1]


@pytest.mark.parametrize("label", list(PUBLISHED))
def test_unique_parameter_count_is_the_published_one(label):
    assert unique_parameters(build(label)) == PUBLISHED[label]


@pytest.mark.parametrize("label", list(MODELS))
def test_state_dict_names_and_shapes_match_pytorch(label):
    got = [[k, list(v.shape)] for k, v in build(label).state_dict().items()]
    assert got == MODELS[label]["state_dict"]


@pytest.mark.parametrize("label", list(MODELS))
def test_parameter_and_buffer_names_match_pytorch(label):
    model = build(label)
    assert [name for name, _ in model.named_parameters()] == MODELS[label]["parameters"]
    assert [name for name, _ in model.named_buffers()] == MODELS[label]["buffers"]


@pytest.mark.parametrize("label", list(MODELS))
def test_tie_groups_match_pytorch(label):
    assert tie_groups(build(label)) == MODELS[label]["tie_groups"]


@pytest.mark.parametrize(("label", "name", "shape"), REFERENCE_ENTRIES)
def test_reference_names_and_shapes(label, name, shape):
    assert tuple(build(label).state_dict()[name].shape) == shape


@pytest.mark.parametrize(("label", "names"), list(NON_PERSISTENT.items()))
def test_derived_buffers_stay_out_of_the_state_dict(label, names):
    model = build(label)
    buffers = dict(model.named_buffers())
    for name in names:
        assert name in buffers
        assert name not in model.state_dict()


def test_gpt2_head_is_the_token_embedding():
    model = build("gpt2")
    assert model.lm_head.weight is model.transformer.wte.weight
    names = [name for name, _ in model.named_parameters()]
    assert "transformer.wte.weight" in names and "lm_head.weight" not in names
    assert tie_groups(model) == [["transformer.wte.weight", "lm_head.weight"]]


def test_llama_head_is_not_tied():
    model = build("llama7b")
    assert model.lm_head.weight is not model.model.embed_tokens.weight
    assert tie_groups(model) == []


@pytest.mark.parametrize(
    ("label", "groups"),
    [
        ("shared_pair", [["0.weight", "1.weight"], ["0.bias", "1.bias"]]),
        ("shared_middle", [["2.weight", "4.weight"], ["2.bias", "4.bias"]]),
    ],
)
def test_shared_nets_reach_one_layer_by_two_names(label, groups):
    model = build(label)
    first, second = (int(g.split(".")[0]) for g in groups[0])
    assert model[first] is model[second]
    assert tie_groups(model) == groups
    assert len(model.state_dict()) == len(list(model.named_parameters())) + len(groups)


def test_sge_parameters_start_at_zero():
    model = build("sge")
    for p in (model.weight, model.bias):
        assert isinstance(p, nn.Parameter)
        assert p.shape == (1, 64, 1, 1)
        assert not p.numpy().any()


# --- accepting the reference implementations' config files --------------------------------------

# The config.json files of meta-llama/Llama-2-70b-hf, openai-community/gpt2 and
# google-bert/bert-base-uncased on the Hugging Face Hub (keys as published).
LLAMA2_70B_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 8192,
    "initializer_range": 0.02,
    "intermediate_size": 28672,
    "max_position_embeddings": 4096,
    "model_type": "llama",
    "num_attention_heads": 64,
    "num_hidden_layers": 80,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "transformers_version": "4.31.0.dev0",
    "use_cache": True,
    "vocab_size": 32000,
}
GPT2_CONFIG = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1,
    "bos_token_id": 50256,
    "embd_pdrop": 0.1,
    "eos_token_id": 50256,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_layer": 12,
    "n_positions": 1024,
    "resid_pdrop": 0.1,
    "summary_activation": None,
    "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True,
    "summary_type": "cls_index",
    "summary_use_proj": True,
    "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
    "vocab_size": 50257,
}
BERT_CONFIG = {
    "architectures": ["BertForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "gradient_checkpointing": False,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "transformers_version": "4.6.0.dev0",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": 30522,
}


@pytest.mark.parametrize(
    ("filename", "config", "label"),
    [
        ("llama.py", LLAMA2_70B_CONFIG, "llama70b"),
        ("gpt2.py", GPT2_CONFIG, "gpt2"),
        ("bert.py", BERT_CONFIG, "bert"),
    ],
)
def test_hub_config_json_builds_the_published_model(tmp_path, filename, config, label):
    from paramtool.loader import load_model, read_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    model = load_model(SAMPLES / filename, config=read_config(path))
    assert unique_parameters(model) == PUBLISHED[label]
    assert [k for k in model.state_dict()] == [k for k, _ in MODELS[label]["state_dict"]]


def test_arguments_override_the_size_preset():
    module = load_sample("llama.py")
    model = module.build_model(size="70b", num_hidden_layers=2)
    per_layer = (PUBLISHED["llama70b"] - 2 * 32000 * 8192 - 8192) // 80
    assert unique_parameters(model) == 2 * 32000 * 8192 + 8192 + 2 * per_layer


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown size '7B'"):
        load_sample("llama.py").build_model(size="7B")


# --- deferred construction -----------------------------------------------------------------------


def test_llama70b_construction_allocates_no_parameter_memory():
    module = load_sample("llama.py")
    module.build_model(size="70b", num_hidden_layers=1)  # warm the imports and caches
    tracemalloc.start()
    start = time.perf_counter()
    model = module.build_model(size="70b")
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    params = list(model.parameters())
    assert all(p.is_deferred for p in params)
    # 69e9 parameters are 138 GB in float16; book-keeping for 723 tensors is a few MB at most.
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert seconds < 5.0, f"took {seconds:.2f} s"


def test_sample_files_import_only_paramtool_and_the_standard_library():
    allowed = {"paramtool", "dataclasses", "math", "__future__"}
    for path in sorted(SAMPLES.glob("*.py")):
        tree = ast.parse(path.read_text())
        roots = {
            (alias.name if isinstance(node, ast.Import) else node.module).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else node.names[:1])
        }
        assert roots <= allowed, f"{path.name} imports {sorted(roots - allowed)}"


def test_every_sample_has_a_build_model_entry_point():
    for path in sorted(SAMPLES.glob("*.py")):
        assert callable(getattr(load_sample(path.name), "build_model", None)), path.name


def test_paramtool_is_the_namespace_under_test():
    # The samples must be built by paramtool here, never by a torch that happens to be installed.
    assert isinstance(build("mlp"), paramtool.nn.Module)
