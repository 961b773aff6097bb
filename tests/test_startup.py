"""Start-up stays light: ml_dtypes is imported only when a bfloat16/float8 dtype is used, and
rich only when rendering for a terminal. Checked in fresh interpreters through ``sys.modules``
(never by timing; benchmarks/bench_startup.py measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("ml_dtypes", "rich.console", "rich.table")


def loaded_after(code: str) -> dict[str, bool]:
    """Which heavy modules a fresh interpreter holds after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_import_paramtool_loads_neither() -> None:
    assert loaded_after("import paramtool, paramtool.nn") == dict.fromkeys(HEAVY, False)
    assert loaded_after("import paramtool.cli") == dict.fromkeys(HEAVY, False)


def test_import_paramtool_is_lazy_and_names_resolve() -> None:
    code = (
        "import sys, paramtool\n"
        "assert 'numpy' not in sys.modules, 'numpy at import paramtool'\n"
        "from paramtool import nn, zeros\n"
        "from paramtool.core.factories import zeros as factory\n"
        "assert zeros is factory and paramtool.nn is nn and paramtool.exp is not None\n"
        "assert isinstance(paramtool.float32, paramtool.dtype)\n"
        "assert {'Tensor', 'nn', 'exp', 'bfloat16'} <= set(paramtool.__all__)"
    )
    loaded_after(code)


def test_bfloat16_attribute_resolves_on_first_use() -> None:
    code = (
        "import paramtool, ml_dtypes, numpy as np\n"
        "assert paramtool.bfloat16 == np.dtype(ml_dtypes.bfloat16)\n"
        "assert paramtool.float8_e4m3fn == np.dtype(ml_dtypes.float8_e4m3fn)\n"
        "from paramtool.core.dtypes import as_dtype, dtype_name\n"
        "assert dtype_name(np.zeros(2, ml_dtypes.float8_e5m2).dtype) == 'float8_e5m2'\n"
        "assert as_dtype('bf16') is paramtool.bfloat16"
    )
    assert loaded_after(code)["ml_dtypes"]


def test_name_lookup_of_extended_dtype_imports_ml_dtypes() -> None:
    code = "from paramtool.core.dtypes import as_dtype\nassert as_dtype('bfloat16').itemsize == 2"
    assert loaded_after(code)["ml_dtypes"]


def test_float32_header_read_does_not_import_ml_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "f32.safetensors"
    save_file({"w": np.ones((2, 3), np.float32), "i": np.arange(3)}, path)
    code = (
        "from paramtool.checkpoint import open_checkpoint\n"
        f"ck = open_checkpoint({str(path)!r})\n"
        "assert sorted(e.name for e in ck.entries) == ['i', 'w']"
    )
    assert not loaded_after(code)["ml_dtypes"]


def test_bfloat16_header_read_resolves_its_dtype(tmp_path: Path) -> None:
    import ml_dtypes

    path = tmp_path / "bf16.safetensors"
    save_file({"w": np.ones(4, ml_dtypes.bfloat16)}, path)
    code = (
        "import ml_dtypes, numpy as np\n"
        "from paramtool.checkpoint import open_checkpoint\n"
        f"(e,) = open_checkpoint({str(path)!r}).entries\n"
        "assert np.dtype(e.dtype) == np.dtype(ml_dtypes.bfloat16), e.dtype"
    )
    assert loaded_after(code)["ml_dtypes"]


def test_help_lists_every_command_without_importing_them() -> None:
    from click.testing import CliRunner

    from paramtool.cli import COMMANDS, main

    lazy = CliRunner().invoke(main, ["--help"], terminal_width=80).output
    commands = {name: main.get_command(None, name) for name in COMMANDS}  # type: ignore[arg-type]
    limit = 80 - 6 - max(map(len, COMMANDS))
    for name, command in commands.items():
        assert f"  {name}  " in lazy and command.get_short_help_str(limit) in lazy, name
    code = "from click.testing import CliRunner\nfrom paramtool.cli import main\n"
    code += "assert CliRunner().invoke(main, ['--help']).exit_code == 0\nimport sys\n"
    code += "assert not [m for m in sys.modules if m.startswith(('numpy', 'paramtool.cli.'))"
    code += " and m not in ('paramtool.cli.errors', 'paramtool.cli.layout', 'paramtool.cli.startup')], sys.modules"
    loaded_after(code)


def test_float32_inspect_loads_neither_ml_dtypes_nor_rich() -> None:
    for extra in ([], ["--json"], ["--tree"]):
        args = ["inspect", "sample_models/llama.py", "--arg", "size=70b", *extra]
        code = f"from paramtool.cli import main\nmain({args!r}, standalone_mode=False)"
        assert loaded_after(code) == dict.fromkeys(HEAVY, False), extra


def test_reading_a_checkpoint_does_not_load_the_nn_core(tmp_path: Path) -> None:
    path = tmp_path / "f32.safetensors"
    save_file({"w": np.ones((2, 3), np.float32)}, str(path))
    for command in (["inspect"], ["inspect", "--json"], ["stats"], ["stats", "--json"]):
        args = [*command, str(path)]
        code = (
            f"from paramtool.cli import main\nmain({args!r}, standalone_mode=False)\nimport sys\n"
        )
        code += "assert 'paramtool.nn' not in sys.modules and 'paramtool.report.compare' not in sys.modules"
        loaded_after(code)
    code = "import paramtool.checkpoint as c, paramtool.report as r\n"
    code += "assert c.load_into.__module__ == 'paramtool.checkpoint.state' and r.diff.__module__ == 'paramtool.report.compare'"
    loaded_after(code)
