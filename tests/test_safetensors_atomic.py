"""The writer is atomic: a killed writer, a full disk or a failing producer never leave a
partial file under the target name, and an earlier file stays intact."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file as ref_load

import paramtool
import paramtool.checkpoint.safetensors.writer as writer
from paramtool.checkpoint import save_file, save_state_dict, write_stream
from paramtool.core.recipes import Recipe
from paramtool.core.tensor import Tensor
from paramtool.errors import SafetensorsError

EARLIER = {"old": np.arange(10, dtype=np.float32)}
REPO = Path(__file__).resolve().parent.parent


def earlier_file(folder: Path) -> tuple[Path, bytes]:
    target = folder / "model.safetensors"
    save_file(EARLIER, target)
    return target, target.read_bytes()


def assert_intact(target: Path, before: bytes) -> None:
    assert target.read_bytes() == before
    np.testing.assert_array_equal(ref_load(str(target))["old"], EARLIER["old"])


def test_sigkill_mid_file_leaves_the_earlier_file_intact(tmp_path: Path) -> None:
    target, before = earlier_file(tmp_path)
    marker = tmp_path / "halfway"
    script = textwrap.dedent(f"""
        import time, numpy as np
        from pathlib import Path
        from paramtool.checkpoint import write_stream
        specs = [(f"t{{i}}", (1024, 1024), np.float32) for i in range(8)]
        def produce(name):
            if name == "t3":
                Path({str(marker)!r}).touch()
                time.sleep(60)
            return np.full((1024, 1024), 1.0, np.float32)
        write_stream({str(target)!r}, specs, produce)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None, "writer exited early"
            assert time.monotonic() < deadline, "writer never reached the middle"
            time.sleep(0.02)
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1
        # t3 is computed while t2 is written: wait until t0..t2 are all in the file.
        while temps[0].stat().st_size <= 3 * 4 * 2**20:
            assert time.monotonic() < deadline, "writer never got past t2"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    assert_intact(target, before)
    leftovers = {p.name for p in tmp_path.iterdir()} - {"model.safetensors", "halfway"}
    assert all(name.startswith(".model.safetensors.") for name in leftovers)


def test_full_disk_removes_the_temp_file_and_keeps_the_earlier_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, before = earlier_file(tmp_path)
    budget = {"bytes": 5000}

    def write_until_full(fd: int, view: memoryview) -> int:
        if budget["bytes"] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(fd, view[: budget["bytes"]])
        budget["bytes"] -= n
        return n

    monkeypatch.setattr(writer, "_write", write_until_full)
    with pytest.raises(SafetensorsError, match="write failed: No space left on device"):
        save_file({"big": np.ones(100_000, np.float32)}, target)
    assert budget["bytes"] <= 0  # the disk really filled mid-file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert_intact(target, before)


def test_full_disk_on_a_new_target_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, view: memoryview) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writer, "_write", full)
    with pytest.raises(SafetensorsError, match="No space left"):
        save_file({"w": np.ones(4, np.float32)}, tmp_path / "new.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_real_file_size_limit_fails_cleanly(tmp_path: Path) -> None:
    # RLIMIT_FSIZE makes the kernel refuse writes past 1 MiB (EFBIG), as a full disk would.
    target, before = earlier_file(tmp_path)
    script = textwrap.dedent(f"""
        import resource, signal, sys, numpy as np
        from paramtool.errors import SafetensorsError
        from paramtool.checkpoint import save_file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
        try:
            save_file({{"w": np.ones(2**20, np.float32)}}, {str(target)!r})
        except SafetensorsError as exc:
            print(exc)
            sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert "write failed" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert_intact(target, before)


def test_failing_producer_leaves_the_earlier_file_intact(tmp_path: Path) -> None:
    target, before = earlier_file(tmp_path)

    def produce(name: str) -> np.ndarray:
        if name == "b":
            raise KeyError("no values for b")
        return np.zeros(3, np.float32)

    with pytest.raises(KeyError):
        write_stream(target, [("a", (3,), np.float32), ("b", (3,), np.float32)], produce)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert_intact(target, before)


def test_values_not_matching_the_header_are_refused(tmp_path: Path) -> None:
    target, before = earlier_file(tmp_path)
    with pytest.raises(SafetensorsError, match=r"tensor 'a': values have shape \(4,\)"):
        write_stream(target, [("a", (3,), np.float32)], lambda name: np.zeros(4, np.float32))
    assert_intact(target, before)


def test_written_file_has_the_usual_permissions(tmp_path: Path) -> None:
    save_file({"w": np.zeros(1)}, tmp_path / "w.safetensors")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


@dataclass(frozen=True)
class FailingRecipe(Recipe):
    """Values that cannot be computed: ``fill`` raises ``error``, noting the thread it ran in."""

    error: Exception
    threads: list[str] = field(default_factory=list, compare=False, hash=False)

    def fill(self, out: object, stream: object) -> None:
        self.threads.append(threading.current_thread().name)
        raise self.error


@pytest.mark.parametrize("overlap", [True, False])
def test_a_recipe_failing_mid_export_leaves_the_earlier_file_intact(
    tmp_path: Path, overlap: bool
) -> None:
    target, before = earlier_file(tmp_path)
    error = RuntimeError("recipe failed")
    failing = FailingRecipe(error)
    model = {f"t{i}": paramtool.randn(256, 256) for i in range(5)}
    model["t3"] = Tensor._deferred((256, 256), failing)
    written: list[str] = []
    specs = [(name, tuple(t.shape), t.dtype) for name, t in model.items()]
    with pytest.raises(RuntimeError, match="^recipe failed$") as caught:
        write_stream(target, specs, model.__getitem__, progress=lambda n, _: written.append(n), overlap=overlap)  # fmt: skip
    assert caught.value is error  # the very exception, re-raised in the caller
    assert (failing.threads == [threading.current_thread().name]) is not overlap
    assert written == ["t0", "t1", "t2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert_intact(target, before)


def test_a_failing_recipe_in_a_state_dict_export_surfaces_unchanged(tmp_path: Path) -> None:
    target, before = earlier_file(tmp_path)
    model = {"a": paramtool.zeros(8), "b": Tensor._deferred((8,), FailingRecipe(KeyError("b")))}
    with pytest.raises(KeyError, match="'b'"):
        save_state_dict(model, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert_intact(target, before)


def test_a_failed_write_waits_for_the_worker_and_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, before = earlier_file(tmp_path)
    produced: list[str] = []
    finished = threading.Event()

    def produce(name: str) -> np.ndarray:
        produced.append(name)
        if name == "b":
            time.sleep(0.2)  # still computing when the write of "a" fails
            finished.set()
        return np.ones(1000, np.float32)

    def fail_after_header(fd: int, view: memoryview) -> int:
        if len(view) == 4000:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return os.write(fd, view)

    monkeypatch.setattr(writer, "_write", fail_after_header)
    specs = [(name, (1000,), np.float32) for name in "abc"]
    with pytest.raises(SafetensorsError, match="write failed: Input/output error"):
        write_stream(target, specs, produce)
    assert finished.is_set()  # nothing runs on after the writer has raised
    assert produced == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert_intact(target, before)


def test_the_next_tensor_is_computed_while_the_current_one_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writing "a" waits (bounded) for "b" to be in production: only an overlapping writer passes.
    b_started = threading.Event()

    def produce(name: str) -> np.ndarray:
        if name == "b":
            b_started.set()
        return np.full(1000, ord(name), np.float32)

    def write_once_b_started(fd: int, view: memoryview) -> int:
        if len(view) == 4000 and view[0:4].cast("f")[0] == ord("a"):
            assert b_started.wait(timeout=10), "b was not computed while a was written"
        return os.write(fd, view)

    monkeypatch.setattr(writer, "_write", write_once_b_started)
    specs = [(name, (1000,), np.float32) for name in "ab"]
    write_stream(tmp_path / "ab.safetensors", specs, produce)
    stored = ref_load(str(tmp_path / "ab.safetensors"))
    np.testing.assert_array_equal(stored["b"], np.full(1000, ord("b"), np.float32))


@pytest.mark.parametrize(("overlap", "tensors_held"), [(True, 2), (False, 1)])
def test_peak_memory_of_a_deferred_export_is_bounded(
    tmp_path: Path, overlap: bool, tensors_held: int
) -> None:
    # 8 deferred tensors of 32 MiB: overlapping holds the one written and the next, at most.
    tensor_bytes = 32 * 2**20
    model = {f"layers.{i}.weight": paramtool.randn(2048, 4096) for i in range(8)}
    specs = [(name, tuple(t.shape), t.dtype) for name, t in model.items()]
    tracemalloc.start()
    try:
        write_stream(tmp_path / "m.safetensors", specs, model.__getitem__, seed=0, overlap=overlap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (tmp_path / "m.safetensors").stat().st_size > 8 * tensor_bytes
    assert peak < (tensors_held + 0.75) * tensor_bytes
