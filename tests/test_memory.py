"""Memory estimates against hand computations from the published architectures.

GPT-2 small (Radford et al. 2019): vocabulary V = 50257, 1024 positions, width d = 768,
12 blocks of 12 d^2 + 13 d parameters, a final LayerNorm, and the output head tied to the token
embedding (counted once). LLaMA-2-7B (Touvron et al. 2023): V = 32000, d = 4096, SwiGLU width
11008, 32 layers of 4 d^2 + 3 d * 11008 + 2 d, a final RMSNorm, an untied head, and a
non-persistent float32 buffer of 64 rotary inverse frequencies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from paramtool.report import open_inventory
from paramtool.report.memory import estimate_memory

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"

V, D, L = 50257, 768, 12
GPT2 = V * D + 1024 * D + L * (12 * D * D + 13 * D) + 2 * D
LV, LD, LI, LL = 32000, 4096, 11008, 32
LLAMA = 2 * LV * LD + LL * (4 * LD * LD + 3 * LD * LI + 2 * LD) + LD
LLAMA_BUFFER = (LD // 32 // 2) * 4  # inv_freq: head_dim / 2 float32 values


def test_hand_counts_match_published_totals() -> None:
    assert GPT2 == 124_439_808  # the GPT-2 small count, head tied
    assert LLAMA == 6_738_415_616  # the LLaMA-2-7B count


@pytest.fixture(scope="module")
def gpt2():
    return estimate_memory(open_inventory(SAMPLES / "gpt2.py"))


@pytest.fixture(scope="module")
def llama():
    return estimate_memory(open_inventory(SAMPLES / "llama.py"))


def test_gpt2_counts_the_tied_head_once(gpt2) -> None:
    assert (gpt2.parameters, gpt2.trainable, gpt2.buffer_bytes) == (GPT2, GPT2, 0)
    assert gpt2.inference("float32") == 4 * GPT2 == 497_759_232
    assert gpt2.inference("bfloat16") == gpt2.inference("float16") == 2 * GPT2
    assert gpt2.inference("int8") == GPT2
    assert gpt2.inference("int4") == GPT2 // 2
    # Adam in float32: weights 4 + gradients 4 + two moments 8 bytes per parameter
    assert gpt2.training("float32") == 16 * GPT2
    # mixed precision: half weights 2 + half gradients 2 + float32 master 4 + moments 8
    assert gpt2.training("bfloat16") == (2 + 2 + 4 + 8) * GPT2
    assert gpt2.training("int8") is None


def test_gpt2_largest_layer_is_the_token_embedding(gpt2) -> None:
    largest = gpt2.largest_layer
    assert (largest.name, largest.parameters) == ("transformer.wte", V * D)
    assert largest.nbytes("float32") == 4 * V * D
    assert largest.nbytes("int4") == V * D // 2


def test_llama_7b(llama) -> None:
    assert (llama.parameters, llama.buffer_bytes) == (LLAMA, LLAMA_BUFFER)
    assert llama.inference("float32") == 4 * LLAMA + 256 == 26_953_662_720
    assert llama.inference("float16") == 2 * LLAMA + 256
    assert llama.inference("int4") == LLAMA // 2 + 256
    assert llama.training("float32") == 16 * LLAMA + 256
    assert llama.training("float16") == 16 * LLAMA + 256
    # the embedding and the untied head are the same size: the first one listed is named
    assert (llama.largest_layer.name, llama.largest_layer.parameters) == (
        "model.embed_tokens",
        LV * LD,
    )


def test_frozen_parameters_get_no_gradient_or_moments() -> None:
    from paramtool import nn
    from paramtool.report import from_module

    model = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 2))
    model[0].requires_grad_(False)
    estimate = estimate_memory(from_module(model))
    frozen, trainable = 110, 22
    assert (estimate.parameters, estimate.trainable) == (frozen + trainable, trainable)
    assert estimate.training("float32") == 4 * (frozen + trainable) + 12 * trainable
    assert estimate.training("bfloat16") == 2 * (frozen + trainable) + 14 * trainable


def test_int4_rounds_odd_counts_up_to_whole_bytes() -> None:
    from paramtool import nn
    from paramtool.report import from_module

    estimate = estimate_memory(from_module(nn.Linear(3, 1, bias=False)))
    assert estimate.inference("int4") == 2


def test_a_checkpoint_gives_the_model_estimate(tmp_path: Path) -> None:
    """From headers alone: floating-point tensors are parameters, integer ones buffers."""
    from paramtool import nn
    from paramtool.checkpoint import save_state_dict
    from paramtool.report import from_module

    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Embedding(5, 16))
    save_state_dict(model, tmp_path / "m.safetensors")
    from_file = estimate_memory(open_inventory(tmp_path / "m.safetensors"))
    expected = estimate_memory(from_module(model))
    # BatchNorm's float running statistics are buffers in the model, tensors in the file
    running = 2 * 16
    assert from_file.parameters == expected.parameters + running
    assert from_file.buffer_bytes == expected.buffer_bytes - 4 * running == 8
    assert from_file.inference("float32") == expected.inference("float32")
    assert (from_file.largest_layer.name, from_file.largest_layer.parameters) == ("0", 8 * 16 + 16)


def test_to_dict_lists_every_dtype(gpt2) -> None:
    data = gpt2.to_dict()
    assert [row["dtype"] for row in data["by_dtype"]] == [
        "float32",
        "bfloat16",
        "float16",
        "int8",
        "int4",
    ]
    assert data["largest_layer"] == {"name": "transformer.wte", "parameters": V * D}
    assert data["by_dtype"][0]["training_adam"] == 16 * GPT2


def test_inspect_memory_json_and_table() -> None:
    from tests.cli_support import invoke, validate

    result = invoke("inspect", SAMPLES / "gpt2.py", "--memory", "--json")
    assert result.exit_code == 0, result.output
    memory = validate(result.stdout, "inspect")["memory"]
    first = memory["by_dtype"][0]
    assert (first["dtype"], first["inference"], first["training_adam"]) == (
        "float32",
        4 * GPT2,
        16 * GPT2,
    )
    text = invoke("inspect", SAMPLES / "gpt2.py", "--memory").stdout
    lines = text.splitlines()
    assert lines[0].split() == ["dtype", "largest", "layer", "inference", "training", "(Adam)"]
    assert lines[1].split() == ["float32", "154.4", "MB", "497.8", "MB", "2.0", "GB"]
    assert lines[5].split() == ["int4", "19.3", "MB", "62.2", "MB", "-"]
    assert "largest layer: transformer.wte (38,597,376 params)" in text


def test_inspect_memory_of_a_checkpoint(tmp_path: Path) -> None:
    from paramtool.checkpoint import save_state_dict
    from paramtool.models.loader import load_model
    from tests.cli_support import invoke

    save_state_dict(load_model(SAMPLES / "mlp.py"), tmp_path / "mlp.safetensors")
    model = invoke("inspect", SAMPLES / "mlp.py", "--memory", "--json").stdout
    checkpoint = invoke("inspect", tmp_path / "mlp.safetensors", "--memory", "--json").stdout
    import json

    assert json.loads(model)["memory"] == json.loads(checkpoint)["memory"]
