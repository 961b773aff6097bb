"""A sharded export is atomic as a whole: old or new checkpoint after kill -9, a full disk,
SIGTERM/SIGHUP; a mixed folder is refused on load; a bad OUT touches nothing; leftovers of a
crashed write are reused or removed by the next write to the same target."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.numpy import load_file as ref_load

from paramtool import __version__
from paramtool.checkpoint import open_checkpoint
from paramtool.errors import SafetensorsError
from paramtool.export import ModelRecipe, ModelSource, make_plan, write_checkpoint
from paramtool.export.staging import staging_folder
from tests.cli_support import ROOT, invoke

LLAMA = ROOT / "sample_models" / "llama.py"
#: A LLaMA cut small (HF names and layout): 2 layers, 591 kB in 6 shards of at most 100 kB.
SMALL = {"num_hidden_layers": 2, "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128}
#: Big enough (about 70 MB in 12 shards) that a kill lands mid-export.
LARGER = {"num_hidden_layers": 4, "vocab_size": 4000, "hidden_size": 512, "intermediate_size": 1376}  # fmt: skip


def cli_args(args: dict[str, int], seed: int, shard: str | None = "100kB") -> list[str]:
    out = ["--model", str(LLAMA), "--seed", str(seed)]
    out += ["--max-shard-size", shard] if shard else []
    for key, value in args.items():
        out += ["--arg", f"{key}={value}"]
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder (hidden ones included) and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(parent: Path) -> list[str]:
    """Temporary or staging files of any write in ``parent``."""
    return sorted(p.name for p in parent.rglob(".*"))


def export(out: Path, args: dict[str, int], seed: int, shard: str = "100kB") -> Path:
    result = invoke("export", out, *cli_args(args, seed, shard))
    assert result.exit_code == 0, result.output
    return out


def spawn(out: Path, args: dict[str, int], seed: int, shard: str, **kw: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "paramtool", "export", str(out), *cli_args(args, seed, shard)]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, **kw)  # type: ignore[call-overload]


def wait_for_shards(folder: Path, count: int, process: subprocess.Popen, limit: float = 60) -> None:
    """Wait until ``count`` finished shard files are in the staging folder."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done = [p for p in folder.glob("model-*.safetensors")] if folder.is_dir() else []
        if len(done) >= count:
            return
        assert process.poll() is None, "the export finished before it could be interrupted"
        time.sleep(0.005)
    raise AssertionError("no shard appeared")


@pytest.fixture
def old(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A 12-shard checkpoint of seed 1, beside a config.json, and its bytes."""
    target = export(tmp_path / "ckpt", LARGER, seed=1, shard="6MB")
    (target / "config.json").write_text('{"model_type": "llama"}')
    return target, snapshot(target)


def test_kill_9_mid_export_leaves_the_old_checkpoint_and_a_rerun_completes(
    tmp_path: Path, old: tuple[Path, dict[str, bytes]]
) -> None:
    target, before = old
    process = spawn(target, LARGER, seed=2, shard="6MB")
    wait_for_shards(staging_folder(target), 3, process)
    process.kill()
    process.wait()
    assert snapshot(target) == before  # untouched: the new shards were staged beside it
    open_checkpoint(target)  # and it loads
    staged = {p.name: p.stat().st_ino for p in staging_folder(target).glob("model-*")}
    assert len(staged) >= 3
    # The re-run keeps the complete shards of the killed run (same inode) and writes the rest.
    again = spawn(target, LARGER, seed=2, shard="6MB")
    assert again.wait(timeout=120) == 0, again.stderr.read()  # type: ignore[union-attr]
    assert {p.name: p.stat().st_ino for p in target.glob("model-*") if p.name in staged} == staged
    reference = export(tmp_path / "reference", LARGER, seed=2, shard="6MB")
    after = snapshot(target)
    assert after.pop("config.json") == b'{"model_type": "llama"}'  # carried over
    assert after == snapshot(reference)
    assert leftovers(tmp_path) == []


def test_kill_9_at_any_moment_leaves_the_old_or_the_new_checkpoint(
    tmp_path: Path, old: tuple[Path, dict[str, bytes]]
) -> None:
    target, before = old
    new = snapshot(export(tmp_path / "new", LARGER, seed=2, shard="6MB"))
    new["config.json"] = before["config.json"]
    started = time.monotonic()
    assert spawn(tmp_path / "timing", LARGER, seed=2, shard="6MB").wait(timeout=120) == 0
    took = time.monotonic() - started
    for fraction in (0.4, 0.8, 1.0):  # from mid-shard to about the swap itself
        process = spawn(target, LARGER, seed=2, shard="6MB")
        time.sleep(took * fraction)
        process.kill()
        process.wait()
        assert snapshot(target) in (before, new), fraction
        open_checkpoint(target)  # loads, whole
    again = spawn(target, LARGER, seed=2, shard="6MB")
    assert again.wait(timeout=120) == 0
    assert snapshot(target) == new
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_terminating_signals_clean_up_like_sigint(
    tmp_path: Path, old: tuple[Path, dict[str, bytes]], sig: signal.Signals
) -> None:
    target, before = old
    process = spawn(target, LARGER, seed=2, shard="6MB")
    wait_for_shards(staging_folder(target), 1, process)
    process.send_signal(sig)
    assert process.wait(timeout=30) != 0
    assert snapshot(target) == before
    assert leftovers(tmp_path) == []  # no temporary file, no staging folder


def test_full_disk_keeps_the_old_checkpoint(
    tmp_path: Path, old: tuple[Path, dict[str, bytes]]
) -> None:
    target, before = old

    def limit_file_size() -> None:  # every file above 5 MB fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (5 * 10**6, 5 * 10**6))

    # Shards: 0.weight (4.2 MB, written), 2.weight (16.8 MB, fails), then the biases.
    mlp = ["--model", str(ROOT / "sample_models" / "mlp.py"), "--max-shard-size", "3MB"]
    mlp += ["--arg", "in_features=1024", "--arg", "hidden=1024", "--arg", "out_features=4096"]
    command = [sys.executable, "-m", "paramtool", "export", str(target), *mlp]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, preexec_fn=limit_file_size)  # fmt: skip
    assert done.returncode == 1
    err = done.stderr
    assert err.count("\n") == 1 and err.startswith("Error: ") and "write failed" in err, err
    assert "model-00002-of-00003.safetensors" in err  # the first shard was complete
    assert snapshot(target) == before
    assert leftovers(tmp_path) == []


def test_a_shard_of_another_export_is_refused_on_load(tmp_path: Path) -> None:
    one = export(tmp_path / "one", SMALL, seed=1)
    two = export(tmp_path / "two", SMALL, seed=2)
    shard = sorted(p.name for p in one.glob("model-*"))[1]
    (one / shard).write_bytes((two / shard).read_bytes())  # what a non-atomic writer left
    with pytest.raises(SafetensorsError, match=f"shard '{shard}' belongs to another checkpoint"):
        open_checkpoint(one)
    for command in ("load", "inspect"):
        args = [str(LLAMA), str(one)] if command == "load" else [str(one)]
        result = invoke(command, *args)
        assert result.exit_code == 1 and "belongs to another checkpoint" in result.output


def test_empty_or_bad_out_is_a_usage_error_that_touches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = export(tmp_path / "ckpt", SMALL, seed=1, shard="130kB")
    monkeypatch.chdir(target)
    before = snapshot(target)
    assert len([n for n in before if n.startswith("model-")]) == 5
    for out in ("", " ", ".", str(target), str(tmp_path)):
        result = invoke("export", out, *cli_args(SMALL, seed=2))
        assert result.exit_code == 2, (out, result.output)
        assert "Invalid value for 'OUT'" in result.output
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(target)
    for out in (tmp_path / "file", tmp_path / "link"):
        assert invoke("export", out, *cli_args(SMALL, seed=2)).exit_code == 2, out
    assert invoke("export", tmp_path, "--model", str(LLAMA)).exit_code == 2
    assert invoke("export", target / "x.safetensors", "--max-shard-size", "1MB").exit_code == 2
    bad = invoke("export", tmp_path / "new", *cli_args(SMALL, seed=2), "--metadata", "novalue")
    assert bad.exit_code == 2 and "Invalid value for '--metadata'" in bad.output
    assert snapshot(target) == before and leftovers(tmp_path) == []
    assert not (tmp_path / "new").exists()


def test_stale_temps_of_dead_writers_are_removed_by_the_next_write(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)  # fmt: skip
    pid = int(dead.stdout)
    stale = tmp_path / f".out.safetensors.{pid}-abc123.tmp"
    stale.write_bytes(b"x" * 100)
    alive = tmp_path / f".out.safetensors.{os.getpid()}-def456.tmp"  # a running writer's
    alive.write_bytes(b"y")
    other = tmp_path / f".other.safetensors.{pid}-abc123.tmp"  # another target's
    other.write_bytes(b"z")
    result = invoke("export", tmp_path / "out.safetensors", *cli_args(SMALL, seed=0, shard=None))
    assert result.exit_code == 0, result.output
    assert not stale.exists() and alive.exists() and other.exists()


def test_a_crashed_staging_folder_is_reused_only_where_it_matches(tmp_path: Path) -> None:
    source = ModelSource(ModelRecipe(str(LLAMA), args=SMALL, seed=3))
    plan = make_plan(source, "100kB")
    staging = staging_folder(tmp_path / "out")
    staging.mkdir()
    # A leftover of another export under a shard name, a truncated one, a foreign file.
    other = make_plan(ModelSource(ModelRecipe(str(LLAMA), args=SMALL, seed=4)), "100kB")
    assert other.checkpoint_id != plan.checkpoint_id
    write_checkpoint(ModelSource(ModelRecipe(str(LLAMA), args=SMALL, seed=4)), tmp_path / "o", "100kB")  # fmt: skip
    first, second = plan.shards[0].file, plan.shards[1].file
    (staging / first).write_bytes((tmp_path / "o" / first).read_bytes())
    (staging / second).write_bytes((tmp_path / "o" / second).read_bytes()[:-1])
    (staging / "junk").write_text("j")
    write_checkpoint(source, tmp_path / "out", "100kB")
    reference = write_checkpoint(source, tmp_path / "ref", "100kB")
    assert snapshot(tmp_path / "out") == snapshot(reference[0].parent)
    assert leftovers(tmp_path) == []


def test_two_writes_to_one_target_do_not_mix(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"
    holder = "import sys; from pathlib import Path; from paramtool.export.staging import staged\n"
    holder += "with staged(Path(sys.argv[1])):\n    print('locked', flush=True); sys.stdin.read()"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-c", holder, str(target)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert first.stdout.readline() == "locked\n"  # type: ignore[union-attr]
    result = invoke("export", target, *cli_args(SMALL, seed=2))
    assert result.exit_code == 1 and "another export to it is running" in result.output
    assert not target.exists()
    first.communicate("")  # the first writer ends: its lock goes with it
    export(target, SMALL, seed=2)
    open_checkpoint(target)
    assert leftovers(tmp_path) == []


def test_provenance_is_recorded_in_every_file_and_shown_by_inspect(tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    result = invoke(
        "export", out, *cli_args(SMALL, seed=7), "--scheme", "normal:std=0.02",
        "--rule", "*.bias=zeros", "--dtype", "bfloat16",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    index = json.loads((out / "model.safetensors.index.json").read_text())
    expected = {
        "paramtool.model": "llama.py",
        "paramtool.args": "num_hidden_layers=2 vocab_size=512 hidden_size=64 intermediate_size=128",  # fmt: skip
        "paramtool.scheme": "normal:std=0.02",
        "paramtool.rules": "*.bias=zeros",
        "paramtool.seed": "7",
        "paramtool.dtype": "bfloat16",
        "paramtool.version": __version__,
    }
    assert expected.items() <= index["metadata"].items()
    for shard in set(index["weight_map"].values()):
        meta = open_checkpoint(out / shard).metadata
        assert expected.items() <= meta.items()
        assert meta["paramtool.checkpoint_id"] == index["metadata"]["paramtool.checkpoint_id"]
        assert set(ref_load(str(out / shard)))  # the reference reads every shard
    shown = invoke("inspect", out, "--json")
    assert shown.exit_code == 0, shown.output
    assert expected.items() <= json.loads(shown.stdout)["metadata"].items()
    text = invoke("inspect", out).stdout.splitlines()
    assert text[-1] == (
        f"provenance: paramtool {__version__}; model llama.py; args num_hidden_layers=2 "
        "vocab_size=512 hidden_size=64 intermediate_size=128; scheme normal:std=0.02; "
        "rules *.bias=zeros; seed 7; dtype bfloat16"
    )


def test_leaked_temps_inside_an_old_checkpoint_are_dropped_and_other_files_kept(
    tmp_path: Path,
) -> None:
    target = export(tmp_path / "ckpt", SMALL, seed=1)
    # What a writer that replaced shards in place left after a kill -9 (no pid in the name).
    (target / ".model-00002-of-00006.safetensors.k2j4h1.tmp").write_bytes(b"\0" * 1000)
    (target / "tokenizer").mkdir()
    (target / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (target / "README.md").write_text("mine")
    export(target, SMALL, seed=2)
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith("model")) == ["README.md", "tokenizer"]  # fmt: skip
    assert (target / "tokenizer" / "vocab.txt").read_text() == "a\nb\n"
    assert open_checkpoint(target).metadata["paramtool.seed"] == "2"
    assert leftovers(tmp_path) == []
