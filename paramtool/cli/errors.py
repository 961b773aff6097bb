"""The one place where library exceptions become command-line errors (exit status 1).

Every user-fixable failure the library raises (a :class:`~paramtool.errors.ParamtoolError`,
including the ``StateDictError`` of ``load_state_dict``) and every ``OSError`` (a missing file, a
full disk) is shown as a single ``Error: ...`` line on stderr, and a Python warning (a
zero-element tensor left uninitialised) as a single ``warning: ...`` line. Any other exception
is a bug in paramtool and keeps its traceback. ``--debug`` (or ``PARAMTOOL_DEBUG=1``) shows the
traceback and the warning's source line for every error. Messages are shown as data: control
characters in them (a tensor's name) are escaped. A reader that closes the pipe early (``| head``)
ends the command quietly.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any

import click

from paramtool.cli.layout import safe
from paramtool.errors import ParamtoolError, StateDictError

#: Exceptions shown as one line: paramtool's own (the library raises them for what a user can
#: fix) and the system's (a missing file, a full disk). Anything else is a bug and keeps its
#: traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ParamtoolError, OSError)
#: Subclasses of those passed through: click's own exits, and bugs (never a user's mistake).
PASS_THROUGH: tuple[type[BaseException], ...] = (
    click.ClickException,
    click.exceptions.Exit,
    click.Abort,
    NotImplementedError,
    RecursionError,
)


def one_line(exc: BaseException) -> str:
    """The exception's message folded onto one line (``load_state_dict`` texts span several).

    Only line feeds fold (a ``StateDictError`` gives its lines, since a tensor's name may hold
    one); any other control character, a name's included, is shown escaped.
    """
    lines = exc.lines if isinstance(exc, StateDictError) else str(exc).split("\n")
    text = " ".join(safe(part.strip(" \t")) for part in lines if part.strip(" \t"))
    if isinstance(exc, OSError) and exc.filename and safe(exc.filename) not in text:
        text = f"{safe(exc.filename)}: {text}"
    return text or type(exc).__name__


def debug_enabled(ctx: click.Context) -> bool:
    """True when ``--debug`` was given or ``PARAMTOOL_DEBUG`` is set."""
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("PARAMTOOL_DEBUG", "") not in ("", "0")


class ErrorMappingGroup(click.Group):
    """A click group turning library exceptions into ``click.ClickException``."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; map user errors and warnings to one line unless debugging."""
        with warnings.catch_warnings():
            if not debug_enabled(ctx):
                warnings.showwarning = _show_warning
            try:
                if sys.stdout is None:  # started with stdout closed (`>&-`): nowhere to show
                    raise click.ClickException("standard output is closed; nothing can be shown")
                _escape_unencodable()
                return super().invoke(ctx)
            except BrokenPipeError:
                _quiet_stdout()
                raise click.exceptions.Exit(141) from None  # 128 + SIGPIPE, as a shell reports
            except USER_ERRORS as exc:
                if debug_enabled(ctx) or isinstance(exc, PASS_THROUGH):
                    raise
                raise click.ClickException(one_line(exc)) from exc


def _escape_unencodable() -> None:
    """Show what the streams' encoding cannot hold escaped (``\xf1``), not as an error: a name
    may hold any character, and ``PYTHONIOENCODING=ascii`` or a C locale may be in force."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())


def _show_warning(message: Warning | str, *args: Any, **kwargs: Any) -> None:
    """``warnings.showwarning`` for the command line: the message alone, on stderr."""
    click.echo(
        f"warning: {one_line(message) if isinstance(message, Warning) else safe(message)}",
        err=True,
    )
