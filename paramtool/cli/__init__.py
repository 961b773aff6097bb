"""The ``paramtool`` command line: a thin layer that parses, calls the library, and renders.

Data goes to stdout, diagnostics to stderr. Exit status: 0 success, 1 a failure the user can
fix (bad file, mismatch, difference), 2 a usage error.

Each command's module is imported only when the command runs (or its own help is asked for),
so ``paramtool --help`` and ``paramtool --version`` start in a blink.
"""

from __future__ import annotations

import importlib

from paramtool.cli.startup import interrupt_aborts

with interrupt_aborts():  # Ctrl-C while click loads: "Aborted!", as once a command runs
    import click

    from paramtool import __version__
    from paramtool.cli.errors import ErrorMappingGroup

#: Command name -> (module, attribute, the line ``paramtool --help`` shows for it).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "inspect": ("paramtool.cli.inspect", "inspect",
                "List the tensors of TARGET with shapes, dtypes, counts, sizes and tie groups."),
    "init": ("paramtool.cli.write", "init",
             "Initialise the model of MODEL with a scheme and print per-parameter statistics."),
    "export": ("paramtool.cli.write", "export",
               "Write the model's state_dict to OUT as safetensors, streaming."),
    "load": ("paramtool.cli.compare", "load",
             "Check that CHECKPOINT loads into the model of MODEL (headers only)."),
    "diff": ("paramtool.cli.compare", "diff_command",
             "Compare two checkpoints or model files name by name and value by value."),
    "stats": ("paramtool.cli.inspect", "stats",
              "Per-tensor statistics of TARGET (mean, std, min, max, zeros, NaN and Inf counts)."),
    "check": ("paramtool.cli.check", "check",
              "Send a random batch through MODEL and show each module's output statistics."),
    "convert": ("paramtool.cli.convert", "convert",
                "Convert the checkpoint IN to safetensors at OUT, streaming, without PyTorch."),
}  # fmt: skip


class LazyGroup(ErrorMappingGroup):
    """A group whose commands are imported on first use; its own help lists their lines."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, sorted as click lists them."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, its module imported now."""
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The Commands section from :data:`COMMANDS`, without importing any command."""
        names = self.list_commands(ctx)
        if any(not COMMANDS[name][2] for name in names):
            super().format_commands(ctx, formatter)  # a command without its line here
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit))
                for name in names]  # fmt: skip
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.version_option(version=__version__, prog_name="paramtool")
def main(debug: bool) -> None:
    """Inspect, initialise, compare and export neural-network parameters.

    MODEL and TARGET default to ./model.py.
    """


__all__ = ["main"]
