"""``import torch`` inside a model file: paramtool's namespace, scoped, and missing names listed.

Without PyTorch installed, a model file's torch paths resolve to paramtool's objects while it
runs; afterwards ``sys.modules`` holds exactly what it held before (a stand-in "torch" module
plays the real one). A name paramtool lacks is reported with its file and line, all of them in
one error.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import types
from pathlib import Path

import pytest
from cli_support import invoke

import paramtool
from paramtool import nn
from paramtool.errors import MissingTorchFeature, ModelLoadError
from paramtool.models.loader import load_model
from paramtool.torch import MODULES


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


IMPORTS = """\
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as init
import torch.utils.checkpoint
from torch import Tensor
from torch.nn import Parameter
from torch.nn.parameter import Parameter as P2
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.loss import _Loss, _WeightedLoss
from torch.nn.modules.utils import _pair, _triple
from torch.nn.modules.module import Module
from torch.nn.utils import weight_norm, spectral_norm, clip_grad_norm_
from torch.nn.utils.parametrizations import weight_norm as wn
from torch.nn.utils.parametrize import register_parametrization
from torch.utils.data import Dataset, DataLoader, TensorDataset
from torch.cuda.amp import autocast, GradScaler
from torch.autograd import Variable

torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = True
assert not torch.distributed.is_available()
assert torch.finfo(torch.float16).max == 65504.0
assert torch.iinfo(torch.int32).max == 2**31 - 1
assert torch.Size([2, 3]) == (2, 3)
assert _pair(3) == (3, 3) and _triple(1) == (1, 1, 1)
assert issubclass(nn.BatchNorm2d, _BatchNorm) and not issubclass(nn.InstanceNorm2d, _BatchNorm)
assert torch.jit.script(len) is len and not torch.jit.is_scripting()
assert torch.compile(len) is len
assert isinstance(torch.zeros(2), torch.FloatTensor)
assert P2 is Parameter and Module is nn.Module
assert torch.pi == math.pi and torch.inf == math.inf and torch.get_num_threads() >= 1
with torch.device("cpu"), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
    inside = nn.Linear(2, 2)
assert torch.random.initial_seed() is not None


class Probe(Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3)
        self.conv = torch.utils.checkpoint.checkpoint(lambda: nn.Conv2d(1, 1, 1))

    @torch.no_grad()
    def generate(self, x):
        return x

    @torch.inference_mode()
    def infer(self, x):
        return x


model = Probe()
"""


def test_import_torch_gives_paramtools_objects(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, "probe.py", IMPORTS))
    assert isinstance(model, nn.Module) and type(model.fc) is nn.Linear
    assert [n for n, _ in model.named_parameters()] == [
        "fc.weight", "fc.bias", "conv.weight", "conv.bias"
    ]  # fmt: skip


def test_sys_modules_are_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    standins = {name: types.ModuleType(name) for name in ("torch", "torch.nn", "torchvision")}
    for name, module in standins.items():
        monkeypatch.setitem(sys.modules, name, module)
    write(tmp_path, "helpers.py", "import torch\nWIDTH = 3\n")
    path = write(tmp_path, "net.py", "import torch\nfrom helpers import WIDTH\n"
                 "model = torch.nn.Linear(WIDTH, 2)\n")  # fmt: skip
    before = set(sys.modules)
    assert type(load_model(path)) is nn.Linear
    for name, module in standins.items():
        assert sys.modules[name] is module
    new = set(sys.modules) - before
    assert not {n for n in new if n.split(".")[0] in ("torch", "helpers")}
    assert "helpers" not in sys.modules  # the next file gets its own neighbours


def test_the_neighbour_of_one_file_is_not_the_next_files(tmp_path: Path) -> None:
    for width, folder in ((3, tmp_path / "a"), (5, tmp_path / "b")):
        folder.mkdir()
        write(folder, "layers.py", f"import torch.nn as nn\nWIDTH = {width}\n")
        write(folder, "model.py", "from layers import WIDTH\nimport torch\n"
              "model = torch.nn.Linear(WIDTH, 1)\n")  # fmt: skip
    assert load_model(tmp_path / "a" / "model.py").in_features == 3
    assert load_model(tmp_path / "b" / "model.py").in_features == 5


def test_every_namespace_path_is_bound_while_a_file_runs(tmp_path: Path) -> None:
    paths = {p: target for p, target in MODULES.items() if p != "torch"}
    body = "import sys\nimport torch\n" + "".join(f"import {p}\n" for p in paths)
    body += f"expected = {paths!r}\n"
    body += "assert {p: sys.modules[p].__name__ for p in expected} == expected\n"
    body += "model = torch.nn.Identity()\n"
    try:
        assert type(load_model(write(tmp_path, "paths.py", body))) is nn.Identity
    except MissingTorchFeature as exc:  # only modules the core is still gaining may be absent
        pending = {"torch.optim", "torch.optim.lr_scheduler", "torch.nn.functional"}
        assert {m.name for m in exc.names} <= pending, str(exc)


def test_missing_names_are_all_listed_with_their_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "needs.py",
        """\
        import torch
        import torchvision
        from torch.distributions import Normal
        from torchvision.models import resnet50

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = resnet50()
                self.window = torch.hann_window_not_in_torch(8)

        model = Net()
    """,
    )
    with pytest.raises(MissingTorchFeature) as caught:
        load_model(path)
    found = [(m.name, m.line) for m in caught.value.names]
    # torch.distributions is imported but not used to build the model: not listed
    assert found == [("torchvision", 2), ("torch.hann_window_not_in_torch", 10)]
    message = str(caught.value)
    assert "torchvision (line 2)" in message and "pip install torch torchvision" in message
    assert isinstance(caught.value, ModelLoadError)


def test_an_import_the_model_does_not_use_is_no_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "train.py",
        """\
        import torch
        from torchvision import datasets, transforms

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(4, 2)

        def main():
            data = datasets.MNIST("../data", transform=transforms.ToTensor())
    """,
    )
    assert [n for n, _ in load_model(path).named_parameters()] == ["fc.weight", "fc.bias"]


def test_a_build_failing_after_a_missing_name_reports_the_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sub.py",
        """\
        import torchvision

        class Net(torchvision.models.ResNet):
            def __init__(self):
                super().__init__(block=None, layers=[2, 2, 2, 2])

        model = Net()
    """,
    )
    with pytest.raises(MissingTorchFeature, match=r"torchvision \(line 1\)"):
        load_model(path)


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="PyTorch is installed")
def test_a_file_needing_torchvision_is_one_line_exit_1(tmp_path: Path) -> None:
    path = write(tmp_path, "tv.py", "import torchvision\nmodel = torchvision.models.resnet50()\n")
    result = invoke("inspect", path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "torchvision (line 1)" in lines[0] and "pip install torch torchvision" in lines[0]


def test_missing_attributes_outside_a_model_file_are_attribute_errors() -> None:
    import paramtool.torch as namespace

    with pytest.raises(AttributeError):
        namespace.no_such_function  # noqa: B018
    assert namespace.float32 is paramtool.float32


def test_real_pytorch_is_not_disturbed(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    real_linear = torch.nn.Linear
    path = write(tmp_path, "m.py", "import torch\nmodel = torch.nn.Linear(2, 2)\n")
    assert type(load_model(path)) is nn.Linear
    import torch as again

    assert again is torch and again.nn.Linear is real_linear
    assert sys.modules["torch.nn"] is torch.nn


def test_einops_in_a_model_file_leaves_einops_with_real_torch_working() -> None:
    torch = pytest.importorskip("torch")
    einops = pytest.importorskip("einops")
    real = torch.zeros(2, 3)
    assert tuple(einops.rearrange(real, "a b -> b a").shape) == (3, 2)
    args = {"image_size": 64, "patch_size": 16, "num_classes": 10, "dim": 64, "depth": 1,
            "heads": 2, "mlp_dim": 128}  # fmt: skip
    model = load_model(Path(__file__).parent / "data" / "torch_models" / "vit_einops.py", args=args)
    assert isinstance(model, nn.Module)
    again = einops.rearrange(real, "a b -> b a")
    assert isinstance(again, torch.Tensor) and tuple(again.shape) == (3, 2)
    from einops.layers.torch import Rearrange

    assert issubclass(Rearrange, torch.nn.Module)


def test_the_legacy_tensor_constructor_takes_sizes_as_pytorchs_does() -> None:
    # torch.Tensor(2, 3) and torch.Tensor(torch.Size([4])) are uninitialised float32 tensors
    # of that shape; torch.Tensor(data) wraps data
    made = paramtool.Tensor(2, 3)
    assert tuple(made.shape) == (2, 3) and made.dtype == paramtool.float32 and made.is_deferred
    assert tuple(paramtool.Tensor(paramtool.Size([4])).shape) == (4,)
    assert paramtool.Tensor([1.5, 2.5]).tolist() == [1.5, 2.5]
    assert tuple(paramtool.Tensor().shape) == (0,)


def test_isinstance_against_a_missing_class_is_false_not_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.py",
        """\
        import torch.nn as nn
        from torchvision.ops import FrozenBatchNorm2d

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm2d(4)
                for m in self.modules():
                    if isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d)):
                        nn.init.ones_(m.weight)
                    assert not isinstance(m, FrozenBatchNorm2d)
    """,
    )
    assert [n for n, _ in load_model(path).named_parameters()] == ["bn.weight", "bn.bias"]


def test_a_missing_optional_kernel_takes_the_files_import_error_fallback(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.py",
        """\
        import torch.nn as nn
        try:
            from apex.normalization import FusedLayerNorm as LayerNorm
        except ImportError:
            LayerNorm = nn.LayerNorm
        try:
            import flash_attn
        except ModuleNotFoundError:
            flash_attn = None

        model = nn.Sequential(nn.Linear(4, 4), LayerNorm(4))
    """,
    )
    assert [n for n, _ in load_model(path).named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias"
    ]  # fmt: skip


def test_an_uncaught_missing_optional_kernel_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, "m.py", "import torch\nimport xformers.ops\nmodel = torch.nn.ReLU()\n")
    with pytest.raises(
        MissingTorchFeature, match=r"xformers \(line 2\).*pip install torch xformers"
    ):
        load_model(path)
