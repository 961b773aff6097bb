"""The writer is atomic: a killed writer, a full disk or a failing producer never leave a
partial file under the target name, and an earlier file stays intact."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file as ref_load

import paramtool.safetensors.writer as writer
from paramtool.errors import SafetensorsError
from paramtool.safetensors import save_file, write_stream

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
        from paramtool.safetensors import write_stream
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
        assert len(temps) == 1 and temps[0].stat().st_size > 3 * 4 * 2**20  # really mid-file
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
        from paramtool.safetensors import save_file
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
