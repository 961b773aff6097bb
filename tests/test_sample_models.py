"""The sample models against published parameter counts, Hugging Face / torchvision / timm names
and PyTorch's own view of the same files (tests/fixtures/sample_models_torch.json, recorded by
tests/fixtures/record_sample_counts.py with ``paramtool`` standing for ``torch``)."""

from __future__ import annotations

import ast
import importlib.util
import json
import tracemalloc
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

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


@pytest.mark.parametrize("label", list(MODELS))
def test_printed_module_tree_matches_pytorch(label):
    assert repr(build(label)).splitlines() == MODELS[label]["repr"]


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


# --- default initialisation: the reference library's scheme, checked statistically --------------

TINY_GPT2 = {"n_layer": 3, "n_embd": 128, "n_head": 4, "vocab_size": 1000, "n_positions": 64}
TINY_VIT = {"depth": 1, "embed_dim": 192, "num_heads": 3}
TINY_LLAMA = {
    "num_hidden_layers": 1,
    "hidden_size": 256,
    "intermediate_size": 512,
    "vocab_size": 64,
}
# (file, kwargs, parameter, scipy distribution it must follow); None: a constant checked below.
INIT_CASES = [
    # HF GPT-2: N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 * n_layer)).
    ("gpt2.py", TINY_GPT2, "transformer.h.0.attn.c_attn.weight", stats.norm(0, 0.02)),
    ("gpt2.py", TINY_GPT2, "transformer.h.2.mlp.c_proj.weight", stats.norm(0, 0.02 / 6**0.5)),
    ("gpt2.py", TINY_GPT2, "transformer.wte.weight", stats.norm(0, 0.02)),
    # HF BERT: N(0, 0.02) for Linear and Embedding weights.
    (
        "bert.py",
        {"num_hidden_layers": 1},
        "encoder.layer.0.attention.self.key.weight",
        stats.norm(0, 0.02),
    ),
    (
        "bert.py",
        {"num_hidden_layers": 1},
        "embeddings.position_embeddings.weight",
        stats.norm(0, 0.02),
    ),
    # HF LLaMA: N(0, initializer_range).
    ("llama.py", TINY_LLAMA, "model.layers.0.mlp.down_proj.weight", stats.norm(0, 0.02)),
    # torchvision ResNet: kaiming_normal_(fan_out, relu): std = sqrt(2 / (out_channels * k * k)).
    ("resnet.py", {}, "conv1.weight", stats.norm(0, (2 / (64 * 7 * 7)) ** 0.5)),
    ("resnet.py", {}, "layer3.0.conv2.weight", stats.norm(0, (2 / (256 * 3 * 3)) ** 0.5)),
    # timm ViT: trunc_normal_(std=0.02) on the position embedding and every Linear.
    ("vit.py", TINY_VIT, "pos_embed", stats.truncnorm(-100, 100, 0, 0.02)),
    ("vit.py", TINY_VIT, "blocks.0.mlp.fc1.weight", stats.truncnorm(-100, 100, 0, 0.02)),
]
CONSTANT_CASES = [
    ("gpt2.py", TINY_GPT2, "transformer.h.1.ln_2.weight", 1.0),
    ("gpt2.py", TINY_GPT2, "transformer.h.1.attn.c_proj.bias", 0.0),
    ("bert.py", {"num_hidden_layers": 1}, "encoder.layer.0.output.LayerNorm.bias", 0.0),
    ("llama.py", TINY_LLAMA, "model.layers.0.input_layernorm.weight", 1.0),
    ("resnet.py", {}, "layer1.0.bn2.weight", 1.0),
    ("resnet.py", {"zero_init_residual": True}, "layer1.0.bn2.weight", 0.0),
    ("vit.py", TINY_VIT, "blocks.0.attn.qkv.bias", 0.0),
]


def materialized(filename: str, kwargs: dict, name: str) -> np.ndarray:
    model = load_sample(filename).build_model(**kwargs)
    tensor = model.get_parameter(name)
    return np.asarray(tensor.materialize(name=name, seed=0).numpy(), dtype=np.float64).ravel()


@pytest.mark.parametrize(("filename", "kwargs", "name", "dist"), INIT_CASES)
def test_default_init_follows_the_reference_scheme(filename, kwargs, name, dist):
    values = materialized(filename, kwargs, name)
    assert stats.kstest(values, dist.cdf).pvalue > 1e-3


@pytest.mark.parametrize(("filename", "kwargs", "name", "value"), CONSTANT_CASES)
def test_default_init_constants(filename, kwargs, name, value):
    assert np.all(materialized(filename, kwargs, name) == value)


# --- accepting the reference implementations' config files --------------------------------------

# sample_models/configs holds the config.json files of meta-llama/Llama-2-70b-hf,
# openai-community/gpt2 and google-bert/bert-base-uncased as published on the Hugging Face Hub.
CONFIGS = SAMPLES / "configs"


@pytest.mark.parametrize(
    ("filename", "config", "label"),
    [
        ("llama.py", "llama-2-70b-hf.json", "llama70b"),
        ("gpt2.py", "gpt2.json", "gpt2"),
        ("bert.py", "bert-base-uncased.json", "bert"),
    ],
)
def test_hub_config_json_builds_the_published_model(filename, config, label):
    from paramtool.models.loader import load_model, read_config

    model = load_model(SAMPLES / filename, config=read_config(CONFIGS / config))
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
    model = module.build_model(size="70b")  # its speed is measured by bench_construct.py
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    params = list(model.parameters())
    assert all(p.is_deferred for p in params)
    # 69e9 parameters are 138 GB in float16; book-keeping for 723 tensors is a few MB at most.
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"


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


@pytest.mark.parametrize(
    ("filename", "typo"),
    [
        ("llama.py", "num_layers"),
        ("gpt2.py", "n_layers"),
        ("bert.py", "num_layers"),
        ("vit.py", "dept"),
        ("resnet.py", "depth"),
    ],
)
def test_an_unknown_argument_is_an_error_not_silently_ignored(filename, typo):
    from paramtool.errors import ModelLoadError
    from paramtool.models.loader import load_model

    with pytest.raises(ModelLoadError, match=typo):
        load_model(SAMPLES / filename, args={typo: 2})


def test_config_keys_the_model_does_not_know_are_ignored_but_args_are_not():
    from paramtool.errors import ModelLoadError
    from paramtool.models.loader import load_model, read_config

    config = read_config(CONFIGS / "gpt2.json")  # holds architectures, task_specific_params, ...
    model = load_model(SAMPLES / "gpt2.py", config=config, args={"n_layer": 1})
    assert len(model.transformer.h) == 1
    with pytest.raises(ModelLoadError, match="not GPT2Config fields: architecturez"):
        load_model(SAMPLES / "gpt2.py", config=config, args={"architecturez": ["x"]})
