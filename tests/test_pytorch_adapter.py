"""The PyTorch adapter: a torch.nn.Module built on meta, mirrored as a deferred paramtool model.

The reference is PyTorch itself, in the same process: its state_dict order, shapes, dtypes,
``requires_grad``, persistent and non-persistent buffers and the identity of tied tensors. For
the default values, the reference is paramtool's own layer built natively with the same
arguments (whose recipes are checked against PyTorch's init elsewhere). Skipped without torch.
"""

from __future__ import annotations

import textwrap
import tracemalloc
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import paramtool  # noqa: E402
from paramtool.errors import DTypeError, InitError, ModelLoadError  # noqa: E402
from paramtool.models.pytorch import is_torch_module, to_paramtool  # noqa: E402
from paramtool.models.sources import open_model  # noqa: E402
from paramtool.models.torch_defaults import NoValues  # noqa: E402
from paramtool.nn.init.schemes import apply_scheme  # noqa: E402
from paramtool.report import from_module  # noqa: E402
from tests.cli_support import invoke, validate  # noqa: E402


class LayerScale(nn.Module):
    """A model's own type: paramtool cannot know its default values."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(1e-5 * torch.ones(dim))


class Zoo(nn.Module):
    """Every registration case the adapter must carry over."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", torch.ones(4, 4).tril(), persistent=False)
        self.embed = nn.Embedding(50, 8, padding_idx=0)
        self.register_buffer("positions", torch.arange(6))
        self.conv = nn.Conv1d(8, 8, 3, groups=2, bias=False)
        self.norm = nn.BatchNorm1d(8)
        self.rnn = nn.GRU(8, 6, num_layers=2, bidirectional=True)
        self.encoder = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
        self.scale = LayerScale(8)
        self.shared = nn.Linear(8, 8)
        self.blocks = nn.ModuleList([self.shared, nn.GroupNorm(2, 8), self.shared])
        self.extra = nn.ParameterDict({"a": nn.Parameter(torch.zeros(3))})
        self.more = nn.ParameterList([nn.Parameter(torch.zeros(2)), nn.Parameter(torch.ones(1))])
        self.half = nn.Linear(8, 4).to(torch.bfloat16)
        self.head = nn.Linear(8, 50, bias=False)
        self.head.weight = self.embed.weight
        self.norm.weight.requires_grad_(False)
        self.register_buffer("flags", torch.zeros(3, dtype=torch.bool))
        self.register_parameter("unused", None)


@pytest.fixture(scope="module")
def zoo():
    with torch.device("meta"):
        model = Zoo()
    return model, to_paramtool(model)


def test_state_dict_names_shapes_and_dtypes_are_pytorchs(zoo) -> None:
    model, mirror = zoo
    expected = model.state_dict(keep_vars=True)
    got = mirror.state_dict(keep_vars=True)
    assert list(got) == list(expected)
    for name, tensor in expected.items():
        assert tuple(got[name].shape) == tuple(tensor.shape), name
        assert paramtool.core.dtypes.dtype_name(got[name].dtype) == str(tensor.dtype)[6:], name


def test_parameters_buffers_and_requires_grad(zoo) -> None:
    model, mirror = zoo
    theirs = [(n, p.requires_grad) for n, p in model.named_parameters(remove_duplicate=False)]
    ours = [(n, p.requires_grad) for n, p in mirror.named_parameters(remove_duplicate=False)]
    assert ours == theirs
    assert [n for n, _ in mirror.named_buffers()] == [n for n, _ in model.named_buffers()]
    assert [n for n, _ in mirror.named_modules()] == [n for n, _ in model.named_modules()]
    assert mirror._non_persistent_buffers_set == {"mask"}
    rows = {row.name: row for row in from_module(mirror).rows}
    assert rows["mask"].persistent is False and rows["positions"].persistent is True
    assert rows["norm.weight"].trainable is False


def _registration_order(module, prefix: str = ""):
    """Every name as PyTorch registers it: a module's parameters, its buffers (persistent or
    not), then its children's, recursively; shared modules under each of their names."""
    for registry in (module._parameters, module._buffers):
        yield from (prefix + name for name, t in registry.items() if t is not None)
    for name, child in module._modules.items():
        if child is not None:
            yield from _registration_order(child, f"{prefix}{name}.")


def test_inventory_rows_follow_pytorchs_order_non_persistent_buffers_in_place(zoo) -> None:
    model, mirror = zoo
    rows = from_module(mirror).rows
    assert [row.name for row in rows] == list(_registration_order(model))
    assert rows[0].name == "mask" and rows[0].persistent is False


def test_repr_reads_as_pytorchs(zoo) -> None:
    """Known layers print as paramtool's (PyTorch's format); other types keep their own text."""

    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(2, 2)

        def extra_repr(self) -> str:
            return "custom=True"

    class OwnRepr(nn.Module):
        def __repr__(self) -> str:
            return "OwnRepr<3>"

    model, mirror = zoo
    # parameter containers name the tensor type: paramtool's (on the CPU) where torch's (on meta)
    expected = repr(model).replace("torch.meta.", "paramtool.").replace("[torch.", "[paramtool.")
    assert repr(mirror) == expected
    with torch.device("meta"):
        other = nn.Sequential(Custom(), OwnRepr())
    assert repr(to_paramtool(other)) == repr(other)


def test_ties_are_found_by_identity(zoo) -> None:
    model, mirror = zoo
    groups: dict[int, list[str]] = {}
    for name, tensor in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(tensor), []).append(name)
    expected = [names for names in groups.values() if len(names) > 1]
    assert from_module(mirror).ties == expected
    assert mirror.blocks[0] is mirror.blocks[2] is mirror.shared
    assert sum(p.numel() for p in mirror.parameters()) == sum(p.numel() for p in model.parameters())


def test_a_tie_keeps_the_values_of_its_canonical_name(zoo) -> None:
    """The head reuses the embedding matrix: N(0, 1) with the padding row zero, as PyTorch."""
    _, mirror = zoo
    assert mirror.head.weight is mirror.embed.weight
    assert mirror.embed.weight.recipe == paramtool.nn.Embedding(50, 8, padding_idx=0).weight.recipe


# -- default values: paramtool's layer of the same name, built with the same arguments ---------

LAYERS = [
    ("Linear", (5, 3), {}),
    ("Linear", (5, 3), {"bias": False}),
    ("Bilinear", (3, 4, 5), {}),
    ("Conv1d", (4, 6, 3), {"groups": 2}),
    ("Conv2d", (3, 8, (3, 5)), {"stride": 2, "padding": 1}),
    ("Conv3d", (2, 4, 3), {}),
    ("ConvTranspose2d", (4, 6, 3), {"groups": 2, "output_padding": 1, "stride": 2}),
    ("Embedding", (20, 6), {"padding_idx": 3}),
    ("EmbeddingBag", (20, 6), {"mode": "sum"}),
    ("BatchNorm2d", (6,), {}),
    ("BatchNorm1d", (6,), {"affine": False}),
    ("InstanceNorm2d", (6,), {"affine": True, "track_running_stats": True}),
    ("LayerNorm", ((4, 6),), {}),
    ("LayerNorm", (6,), {"bias": False}),
    ("GroupNorm", (2, 6), {}),
    ("RMSNorm", (6,), {}),
    ("PReLU", (3,), {"init": 0.1}),
    ("LSTM", (4, 5), {"num_layers": 2, "proj_size": 3}),
    ("GRU", (4, 5), {"bidirectional": True, "bias": False}),
    ("RNN", (4, 5), {"nonlinearity": "relu"}),
    ("LSTMCell", (4, 5), {}),
    ("GRUCell", (4, 5), {}),
    ("MultiheadAttention", (8, 2), {}),
    ("MultiheadAttention", (8, 2), {"kdim": 4, "vdim": 6, "add_bias_kv": True}),
    ("TransformerEncoderLayer", (8, 2), {"dim_feedforward": 16}),
    ("TransformerDecoderLayer", (8, 2), {"dim_feedforward": 16, "bias": False}),
    (
        "Transformer",
        (),
        {
            "d_model": 8,
            "nhead": 2,
            "num_encoder_layers": 1,
            "num_decoder_layers": 1,
            "dim_feedforward": 16,
        },
    ),  # fmt: skip
]


@pytest.mark.parametrize(("name", "args", "kwargs"), LAYERS, ids=[c[0] for c in LAYERS])
def test_known_layers_get_paramtools_default_values(name, args, kwargs) -> None:
    with torch.device("meta"):
        theirs = getattr(nn, name)(*args, **kwargs)
    mirror = to_paramtool(theirs)
    native = getattr(paramtool.nn, name)(*args, **kwargs)
    assert type(mirror) is type(native)
    expected = native.state_dict(keep_vars=True)
    got = mirror.state_dict(keep_vars=True)
    assert list(got) == list(expected) == list(theirs.state_dict())
    for key, tensor in expected.items():
        assert got[key].recipe == tensor.recipe, key
    assert repr(mirror) == repr(native)


def test_a_subclass_that_redefines_its_init_is_not_guessed() -> None:
    class ZeroLinear(nn.Linear):
        def reset_parameters(self) -> None:
            nn.init.zeros_(self.weight)

    class PlainLinear(nn.Linear):
        pass

    with torch.device("meta"):
        zero, plain = ZeroLinear(3, 2), PlainLinear(3, 2)
    assert isinstance(to_paramtool(zero).weight.recipe, NoValues)
    assert to_paramtool(plain).weight.recipe == paramtool.nn.Linear(3, 2).weight.recipe


class Bias(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(4))


def test_default_init_of_an_unknown_type_names_the_type_and_its_parameters() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 4), LayerScale(4), Bias(), LayerScale(4))
    mirror = to_paramtool(model)
    apply_scheme(mirror, "default")
    mirror[0].weight.compute(name="0.weight")  # a known layer has values
    with pytest.raises(InitError) as caught:
        mirror[1].gamma.compute(name="1.gamma")
    assert str(caught.value) == (
        f"1 ({__name__}.LayerScale): paramtool has no default initialisation for this PyTorch "
        "type (parameters: gamma); nor for Bias (shift); choose --scheme or a --rule for them"
    )
    assert mirror[1].gamma.recipe.describe() == "no default for LayerScale"


def test_a_named_scheme_or_rule_gives_an_unknown_type_values() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(64, 64), LayerScale(4096))
    mirror = to_paramtool(model)
    apply_scheme(mirror, "kaiming", rules=["*.gamma=normal:std=0.5"], seed=0)
    values = mirror[1].gamma.compute(name="1.gamma", seed=0)
    assert abs(values.std() - 0.5) < 0.03 and abs(values.mean()) < 0.03


def test_buffers_of_unknown_types_have_no_values(zoo) -> None:
    _, mirror = zoo
    with pytest.raises(InitError, match="positions .* meta device"):
        mirror.positions.compute(name="positions")
    assert mirror.norm.running_var.recipe == paramtool.nn.BatchNorm1d(8).running_var.recipe


@pytest.mark.parametrize(
    "dtype", ["float16", "bfloat16", "float64", "int8", "uint8", "int64", "bool", "float8_e4m3fn"]
)
def test_dtypes_map_to_numpy_and_ml_dtypes(dtype: str) -> None:
    module = nn.Module()
    with torch.device("meta"):
        module.register_buffer("t", torch.empty(2, dtype=getattr(torch, dtype)))
    assert paramtool.core.dtypes.dtype_name(to_paramtool(module).t.dtype) == dtype


def test_a_dtype_paramtool_cannot_hold_is_one_clear_error() -> None:
    module = nn.Module()
    with torch.device("meta"):
        module.register_buffer("z", torch.empty(2, dtype=torch.complex64))
    with pytest.raises(DTypeError, match="torch.complex64"):
        to_paramtool(module)


def test_mirroring_allocates_nothing() -> None:
    """A 6.4 GB layer on meta becomes a mirror for a few kilobytes."""
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(40_000, 40_000), nn.LayerNorm(40_000))
    tracemalloc.start()
    try:
        mirror = to_paramtool(model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert mirror[0].weight.is_deferred
    assert peak < 1_000_000


def test_containers_and_subclasses_keep_their_class_names(zoo) -> None:
    class Block(nn.Sequential):
        pass

    with torch.device("meta"):
        mirror = to_paramtool(Block(nn.Linear(2, 3), nn.ReLU()))
    assert type(mirror).__name__ == "Block" and isinstance(mirror, paramtool.nn.Sequential)
    assert isinstance(mirror[0], paramtool.nn.Linear) and len(mirror) == 2
    _, zoo_mirror = zoo
    assert [p.shape for p in zoo_mirror.more] == [(2,), (1,)]
    assert list(zoo_mirror.extra.keys()) == ["a"]


def test_a_module_pytorch_built_has_no_forward_in_paramtool() -> None:
    with torch.device("meta"):
        mirror = to_paramtool(LayerScale(3))
    with pytest.raises(ModelLoadError, match="LayerScale: the forward pass"):
        mirror(paramtool.ones(3))


def test_parametrised_weights_keep_pytorchs_names() -> None:
    from torch.nn.utils import spectral_norm
    from torch.nn.utils.parametrizations import weight_norm

    with torch.device("meta"):
        model = nn.Sequential(weight_norm(nn.Linear(8, 8)), spectral_norm(nn.Linear(8, 4)))
    mirror = to_paramtool(model)
    assert [(n, tuple(t.shape)) for n, t in mirror.state_dict().items()] == [
        (n, tuple(t.shape)) for n, t in model.state_dict().items()
    ]
    assert "0.parametrizations.weight.original1" in mirror.state_dict()


def test_a_lazy_layer_is_one_clear_error() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.LazyLinear(4))
    with pytest.raises(ModelLoadError, match=r"^0\.weight: a lazy module's tensor has no shape"):
        to_paramtool(model)


def test_only_torch_modules_are_mirrored() -> None:
    assert is_torch_module(nn.Linear(2, 2)) and not is_torch_module(paramtool.nn.Linear(2, 2))
    with pytest.raises(ModelLoadError, match="expected a torch.nn.Module"):
        to_paramtool(paramtool.nn.Linear(2, 2))


# -- model files run with PyTorch -------------------------------------------------------------

TORCH_FILE = """\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.embed = nn.Embedding(100, width)
        self.proj = nn.Linear(width, width)
        self.out = nn.Linear(width, 100, bias=False)
        self.out.weight = self.embed.weight
        # a module of torch that paramtool's core does not provide
        self.register_buffer("freqs", torch.fft.rfftfreq(width), persistent=False)
        print("building Net")
"""


@pytest.fixture
def torch_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.py"
    path.write_text(TORCH_FILE)
    return path


def _torch_table(width: int = 16) -> list[tuple[str, list[int], str]]:
    namespace: dict[str, object] = {}
    exec(compile(TORCH_FILE, "model.py", "exec"), namespace)  # noqa: S102 - our own file
    with torch.device("meta"):
        model = namespace["Net"](width)
    return [(n, list(t.shape), str(t.dtype)[6:]) for n, t in model.state_dict().items()]


def test_torch_pytorch_builds_the_file_with_pytorch_on_meta(torch_file: Path) -> None:
    result = invoke("inspect", torch_file, "--torch", "pytorch", "--arg", "width=8", "--json")
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "inspect")
    rows = [(t["name"], t["shape"], t["dtype"]) for t in data["tensors"] if t["persistent"]]
    assert rows == _torch_table(8)
    assert data["ties"] == [["embed.weight", "out.weight"]]
    assert "building Net" in result.stderr


def test_torch_auto_falls_back_to_pytorch_and_says_so(torch_file: Path) -> None:
    result = invoke("inspect", torch_file, "--json")
    assert result.exit_code == 0, result.output
    data = validate(result.stdout, "inspect")
    assert [(t["name"], t["shape"]) for t in data["tensors"] if t["persistent"]] == [
        (n, s) for n, s, _ in _torch_table()
    ]
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warning == [
        f"warning: {torch_file} needs torch.fft, which paramtool's core lacks: "
        "built with PyTorch on the meta device instead"
    ]


def test_torch_paramtool_keeps_the_missing_name_error(torch_file: Path) -> None:
    result = invoke("inspect", torch_file, "--torch", "paramtool")
    assert result.exit_code == 1
    assert "torch.fft (line 13)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_open_model_gives_the_same_inventory_as_the_cli(torch_file: Path) -> None:
    mirror = open_model(torch_file, torch="pytorch")
    assert [(n, list(t.shape), str(t.dtype)) for n, t in mirror.state_dict().items()] == [
        (n, s, d) for n, s, d in _torch_table()
    ]


def test_init_and_export_of_a_pytorch_model(tmp_path: Path) -> None:
    """Known layers take paramtool's defaults; the file loads back into the torch model."""
    file = tmp_path / "net.py"
    file.write_text(
        textwrap.dedent(
            """\
            import torch.nn as nn
            model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                                  nn.Linear(4, 2))
            """
        )
    )
    out = tmp_path / "net.safetensors"
    result = invoke("export", out, "--model", file, "--torch", "pytorch", "--seed", "3")
    assert result.exit_code == 0, result.output
    from safetensors.torch import load_file

    state = load_file(str(out))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    model.load_state_dict(state, strict=True)
    bound = 1 / (3 * 3 * 3) ** 0.5
    assert float(state["0.weight"].abs().max()) <= bound
    assert float(state["1.running_var"].min()) == 1.0
    assert int(state["1.num_batches_tracked"]) == 0
