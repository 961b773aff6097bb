"""Loading model files: entry selection, arguments, and one-line errors with file and line."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from paramtool import nn
from paramtool.errors import ModelLoadError
from paramtool.models.loader import load_model, parse_assignments, read_config

MODELS = Path(__file__).parent / "data" / "models"
REFERENCE = json.loads((MODELS / "reference.json").read_text())["models"]


def names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_parameters(remove_duplicate=False)]


def reference_names(file: str) -> list[str]:
    return [row[0] for row in REFERENCE[file]["parameters"]]


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.mark.parametrize("file", ["mlp.py", "tiny_lm.py", "shared.py", "single_class.py"])
def test_picks_the_model_pytorch_sees(file: str) -> None:
    model = load_model(MODELS / file)
    assert isinstance(model, nn.Module)
    assert names(model) == reference_names(file)


def test_construction_is_deferred() -> None:
    model = load_model(MODELS / "tiny_lm.py")
    assert all(p.is_deferred for p in model.parameters())


def test_single_root_instance_wins_over_its_parts() -> None:
    model = load_model(MODELS / "shared.py")
    assert type(model).__name__ == "Sequential"
    assert model[1] is model[3]


def test_args_and_config_reach_the_constructor() -> None:
    assert len(load_model(MODELS / "tiny_lm.py", args={"n_layer": 2}).layers) == 2
    config = {"n_layer": 1, "dim": 4, "model_type": "tiny"}
    model = load_model(MODELS / "tiny_lm.py", args={"vocab": 5}, config={**config})
    assert model.embed.weight.shape == (5, 4) and len(model.layers) == 1


def test_config_keys_a_class_does_not_take_are_ignored() -> None:
    model = load_model(MODELS / "single_class.py", config={"n": 3, "architectures": ["Net"]})
    assert model.weight1.shape == (3, 3)


def test_entry_selects_instance_class_or_function(tmp_path: Path) -> None:
    assert load_model(MODELS / "several.py", entry="decoder").out_features == 2
    assert load_model(MODELS / "single_class.py", entry="Net", args={"n": 2}).weight1.shape == (
        2,
        2,
    )
    assert len(load_model(MODELS / "tiny_lm.py", entry="build_model").layers) == 3


def test_several_candidates_are_named() -> None:
    with pytest.raises(
        ModelLoadError, match=r"several.py: several models found \(encoder, decoder\)"
    ):
        load_model(MODELS / "several.py")


def test_unknown_entry_lists_candidates() -> None:
    with pytest.raises(ModelLoadError, match="no 'decodr' defined.*candidates: encoder, decoder"):
        load_model(MODELS / "several.py", entry="decodr")


def test_no_model_found() -> None:
    with pytest.raises(ModelLoadError, match="no_model.py: no model found; define build_model"):
        load_model(MODELS / "no_model.py")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="nope.py: no such file"):
        load_model(tmp_path / "nope.py")
    with pytest.raises(ModelLoadError, match="is a folder"):
        load_model(tmp_path)


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.py", "from paramtool import nn\n\nmodel = nn.Linear(4, 3\n")
    with pytest.raises(ModelLoadError, match=r"broken.py:3: syntax error: '\(' was never closed"):
        load_model(path)


def test_constructor_exception_names_the_user_line() -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model(MODELS / "raises.py")
    message = str(info.value)
    assert "raises.py:11: ValueError: width 4 is too wide" in message
    assert "while building 'build_model', in __init__()" in message
    assert "\n" not in message
    assert isinstance(info.value.__cause__, ValueError)


def test_error_while_running_the_file() -> None:
    with pytest.raises(ModelLoadError, match="top_level_error.py:6: ZeroDivisionError"):
        load_model(MODELS / "top_level_error.py")


def test_bad_keyword_argument_is_a_load_error() -> None:
    with pytest.raises(ModelLoadError, match="TypeError: .*unexpected keyword argument 'depth'"):
        load_model(MODELS / "single_class.py", args={"depth": 3})


def test_result_must_be_a_module() -> None:
    with pytest.raises(ModelLoadError, match=r"build_model\(\) returned a dict"):
        load_model(MODELS / "not_a_module.py")


def test_built_instance_refuses_arguments() -> None:
    with pytest.raises(ModelLoadError, match="already built"):
        load_model(MODELS / "mlp.py", args={"n": 1})


def test_the_files_folder_is_importable_while_it_runs(tmp_path: Path) -> None:
    write(tmp_path, "blocks.py", "from paramtool import nn\nWIDTH = 6\n")
    path = write(tmp_path, "model.py", "import blocks\nmodel = blocks.nn.Linear(blocks.WIDTH, 2)\n")
    assert load_model(path).in_features == 6
    assert str(tmp_path) not in sys.path


def test_each_load_runs_the_file_afresh() -> None:
    assert load_model(MODELS / "mlp.py") is not load_model(MODELS / "mlp.py")


def test_parse_assignments() -> None:
    parsed = parse_assignments(["n=2", "dims=(3, 4)", "act=gelu", "flag=True", "path=a=b"])
    assert parsed == {"n": 2, "dims": (3, 4), "act": "gelu", "flag": True, "path": "a=b"}
    with pytest.raises(ModelLoadError, match="expected KEY=VALUE"):
        parse_assignments(["oops"])
    with pytest.raises(ModelLoadError, match="expected KEY=VALUE"):
        parse_assignments(["1x=2"])


def test_read_config(tmp_path: Path) -> None:
    assert read_config(write(tmp_path, "c.json", '{"n_layer": 2}')) == {"n_layer": 2}
    with pytest.raises(ModelLoadError, match="c2.json:1: invalid JSON"):
        read_config(write(tmp_path, "c2.json", "{nope"))
    with pytest.raises(ModelLoadError, match="must hold a JSON object"):
        read_config(write(tmp_path, "c3.json", "[1]"))
    with pytest.raises(ModelLoadError, match="config file not found"):
        read_config(tmp_path / "missing.json")


def test_args_reach_the_keywords_of_a_function_taking_config_and_kwargs(tmp_path: Path) -> None:
    source = (
        "from paramtool import nn\n"
        "def build_model(config=None, **overrides):\n"
        "    assert 'width' not in (config or {}), config\n"
        "    return nn.Linear(overrides.get('width', (config or {}).get('w', 1)), 2)\n"
    )
    path = write(tmp_path, "m.py", source)
    model = load_model(path, args={"width": 5}, config={"w": 3, "architectures": ["X"]})
    assert model.in_features == 5
    assert load_model(path, config={"w": 3}).in_features == 3


def test_entry_naming_nothing_lists_build_model_among_the_candidates() -> None:
    mlp = MODELS.parents[2] / "sample_models" / "mlp.py"  # defines only build_model()
    with pytest.raises(ModelLoadError, match=r"no 'nothing' defined .*; candidates: build_model$"):
        load_model(mlp, entry="nothing")
