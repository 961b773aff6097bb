"""Progress bars for long work (materialising, reading, writing), shown only on a terminal.

A bar appears only once the work has run for :data:`DELAY` seconds, so that quick commands
print nothing but their result.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator

#: Called after each tensor with its name and size in bytes.
Advance = Callable[[str, int], None]

#: Seconds of work before a bar is shown.
DELAY = 0.5


def _ignore(name: str, nbytes: int) -> None:
    """The callback used when no bar is shown."""


@contextlib.contextmanager
def progress(description: str, total_bytes: int) -> Iterator[Advance]:
    """A byte-counting progress bar on stderr, or a no-op callback when stderr is not a terminal.

    Args:
        description: What is being done (``reading``, ``writing``).
        total_bytes: The total the bar counts up to.

    Yields:
        The callback to call after each tensor.
    """
    if not sys.stderr.isatty():
        yield _ignore
        return
    from rich.console import Console  # noqa: PLC0415 - only a terminal pays for the import
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=False),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns, console=Console(stderr=True), transient=True)
    task = bar.add_task(description, total=total_bytes)
    lock = threading.Lock()
    state = {"shown": False, "done": False}

    def show() -> None:
        with lock:
            if not state["done"]:
                bar.start()
                state["shown"] = True

    timer = threading.Timer(DELAY, show)
    timer.daemon = True
    timer.start()

    def advance(name: str, nbytes: int) -> None:
        bar.update(task, advance=nbytes)

    try:
        yield advance
    finally:
        timer.cancel()
        with lock:
            state["done"] = True
            if state["shown"]:
                bar.stop()
