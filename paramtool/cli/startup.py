"""While the command line loads: Ctrl-C ends it as click's ``Abort`` does, without a traceback.

Once a command runs, click turns ``KeyboardInterrupt`` into ``Aborted!`` and exit 1; before
that, while click and the command line are imported, a SIGINT would end the process with
Python's ``KeyboardInterrupt`` traceback. Only the default handler is replaced, and only in the
main thread, so a program that imports the command line with its own handler keeps it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator


def _abort(signum: int, frame: object) -> None:
    sys.stderr.write("Aborted!\n")
    raise SystemExit(1)


@contextlib.contextmanager
def interrupt_aborts() -> Iterator[None]:
    """SIGINT ends the process with ``Aborted!`` and exit 1 while the block runs."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    signal.signal(signal.SIGINT, _abort)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
