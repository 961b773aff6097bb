"""The ``paramtool`` command line: a thin layer that parses, calls the library, and renders.

Data goes to stdout, diagnostics to stderr. Exit status: 0 success, 1 a failure the user can
fix (bad file, mismatch, difference), 2 a usage error.
"""

from __future__ import annotations

import click

from paramtool import __version__
from paramtool.cli.check import check
from paramtool.cli.compare import diff_command, load
from paramtool.cli.convert import convert
from paramtool.cli.errors import ErrorMappingGroup
from paramtool.cli.inspect import inspect, stats
from paramtool.cli.write import export, init


@click.group(cls=ErrorMappingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.version_option(version=__version__, prog_name="paramtool")
def main(debug: bool) -> None:
    """Inspect, initialise, compare and export neural-network parameters.

    MODEL and TARGET default to ./model.py.
    """


for _command in (inspect, init, export, load, diff_command, stats, check, convert):
    main.add_command(_command)

__all__ = ["main"]
