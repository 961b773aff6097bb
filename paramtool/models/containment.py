"""Keeping a model file's code from ending, hanging or corrupting the command that runs it.

A model file is Python that paramtool runs, like ``python model.py``. While its code runs
(the file itself, the model's constructor, later its ``forward`` or ``example_input``),
:func:`contained` keeps it from faking a result or outliving its run:

- what it prints goes to stderr, with control characters escaped: ``print`` and writes to
  the file descriptor 1 alike, so ``--json`` output on stdout stays one JSON document;
- ``os._exit`` raises instead of ending the process without a word;
- a process it forks ends silently when its code returns, instead of running the command twice;
- threads it starts are daemon threads (the command never waits for them), and what they print
  later still goes to stderr;
- what it changes in the process is put back afterwards: standard input reads as empty, the
  working directory, the recursion limit, standard output and error (even closed ones, at the
  file descriptor level), signal handlers and alarms, the builtins it deleted or replaced, and
  the ``atexit`` handlers it registered are dropped.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import io
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

#: Output streams model code wrote through, kept for the life of the process: a thread the
#: file started may be inside a ``print`` to one when it is swapped away, and CPython 3.11's
#: ``print`` holds ``sys.stdout`` without a reference of its own.
_kept: list[object] = []


class EscapedOutput(io.TextIOBase):
    """A text stream writing to ``target`` with control characters shown escaped.

    What a model file prints is data: an escape sequence in it (``\\x1b[31m``) reaches the
    terminal as text, never as a command; newlines and tabs pass as they are.
    """

    _TABLE = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)] if c not in (9, 10)}

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self._target = target

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._target.write(text.translate(self._TABLE))
        return len(text)

    def flush(self) -> None:
        self._target.flush()


class ByThread:
    """``sys.stdout`` once a model file's threads outlive its run: the thread that installed it
    writes to ``main`` (the command's output), every other thread to ``others`` (stderr)."""

    def __init__(self, main: TextIO, others: TextIO) -> None:
        self._main, self._others = main, others
        self._owner = threading.current_thread()

    def _stream(self) -> TextIO:
        return self._main if threading.current_thread() is self._owner else self._others

    def write(self, text: str) -> int:
        """Write ``text`` to the calling thread's stream."""
        return self._stream().write(text)

    def flush(self) -> None:
        """Flush the calling thread's stream."""
        self._stream().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._main, name)


class ProcessExit(SystemExit):
    """``os._exit`` called by a model file, turned into an exception paramtool can report."""


@contextlib.contextmanager
def contained(output: TextIO | None = None) -> Iterator[None]:
    """While model code runs, send its output to ``output`` and keep it from ending, hanging or
    changing the process (see the module docstring).

    Args:
        output: Where its prints go (default: stderr, control characters escaped).
    """
    printed = output or EscapedOutput(sys.stderr)
    _kept.append(printed)
    saved_exit, saved_register, saved_start = os._exit, atexit.register, threading.Thread.start
    pid, cwd, limit = os.getpid(), os.getcwd(), sys.getrecursionlimit()
    streams, saved_stdin, registered = (sys.stdout, sys.stderr), sys.stdin, []
    threads = set(threading.enumerate())
    handlers, builtin_names = _signal_state(), dict(vars(builtins))

    def no_exit(code: int) -> None:
        raise ProcessExit(code)

    def register(func: object, *args: object, **kwargs: object) -> object:
        registered.append(func)
        return saved_register(func, *args, **kwargs)  # type: ignore[arg-type]

    def start(thread: threading.Thread) -> None:
        with contextlib.suppress(RuntimeError):  # started already: start() itself says so
            thread.daemon = True
        saved_start(thread)

    os._exit, atexit.register, threading.Thread.start = no_exit, register, start  # type: ignore[assignment,method-assign]
    sys.stdin, sys.stdout = io.StringIO(), printed
    descriptors = _stdout_to_stderr()
    try:
        yield
    finally:
        if os.getpid() != pid:  # a child the model code forked: end it here, silently
            saved_exit(0)
        os._exit, atexit.register, threading.Thread.start = saved_exit, saved_register, saved_start  # type: ignore[method-assign]
        _restore_descriptors(descriptors)
        sys.stdin = saved_stdin
        sys.setrecursionlimit(limit)
        sys.stdout, sys.stderr = (_reopened(s, fd) for fd, s in enumerate(streams, start=1))
        if any(t.is_alive() and t not in threads for t in threading.enumerate()):
            sys.stdout = ByThread(sys.stdout, printed)  # type: ignore[assignment]
            _kept.append(sys.stdout)
        for func in registered:
            atexit.unregister(func)  # type: ignore[arg-type]
        _restore_signals(handlers)
        vars(builtins).update(builtin_names)
        with contextlib.suppress(OSError):
            if os.getcwd() != cwd:
                os.chdir(cwd)


def _stdout_to_stderr() -> dict[int, int]:
    """Point descriptor 1 at descriptor 2; return copies of both to put back."""
    saved = {}
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            saved[fd] = os.dup(fd)
    if len(saved) == 2:
        with contextlib.suppress(OSError, ValueError):
            sys.__stdout__.flush()  # type: ignore[union-attr]
        os.dup2(2, 1)
    return saved


def _restore_descriptors(saved: dict[int, int]) -> None:
    for fd, copy in saved.items():
        os.dup2(copy, fd)
        os.close(copy)


def _reopened(stream: TextIO, fd: int) -> TextIO:
    """``stream``, or a new one on the same descriptor if it was closed."""
    if not stream.closed:
        return stream
    return open(fd, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115


def _signal_state() -> dict[int, Any] | None:
    """The handler of every signal and the alarm timer (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    state: dict[int, Any] = {}
    for sig in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError):
            state[sig] = signal.getsignal(sig)
    if hasattr(signal, "getitimer"):
        state[-1] = (time.monotonic(), *signal.getitimer(signal.ITIMER_REAL))
    return state


def _restore_signals(state: dict[int, Any] | None) -> None:
    """Put back handlers the model code changed, and the alarm timer as it ran before."""
    if state is None:
        return
    if -1 in state:
        since, left, interval = state.pop(-1)
        left = max(left - (time.monotonic() - since), 1e-3) if left else 0
        signal.setitimer(signal.ITIMER_REAL, left, interval)
    for sig, handler in state.items():
        with contextlib.suppress(OSError, ValueError, TypeError):
            if handler is not None and signal.getsignal(sig) is not handler:
                signal.signal(sig, handler)
