"""Options shared by several commands, each declared once."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from paramtool.cli.json_output import write_json
from paramtool.core.random import SEED_RANGE
from paramtool.errors import ModelLoadError
from paramtool.models.loader import DEFAULT_MODEL_FILE, parse_assignments, read_config
from paramtool.models.sources import TORCH_MODES


class SeedType(click.ParamType):
    """``--seed``: a 64-bit integer, a negative one standing for its two's complement (as in
    PyTorch)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number = click.INT.convert(value, param, ctx)
        low, high = SEED_RANGE
        if not low <= number <= high:
            self.fail(f"{number} is not a 64-bit seed ({low} to {high})", param, ctx)
        return number


SEED = SeedType()


@dataclass(frozen=True)
class ModelOptions:
    """How to build the model of a model file: ``--entry``, ``--arg``, ``--config``, ``--torch``."""

    entry: str | None = None
    args: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    torch: str = "auto"

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`paramtool.models.sources.open_model`."""
        return {"entry": self.entry, "args": self.args, "config": self.config, "torch": self.torch}


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--entry``, ``--arg``, ``--config`` and ``--torch``; the command receives
    ``model_options``."""

    @click.option(
        "--entry", metavar="NAME", help="Model object in the file (instance, class or function)."
    )
    @click.option(
        "--arg",
        "args",
        metavar="KEY=VALUE",
        multiple=True,
        help="Constructor argument, a Python literal (repeatable).",
    )
    @click.option(
        "--config",
        type=click.Path(dir_okay=False),
        help="JSON config (Hugging Face style) passed to the constructor.",
    )
    @click.option(
        "--torch",
        type=click.Choice(TORCH_MODES),
        default="auto",
        show_default=True,
        help="What runs a model file's `import torch`: paramtool's core, the installed PyTorch "
        "(on the meta device, allocating nothing), or auto: paramtool's core unless the file "
        "needs what it lacks and PyTorch is installed.",
    )
    @functools.wraps(func)
    def wrapper(
        *pargs: Any,
        entry: str | None,
        args: tuple[str, ...],
        config: str | None,
        torch: str,
        **kw: Any,
    ) -> Any:
        try:
            parsed = parse_assignments(args) if args else None
        except ModelLoadError as exc:
            raise click.BadParameter(str(exc).removeprefix("--arg "), param_hint="'--arg'") from exc
        options = ModelOptions(
            entry=entry,
            args=parsed,
            config=read_config(config) if config else None,
            torch=torch,
        )
        return func(*pargs, model_options=options, **kw)

    return wrapper


def _complete_scheme(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of ``--scheme`` and of the scheme part of ``--rule``."""
    from click.shell_completion import CompletionItem  # noqa: PLC0415 - only when completing

    from paramtool.nn.init.schemes import scheme_names  # noqa: PLC0415

    head, eq, tail = incomplete.rpartition("=") if param.name == "rules" else ("", "", incomplete)
    return [
        CompletionItem(head + eq + name, help=summary)
        for name, summary in scheme_names().items()
        if name.startswith(tail)
    ]


def scheme_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--scheme``, ``--rule`` (repeatable) and ``--seed``; the help lists the schemes."""
    from paramtool.nn.init.schemes import scheme_names  # noqa: PLC0415 - for the help text

    names = ", ".join(scheme_names())
    func = click.option(
        "--seed", type=SEED, help="Random seed (default: paramtool's global seed)."
    )(func)
    func = click.option(
        "--rule",
        "rules",
        metavar="PATTERN=SCHEME",
        multiple=True,
        shell_complete=_complete_scheme,
        help="Scheme for names matching a glob ('*.bias=zeros') or for the parameters of a "
        "module type ('type:Embedding=normal:std=0.02'); repeatable, the last match wins.",
    )(func)
    return click.option(
        "--scheme",
        metavar="SCHEME",
        shell_complete=_complete_scheme,
        help=f"Initialisation scheme, NAME or NAME:KEY=VALUE,... (normal:std=0.02). NAME is one "
        f"of: {names}.",
    )(func)


@dataclass(frozen=True)
class CheckpointOptions:
    """How to read a checkpoint: ``--key`` and ``--follow-links``."""

    key: str | None = None
    follow_links: bool = False

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`paramtool.checkpoint.open_checkpoint`."""
        return {"key": self.key, "follow_links": self.follow_links}


def checkpoint_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--key`` and ``--follow-links``; the command receives ``checkpoint_options``."""

    @click.option(
        "--key",
        metavar="NAME",
        help="For a torch.save file holding more than a state dict: the top-level key whose "
        "tensors to read (default: state_dict, model, ... or the only one holding tensors).",
    )
    @click.option(
        "--follow-links",
        is_flag=True,
        help="Read checkpoint files linked from outside the checkpoint's folder (the Hugging "
        "Face cache layout is read without it).",
    )
    @functools.wraps(func)
    def wrapper(*pargs: Any, key: str | None, follow_links: bool, **kw: Any) -> Any:
        return func(*pargs, checkpoint_options=CheckpointOptions(key, follow_links), **kw)

    return wrapper


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write JSON to stdout (schema: paramtool/cli/schema.json).",
)


def _default_model_exists(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A missing ``./model.py`` that the user did not name is a usage error: show the usage."""
    source = ctx.get_parameter_source(param.name or "")
    if source is click.core.ParameterSource.DEFAULT and not os.path.exists(value):
        raise click.UsageError(
            f"no {value} in this folder (the default {param.human_readable_name}); name one, "
            f"e.g. '{ctx.command_path} sample_models/gpt2.py'",
            ctx,
        )
    return value


model_argument = functools.partial(
    click.argument,
    type=click.Path(),
    default=DEFAULT_MODEL_FILE,
    required=False,
    callback=_default_model_exists,
)


def echo_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout, streamed (see :mod:`paramtool.cli.json_output`)."""
    write_json(data, sys.stdout)
    sys.stdout.flush()
