"""More hostile input through the real CLI, under the rules of test_hostile.py: exit 0 with the
right result, or one error line (exit 1; a usage error: exit 2), within 10 s, no traceback, no
control character from a name, no temporary file left behind.

Here: infinities of opposite sign in ``diff``, pickles that expand to huge structures (a zip
bomb of ``data.pkl``, a ``BYTEARRAY8`` of 2**50 bytes), a 5,000-digit number in a config,
option values that overflow (a batch dimension of 10**20), an OUT that is a symbolic link loop
or empty, a model file that is a link loop, and Dask addresses that are malformed, unreachable, or ask for a million workers.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import struct
import subprocess
import sys
import zipfile
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from paramtool.checkpoint.torch_state import describe, plain_entries
from paramtool.report.compare import compare_rows, compare_values
from tests.cli_support import ROOT
from tests.test_hostile import MODEL, VERDICT, Outcome, check_outcome, run_cases

#: A pickle op that pushes None; a list of a million of them is a few lines of pickle.
NONE, APPENDS = b"N", b"e"


def _pickle_bomb(path: Path, megabytes: int) -> None:
    """A torch.save-shaped zip whose deflated ``data.pkl`` unpacks to a list of ``megabytes``
    million Nones: a few hundred kB on disk, written a megabyte at a time."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data.pkl", "w", force_zip64=True) as entry:
            entry.write(b"\x80\x02](")
            chunk = NONE * (1 << 20)
            for _ in range(megabytes):
                entry.write(chunk)
            entry.write(APPENDS + b".")
        archive.writestr("archive/version", "3\n")


def _zip_pickle(path: Path, data_pkl: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", "3\n")


def build_inputs(folder: Path) -> None:
    """Every input of the cases, written into ``folder``."""
    save_file({"a": np.ones(2, np.float32)}, str(folder / "good.safetensors"))
    for tag, values in {"inf": [np.inf, 1.0], "neginf": [-np.inf, 1.0]}.items():
        save_file({"w": np.array(values, np.float32)}, str(folder / f"{tag}.safetensors"))
    _pickle_bomb(folder / "bomb_under_cap.pt", 24)
    _pickle_bomb(folder / "bomb_over_cap.pt", 160)
    _zip_pickle(folder / "bytearray8.pt", b"\x80\x05\x96" + struct.pack("<Q", 2**50) + b".")
    # LONG_BINPUT of None at index 2**28 - 1: the unpickler's memo would grow to 4 GB.
    _zip_pickle(folder / "memo_index.pt", b"\x80\x02Nr" + struct.pack("<I", 2**28 - 1) + b".")
    (folder / "ok.py").write_text(MODEL + "model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))\n")  # fmt: skip
    (folder / "takes_n.py").write_text(
        MODEL + "class M(nn.Module):\n    def __init__(self, n=2):\n        super().__init__()\n"
        "        self.l = nn.Linear(int(n), 2)\n"
    )
    (folder / "huge.py").write_text(MODEL + "model = nn.Linear(10**6, 10**6)  # 4 TB of float32\n")
    (folder / "big_int.json").write_text('{"n": ' + "9" * 5000 + "}")
    (folder / "loop.safetensors").symlink_to("loop.safetensors")
    (folder / "loop.py").symlink_to("loop.py")
    for tag, name in {"newline": "a\nb", "return": "a\rb", "separator": "a\x1cb", "line": "a\u2028b"}.items():  # fmt: skip
        save_file({name: np.ones(2, np.float32)}, str(folder / f"name_{tag}.safetensors"))


#: (case id, arguments, expected exit code, text the output must hold).
CASES: list[tuple[str, tuple[str, ...], int, str]] = []


def case(name: str, *args: str, code: int = 1, shows: str = "") -> None:
    CASES.append((name, args, code, shows))


# An infinity meets the other infinity: as far apart as values can be, never "close".
case("diff-inf-vs-neginf", "diff", "inf.safetensors", "neginf.safetensors", code=VERDICT, shows="DIFFERENT")  # fmt: skip
case("diff-json-inf-vs-neginf", "diff", "--json", "inf.safetensors", "neginf.safetensors", code=VERDICT, shows='"same": false')  # fmt: skip
case("diff-inf-vs-inf", "diff", "inf.safetensors", "inf.safetensors", code=0, shows="same")
# A data.pkl that unpacks to 24 million Nones is described without walking all of them; one
# that would unpack past the cap for compressed pickles is refused before unpickling.
case("inspect-pickle-bomb", "inspect", "bomb_under_cap.pt", shows="not a dict of tensors")
case("inspect-pickle-bomb-over-cap", "inspect", "bomb_over_cap.pt", shows="data.pkl")
case("inspect-pickle-bytearray8", "inspect", "bytearray8.pt", shows="not a valid pickle")
case("inspect-pickle-memo-index", "inspect", "memo_index.pt", shows="asks for more memory than 9 bytes")  # fmt: skip
case("check-input-dimension-overflow", "check", "ok.py", "--input", "99999999999999999999", code=2, shows="--input")  # fmt: skip
for command in ("inspect", "export"):
    extra = ("out.safetensors",) if command == "export" else ()
    model = ("--model", "takes_n.py") if command == "export" else ("takes_n.py",)
    case(f"{command}-config-big-int", command, *model, "--config", "big_int.json", *extra, shows="big_int.json")  # fmt: skip
for command in ("export", "init"):
    model = ("--model", "ok.py") if command == "export" else ("ok.py", "-o")
    case(f"{command}-out-symlink-loop", command, *model, "loop.safetensors", code=2, shows="loop.safetensors")  # fmt: skip
# A model file that is a loop of symbolic links is named as such, as a missing one is.
for command in ("inspect", "load"):
    case(f"{command}-model-symlink-loop", command, "loop.py", *(("good.safetensors",) if command == "load" else ()), shows="loop.py: is a symbolic link to nothing")  # fmt: skip
# A name's line breaks in an error message are escaped, not folded into the line as spaces.
for tag, shown in {"newline": "a\\x0ab", "return": "a\\x0db", "separator": "a\\x1cb", "line": "a\\u2028b"}.items():  # fmt: skip
    case(f"export-from-name-{tag}", "export", "--model", "ok.py", "--from", f"name_{tag}.safetensors", "out.safetensors", shows=f'Unexpected key(s) in state_dict: "{shown}"')  # fmt: skip
# A write that fails leaves no folder it created for OUT behind.
for kind, extra in (("file", ("new/a/x.safetensors",)), ("sharded", ("--max-shard-size", "1GB", "new/a/out"))):  # fmt: skip
    case(f"export-new-folder-{kind}", "export", "--model", "huge.py", *extra, shows="does not fit in memory")  # fmt: skip
case("init-out-empty", "init", "ok.py", "-o", "", code=2, shows="output path is empty")
if find_spec("distributed") is not None:  # --workers and --scheduler run on Dask
    sharded = ("export", "--model", "ok.py", "--max-shard-size", "20B", "out")
    for address in ("bogus", "tcp://[::1"):
        case(f"export-scheduler-{address}", *sharded, "--scheduler", address, shows="Dask scheduler")  # fmt: skip
    case("export-scheduler-unreachable", *sharded, "--scheduler", "tcp://127.0.0.1:9", shows="Dask scheduler")  # fmt: skip
    case("export-million-workers", *sharded, "--workers", "1000000", code=0, shows="wrote out/")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Outcome, Path]]:
    """Every case run once, in a folder of its own holding links to the inputs."""
    return run_cases(tmp_path_factory.mktemp("hostile_inputs"), CASES, build_inputs)


@pytest.mark.parametrize(("name", "code", "shows"), [(c[0], c[2], c[3]) for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_hostile_input(outcomes: dict[str, tuple[Outcome, Path]], name: str, code: int, shows: str) -> None:  # fmt: skip
    result, folder = outcomes[name]
    check_outcome(result, code, shows, folder)


@pytest.mark.parametrize("kind", ["file", "sharded"])
def test_a_failed_write_removes_the_folders_it_made(outcomes: dict[str, tuple[Outcome, Path]], kind: str) -> None:  # fmt: skip
    _, folder = outcomes[f"export-new-folder-{kind}"]
    assert not (folder / "new").exists()


def test_infinities_of_opposite_sign_are_not_close() -> None:
    """torch.isclose(inf, -inf) is False at any tolerance; inf and inf are close. With no
    element finite on both sides, the cosine is undefined (NaN), not 1."""
    inf = np.array([np.inf], np.float32)
    apart = compare_values("w", inf, -inf, atol=1e-5, rtol=1.3e-6)
    assert not apart.close and apart.max_abs == math.inf and math.isnan(apart.cosine)
    assert compare_values("w", inf, inf, atol=1e-5, rtol=1.3e-6).close
    mixed = compare_values("w", np.array([np.inf, 1.0]), np.array([-np.inf, 1.0]), 1e-5, 1e-6)
    assert not mixed.close and mixed.cosine == pytest.approx(1.0)


def test_pickle_bomb_inputs_are_small_on_disk(tmp_path: Path) -> None:
    """The bombs above are what they claim: tiny files whose data.pkl unpacks to megabytes."""
    _pickle_bomb(tmp_path / "b.pt", 4)
    with zipfile.ZipFile(tmp_path / "b.pt") as archive:
        info = archive.getinfo("archive/data.pkl")
    assert info.file_size == 4 * (1 << 20) + 6 and info.compress_size < info.file_size // 100


class CountedList(list):
    """A list that counts the items iterated over."""

    seen = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        for item in super().__iter__():
            CountedList.seen += 1
            yield item


@pytest.mark.parametrize("walk", ["describe", "plain_entries"])
def test_a_huge_unpickled_list_is_not_walked_to_its_end(walk: str) -> None:
    """A few kB of pickle can build a list of a billion items: describing an entry (inspect)
    and keeping plain entries as metadata (convert) stop after a bounded number of items."""
    items = CountedList([None] * 3_000_000)
    CountedList.seen = 0
    if walk == "describe":
        assert describe(items).endswith("of 3000000 entries")
    else:
        assert plain_entries({"state_dict": {}, "history": items}, "state_dict") == {}
    assert 0 < CountedList.seen <= 1_000_001


@pytest.mark.parametrize("command", ["inspect", "stats"])
def test_a_closed_stdout_is_one_error_line(tmp_path: Path, command: str) -> None:
    """Started with stdout closed (``>&-``), a command has nowhere to show its result: one
    error line and exit 1, as ``ls >&-`` fails, never an AttributeError traceback."""
    save_file({"a": np.ones(2, np.float32)}, str(tmp_path / "a.safetensors"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    line = f"{shlex.quote(sys.executable)} -m paramtool {command} a.safetensors >&-"
    done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert "standard output is closed" in done.stderr


def test_plain_entries_are_written_as_json_dumps_writes_them() -> None:
    """Scalars take a short path (a checkpoint may hold a million of them); the text is
    json.dumps's, and what JSON cannot hold (NaN, an int of 5,000 digits) is left out."""
    values = {"none": None, "yes": True, "no": False, "int": -5, "big": 2**70, "float": 1.5}
    values |= {"text": 'a"b\\c\n\x1b\u00e9\U0001f600\ud800', "empty": "", "list": [1, "x", None]}
    bad = {"nan": math.nan, "digits": 10**5000, "nested_nan": [math.inf]}
    entries = plain_entries({"state_dict": {}, **values, **bad}, "state_dict")
    assert entries == {key: json.dumps(value) for key, value in values.items()}


def test_small_tensors_compared_in_a_batch_give_the_lone_figures() -> None:
    """diff compares small tensors of one size and dtype as the rows of one array: each row's
    figures are those of comparing it alone (NaN, infinities of either sign, -0.0, zeros)."""
    nan, inf = math.nan, math.inf
    rows_a = [[1.0, 2.0, 3.0], [nan, 1.0, 2.0], [inf, 1.0, 0.0], [inf, -inf, nan], [-0.0, 0.0, 0.0], [1e30, -1e30, 5.0]]  # fmt: skip
    rows_b = [[1.0, 2.0, 3.5], [nan, 1.0, 2.0], [-inf, 1.0, 0.0], [inf, -inf, nan], [0.0, 0.0, 0.0], [1e30, 1e30, 5.0]]  # fmt: skip
    a, b = np.array(rows_a, np.float32), np.array(rows_b, np.float32)
    names = [f"t{i}" for i in range(len(a))]
    batched = compare_rows(names, a, b, atol=1e-5, rtol=1.3e-6)
    for name, got, row_a, row_b in zip(names, batched, a, b, strict=True):
        alone = compare_values(name, row_a, row_b, atol=1e-5, rtol=1.3e-6)
        assert (got.name, got.close) == (alone.name, alone.close)
        for field in ("max_abs", "max_rel", "cosine"):
            assert getattr(got, field) == pytest.approx(getattr(alone, field), rel=1e-12, nan_ok=True)  # fmt: skip
    assert [t.close for t in batched] == [False, True, False, True, True, False]


def test_many_tiny_tensors_are_written_in_a_few_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A checkpoint of 20,000 scalars is written in a few system calls, not one per tensor
    (100,000 of them took 12 s to convert), and reads back as the reference library wrote it."""
    from paramtool.checkpoint.safetensors import writer  # noqa: PLC0415

    calls = []

    def counted(fd: int, view: memoryview) -> int:
        calls.append(len(view))
        return os.write(fd, view)

    monkeypatch.setattr(writer, "_write", counted)
    tensors = {f"t{i}": np.array([i], np.float32) for i in range(20_000)}
    writer.save_file(tensors, tmp_path / "many.safetensors")
    assert len(calls) <= 5, len(calls)
    stored = load_file(str(tmp_path / "many.safetensors"))
    assert stored.keys() == tensors.keys()
    assert all(stored[name][0] == value[0] for name, value in tensors.items())
