"""Tables and trees as users read them: names whole on one line, piped output never wrapped or
elided, a narrow terminal dropping low-value columns before eliding names, NO_COLOR, and names
shown as data (never markup, control characters escaped)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_support import invoke, write_checkpoint

from paramtool.cli.compare import render_diff
from paramtool.cli.layout import ELLIPSIS, Output, Table, elide, safe
from paramtool.cli.render import render_rows, render_stats, render_tree
from paramtool.cli.write import render_init
from paramtool.report import Diff, TensorDiff, TensorStats, build_tree, open_inventory

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = {name: ROOT / "sample_models" / f"{name}.py" for name in ("gpt2", "bert")}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def names_of(sample: str) -> list[str]:
    return [row.name for row in open_inventory(SAMPLES[sample]).rows]


def screen(width: int | None, styled: bool = False) -> Output:
    return Output(io.StringIO(), width is not None, width, styled)


def init_rows(names: list[str]) -> list[dict]:
    recipe = "uniform(a=-0.0360844, b=0.0360844)"
    stats = {"mean": -0.0001234, "std": 0.0208321, "min": -0.0360841, "max": 0.0360839}
    return [
        {"name": n, "shape": [768, 3072], "source": "rule", "rule": "*attn*=xavier_uniform",
         "recipe": recipe, "expected_std": 0.0208333, "stats": stats}
        for n in names
    ]  # fmt: skip


def render(command: str, names: list[str], out: Output, sample: str) -> None:
    if command == "inspect":
        render_rows(out, open_inventory(SAMPLES[sample]))
    elif command == "init":
        render_init(out, init_rows(names))
    elif command == "stats":
        render_stats(out, [TensorStats(n, 2359296, 1e-4, 0.02, -0.1, 0.1, 0, 0, 0) for n in names])
    else:
        tensors = [TensorDiff(n, 0.0123, 0.4567, 0.999876, False) for n in names]
        render_diff(out, Diff(tensors=tensors, atol=1e-8, rtol=1e-5), show_all=True)


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("command", ["inspect", "init", "stats", "diff"])
@pytest.mark.parametrize("width", [80, 60])
def test_piped_output_keeps_every_name_whole_on_one_line(
    sample: str, command: str, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))  # a pipe ignores the width
    names = names_of(sample)
    out = Output.for_stream(io.StringIO())
    assert not out.is_terminal
    render(command, names, out, sample)
    lines = out.file.getvalue().splitlines()
    for name in names:
        assert any(line.split()[:1] == [name] for line in lines), name
    assert max(len(line) for line in lines) > width or command != "inspect"


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("command", ["inspect", "init", "stats", "diff"])
@pytest.mark.parametrize("width", [80, 60])
def test_terminal_fits_rows_one_line_each_names_whole_or_elided(
    sample: str, command: str, width: int
) -> None:
    names = names_of(sample)
    out = screen(width, styled=True)
    render(command, names, out, sample)
    lines = ANSI.sub("", out.file.getvalue()).splitlines()
    table = lines[2 : 2 + len(names)]  # heading, rule, then one line per name
    for name, line in zip(names, table, strict=True):
        assert len(line) <= width, line
        shown = line.split()[0]
        if shown != name:  # elided in the middle: a head and a tail of the name
            head, _, tail = shown.partition(ELLIPSIS)
            assert name.startswith(head) and name.endswith(tail) and tail
    if command == "init":
        heading = lines[0]
        assert "expected std" not in heading and "by" not in heading.split()


def test_narrow_terminal_shortens_recipe_before_eliding_names() -> None:
    rows = init_rows(["transformer.h.0.attn.c_attn.weight"])
    wide, narrow = screen(200), screen(100)
    render_init(wide, rows)
    render_init(narrow, rows)
    assert "uniform(a=-0.0360844, b=0.0360844)" in wide.file.getvalue()
    text = narrow.file.getvalue()
    assert "transformer.h.0.attn.c_attn.weight" in text  # the name stays whole
    assert "uniform" in text and "uniform(" not in text and "expected std" not in text


def test_no_color_drops_bold_and_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", "100")
    styled = Output.for_stream(Terminal())
    render_rows(styled, open_inventory(SAMPLES["gpt2"]).filtered("*.h.0.attn*"))
    assert "\x1b[1m" in styled.file.getvalue() and "─" in styled.file.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Output.for_stream(Terminal())
    render_rows(plain, open_inventory(SAMPLES["gpt2"]).filtered("*.h.0.attn*"))
    text = plain.file.getvalue()
    assert "\x1b" not in text and "─" not in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_tty_compatible_forces_terminal_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "50")
    monkeypatch.setenv("NO_COLOR", "1")
    result = invoke("inspect", SAMPLES["bert"], "--filter", "*layer.11.attention*")
    assert result.exit_code == 0, result.output
    table = result.stdout.split("\nshown (")[0].splitlines()
    assert max(len(line) for line in table) <= 50 and ELLIPSIS in result.stdout


def test_filtered_views_show_what_is_shown_beside_the_model_totals() -> None:
    for args in ([], ["--tree"]):
        result = invoke("inspect", SAMPLES["gpt2"], "--filter", "*.h.0.*", *args)
        assert result.exit_code == 0, result.output
        shown = 7_087_872  # h.0: 2 LayerNorms (2 x 1,536) + attn 2,362,368 + mlp 4,722,432
        assert f"shown (*.h.0.*): {shown:,} elements in 12 of 149 names, 28.4 MB" in result.stdout
        assert "parameters: 124,439,808" in result.stdout


def test_tree_on_narrow_terminal_keeps_counts_whole() -> None:
    inventory = open_inventory(SAMPLES["bert"])
    out = screen(40)
    render_tree(out, build_tree(inventory))
    for line in out.file.getvalue().splitlines():
        assert re.search(r"[\d,]+( each)?(\s\(.*\))?$", line), line


@pytest.mark.parametrize("name", ["[/x]", "[bold]w[/bold]", "a[red]b", "x\x1b[2Jy", "t\tab\n"])
def test_names_are_data_never_markup(name: str, tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "odd.safetensors", {name: np.ones(2, np.float32)})
    for command in ("inspect", "stats"):
        result = invoke(command, path)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout
        assert safe(name) in result.stdout
    other = write_checkpoint(tmp_path / "other.safetensors", {name: np.zeros(2, np.float32)})
    result = invoke("diff", path, other)
    assert result.exit_code == 1 and safe(name) in result.stdout and "\x1b" not in result.stdout


def test_safe_escapes_control_characters_only() -> None:
    assert safe("layers.0.attn.q_proj.weight") == "layers.0.attn.q_proj.weight"
    assert safe("[bold]w[/bold]") == "[bold]w[/bold]"
    assert safe("a\x1b[31mb") == "a\\x1b[31mb"
    assert safe("r\u202eev") == "r\\u202eev"  # right-to-left override
    assert safe("gewicht.größe") == "gewicht.größe"


def test_elide_drops_whole_parts_from_the_middle() -> None:
    assert elide("transformer.h.10.attn.c_attn.weight", 27) == "transformer.…c_attn.weight"
    name = "bert.encoder.layer.11.attention.output.LayerNorm.weight"
    short = elide(name, 30)
    assert len(short) <= 30 and short == "bert.…output.LayerNorm.weight"
    assert elide("short", 30) == "short"
    plain = elide("a_very_long_name_without_any_dots", 12)
    assert len(plain) == 12 and plain.startswith("a_v") and plain.endswith("dots")


def test_table_never_wraps_a_piped_row() -> None:
    table = Table(["name", "value"], numeric=["value"])
    table.add_row("x" * 300, "1")
    assert table.render(Output(io.StringIO())) == [
        "name" + " " * 296 + "  value",
        "x" * 300 + "      1",
    ]


def test_filtered_json_carries_the_shown_totals_beside_the_model_totals() -> None:
    from cli_support import validate

    result = invoke("inspect", SAMPLES["gpt2"], "--filter", "*.h.0.*", "--json")
    data = validate(result.stdout, "inspect")
    assert data["shown_totals"]["parameters"] == 7_087_872
    assert data["totals"]["parameters"] == 124_439_808
    assert "shown_totals" not in validate(
        invoke("inspect", SAMPLES["gpt2"], "--json").stdout, "inspect"
    )


def test_gpt2_names_stay_whole_in_inspect_on_an_80_column_terminal() -> None:
    names = names_of("gpt2")
    out = screen(80, styled=True)
    render("inspect", names, out, "gpt2")
    lines = ANSI.sub("", out.file.getvalue()).splitlines()
    assert lines[0].split() == ["name", "shape", "dtype", "params"]  # tied, trainable dropped
    assert [line.split()[0] for line in lines[2 : 2 + len(names)]] == names


@pytest.mark.parametrize("command", [["inspect"], ["stats"], ["diff", "--all", "SAME"]])
def test_a_name_the_output_encoding_cannot_hold_is_shown_escaped(
    tmp_path: Path, command: list[str]
) -> None:
    path = write_checkpoint(tmp_path / "n.safetensors", {"ñame": np.ones(2, np.float32)})
    args = [str(path) if a == "SAME" else a for a in command]
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    result = subprocess.run([sys.executable, "-m", "paramtool", *args, str(path)], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "\\xf1ame" in result.stdout
