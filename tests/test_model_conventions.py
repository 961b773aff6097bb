"""Model files laid out as public ones are found and built as they are: the root class, a config
object from the file's dataclass or ``get_default_config()``, package files, ``sys.argv``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from cli_support import invoke

from paramtool.errors import ModelLoadError
from paramtool.models.loader import load_model

CORPUS = Path(__file__).resolve().parent / "data" / "torch_models"


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def table(model: object) -> list[tuple[str, tuple[int, ...]]]:
    return [(n, tuple(t.shape)) for n, t in model.state_dict().items()]  # type: ignore[attr-defined]


BLOCKS = """\
    from dataclasses import dataclass
    import torch.nn as nn

    @dataclass
    class Config:
        width: int = 8
        depth: int = 2

    class Block(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.fc = nn.Linear(config.width, config.width)

    class Net(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.blocks = nn.ModuleList([Block(config) for _ in range(config.depth)])
            self.head = nn.Linear(config.width, 1)
"""


def test_the_model_is_the_class_no_other_class_uses(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, "model.py", BLOCKS))
    assert type(model).__name__ == "Net"
    assert [n for n, _ in table(model)][-2:] == ["head.weight", "head.bias"]


def test_args_set_the_config_fields(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, "model.py", BLOCKS), args={"width": 4, "depth": 3})
    assert len(model.blocks) == 3 and tuple(model.head.weight.shape) == (1, 4)


def test_an_arg_that_is_no_field_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="--arg widht: not a field of Config"):
        load_model(write(tmp_path, "model.py", BLOCKS), args={"widht": 4})


def test_nanogpts_gpt_built_from_its_config_equals_the_explicit_build() -> None:
    sizes = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 256}
    by_convention = load_model(CORPUS / "nanogpt.py", entry="GPT", args=sizes)
    explicit = load_model(CORPUS / "nanogpt.py")  # build_model: GPT(GPTConfig(...)) by hand
    assert table(by_convention) == table(explicit)


def test_mingpts_get_default_config_is_used() -> None:
    args = {"model_type": "gpt-micro", "vocab_size": 512, "block_size": 128}
    by_convention = load_model(CORPUS / "mingpt.py", entry="GPT", args=args)
    assert table(by_convention) == table(load_model(CORPUS / "mingpt.py"))


def test_a_required_field_without_a_value_is_a_one_line_error(tmp_path: Path) -> None:
    path = write(tmp_path, "model.py", BLOCKS.replace("width: int = 8", "width: int"))
    with pytest.raises(ModelLoadError, match="missing 1 required positional argument: 'width'"):
        load_model(path)


def test_a_package_file_keeps_its_relative_and_package_imports(tmp_path: Path) -> None:
    write(tmp_path, "unet/__init__.py", "from .unet_model import UNet\n")
    write(
        tmp_path,
        "unet/unet_parts.py",
        """\
        import torch.nn as nn

        class DoubleConv(nn.Module):
            def __init__(self, cin, cout):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 3, padding=1)
    """,
    )
    path = write(
        tmp_path,
        "unet/unet_model.py",
        """\
        from .unet_parts import *
        from unet.unet_parts import DoubleConv as Same

        class UNet(nn.Module):
            def __init__(self, n_channels=3):
                super().__init__()
                assert Same is DoubleConv
                self.inc = DoubleConv(n_channels, 8)
    """,
    )
    assert [n for n, _ in table(load_model(path))] == ["inc.conv.weight", "inc.conv.bias"]
    assert [n for n, _ in table(load_model(path, args={"n_channels": 1}))] == [
        "inc.conv.weight", "inc.conv.bias"
    ]  # fmt: skip


def test_the_file_sees_its_own_argv(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "train.py",
        """\
        import argparse
        import torch.nn as nn

        parser = argparse.ArgumentParser()
        parser.add_argument("--width", type=int, default=3)
        opt = parser.parse_args()
        model = nn.Linear(opt.width, 2)
    """,
    )
    result = invoke("inspect", path, "--json", "--torch", "paramtool")
    assert result.exit_code == 0, result.output
    assert [row["shape"] for row in json.loads(result.stdout)["tensors"]] == [[2, 3], [2]]
