"""paramtool's layers against PyTorch's recorded tables (tests/fixtures/torch_layers.json).

Every definition in ``record_torch_layers.DEFINITIONS`` is run under
``import paramtool as torch; from paramtool import nn`` and its named_parameters (with and
without remove_duplicate), named_buffers, named_modules, state_dict, parameter count and repr
must equal what PyTorch recorded.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import paramtool
from paramtool import nn

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = json.loads((FIXTURES / "torch_layers.json").read_text())["definitions"]
TABLES = (
    "named_parameters",
    "named_parameters_all",
    "named_buffers",
    "named_modules",
    "state_dict",
    "parameter_count",
    "repr",
)


def _load_recorder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "record_torch_layers", FIXTURES / "record_torch_layers.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORDER = _load_recorder()


def build(name: str) -> Any:
    """Run definition ``name`` under paramtool and return its ``model``."""
    return RECORDER.build(name, paramtool, nn)


@functools.cache
def paramtool_tables(name: str) -> dict:
    return RECORDER.tables(build(name))


def test_recording_covers_every_definition() -> None:
    assert sorted(RECORDED) == sorted(RECORDER.DEFINITIONS)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("name", sorted(RECORDED))
def test_table_matches_pytorch(name: str, table: str) -> None:
    assert paramtool_tables(name)[table] == RECORDED[name][table]


def test_layers_stay_deferred() -> None:
    model = build("cnn_2d")
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and all(t.is_deferred for t in tensors)


def test_embedding_padding_row_is_zero_and_others_normal() -> None:
    emb = nn.Embedding(200, 32, padding_idx=-3)
    assert emb.padding_idx == 197
    assert emb.weight.is_deferred
    values = emb.weight.numpy()
    assert np.all(values[197] == 0)
    others = np.delete(values, 197, axis=0)
    assert np.count_nonzero(others) == others.size
    assert abs(others.mean()) < 0.05 and abs(others.std() - 1) < 0.05


def test_embedding_bag_padding_row_is_zero() -> None:
    bag = nn.EmbeddingBag(10, 4, padding_idx=2).materialize(seed=1)
    assert np.all(bag.weight.numpy()[2] == 0)
    assert np.count_nonzero(bag.weight.numpy()) == 9 * 4


def test_embedding_padding_row_on_a_real_weight() -> None:
    emb = nn.Embedding(6, 3, padding_idx=1)
    emb.weight.numpy()  # real from here on
    emb.reset_parameters()
    assert np.all(emb.weight.numpy()[1] == 0)
    assert np.count_nonzero(emb.weight.numpy()) == 5 * 3


@pytest.mark.parametrize("padding_idx", [10, -11])
def test_embedding_padding_idx_out_of_range(padding_idx: int) -> None:
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(10, 3, padding_idx=padding_idx)


def test_batchnorm_buffers_values() -> None:
    bn = nn.BatchNorm2d(5).materialize(seed=0)
    assert np.array_equal(bn.running_mean.numpy(), np.zeros(5, np.float32))
    assert np.array_equal(bn.running_var.numpy(), np.ones(5, np.float32))
    assert bn.num_batches_tracked.numpy().shape == ()
    assert bn.num_batches_tracked.dtype == paramtool.int64
    assert bn.num_batches_tracked.item() == 0
    assert np.array_equal(bn.weight.numpy(), np.ones(5, np.float32))
    assert np.array_equal(bn.bias.numpy(), np.zeros(5, np.float32))


def test_batchnorm_dtype_keeps_counter_int64() -> None:
    bn = nn.BatchNorm1d(3, dtype=paramtool.float64)
    assert bn.running_mean.dtype == paramtool.float64
    assert bn.num_batches_tracked.dtype == paramtool.int64


def test_layer_forward_not_implemented_names_the_layer() -> None:
    from paramtool.nn.layers._utils import Layer  # noqa: PLC0415

    class Holder(Layer):
        """A layer that defines no computation."""

    with pytest.raises(NotImplementedError, match="Holder.forward"):
        Holder()(paramtool.zeros(1, 1, 2, 2))


def test_identity_returns_its_input() -> None:
    x = paramtool.ones(2)
    assert nn.Identity(54, unused="argument")(x) is x


# PyTorch's errors for invalid constructor arguments (type and message).
ERRORS = [
    ("nn.Conv2d(4, 4, 3, groups=3)", ValueError, "in_channels must be divisible by groups"),
    ("nn.Conv2d(4, 6, 3, groups=4)", ValueError, "out_channels must be divisible by groups"),
    ("nn.Conv1d(2, 2, 3, groups=0)", ValueError, "groups must be a positive integer"),
    ("nn.Conv2d(2, 2, 3, padding='full')", ValueError, "Invalid padding string 'full'"),
    (
        "nn.Conv2d(2, 2, 3, stride=2, padding='same')",
        ValueError,
        "padding='same' is not supported for strided convolutions",
    ),
    ("nn.Conv2d(2, 2, 3, padding_mode='wrap')", ValueError, "padding_mode must be one of"),
    (
        "nn.ConvTranspose2d(2, 2, 3, padding_mode='reflect')",
        ValueError,
        'Only "zeros" padding mode is supported for ConvTranspose2d',
    ),
    (
        "nn.GroupNorm(4, 6)",
        ValueError,
        r"num_channels \(6\) must be divisible by num_groups \(4\)",
    ),
    ("nn.MultiheadAttention(10, 3)", AssertionError, "embed_dim must be divisible by num_heads"),
    ("nn.MultiheadAttention(0, 3)", ValueError, "embed_dim and num_heads must be greater than 0"),
    ("nn.LSTM(4, 3, proj_size=3)", ValueError, "proj_size has to be smaller than hidden_size"),
    ("nn.RNN(4, 3, nonlinearity='gelu')", ValueError, "Unknown nonlinearity 'gelu'"),
    ("nn.GRU(4, 3, dropout=1.5)", ValueError, "dropout should be a number in range"),
    ("nn.GRU(4, 0)", ValueError, "hidden_size must be greater than zero"),
    ("nn.Dropout(1.2)", ValueError, "dropout probability has to be between 0 and 1, but got 1.2"),
    (
        "nn.TransformerEncoderLayer(8, 2, activation='tanh')",
        RuntimeError,
        "activation should be relu/gelu, not tanh",
    ),
]


@pytest.mark.parametrize(("source", "error", "message"), ERRORS)
def test_invalid_arguments_raise_like_pytorch(source: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        eval(source, {"torch": paramtool, "nn": nn})


def test_embedding_from_pretrained_keeps_the_given_values() -> None:
    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    emb = nn.Embedding.from_pretrained(paramtool.from_numpy(values), padding_idx=1)
    assert emb.weight.requires_grad is False
    assert np.array_equal(emb.weight.numpy(), values)  # padding_idx does not zero a given weight
    assert repr(emb) == "Embedding(4, 3, padding_idx=1)"


def test_factory_kwargs_reach_every_parameter() -> None:
    model = nn.TransformerDecoderLayer(8, 2, 16, dtype=paramtool.float16)
    assert {p.dtype for p in model.parameters()} == {paramtool.float16}
    lstm = nn.LSTM(3, 4, proj_size=2, dtype=paramtool.bfloat16)
    assert {p.dtype for p in lstm.parameters()} == {paramtool.bfloat16}


@pytest.mark.skipif(paramtool.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_device_error() -> None:
    from paramtool.errors import DeviceError

    with pytest.raises(DeviceError, match="paramtool\\[cuda\\]"):
        nn.Linear(2, 2, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not paramtool.cuda.is_available(), reason="needs a CUDA GPU and cupy")
def test_layers_materialise_on_gpu() -> None:
    gpu = nn.Conv2d(3, 8, 3, device="cuda").materialize(seed=0)
    assert str(gpu.weight.device) == "cuda:0"
    bound = 1 / math.sqrt(3 * 3 * 3)
    weight = gpu.weight.cpu().numpy()
    assert weight.min() >= -bound and weight.max() <= bound
    assert np.array_equal(gpu.bias.cpu().numpy() != 0, np.ones(8, bool))
