"""``paramtool init`` and ``paramtool export``: parse, call :mod:`paramtool.export`, render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from paramtool.checkpoint import open_checkpoint
from paramtool.cli.layout import safe
from paramtool.cli.options import (
    ModelOptions,
    echo_json,
    json_option,
    model_argument,
    model_options,
    scheme_options,
)
from paramtool.cli.progress import progress
from paramtool.cli.render import count, emit, make_console, number, shape, size, table
from paramtool.errors import ExportError, ParamtoolError
from paramtool.export import (
    ModelRecipe,
    ModelSource,
    check_target,
    parse_size,
    write_checkpoint,
)
from paramtool.models.loader import DEFAULT_MODEL_FILE, split_assignments
from paramtool.nn.init.schemes import InitReport
from paramtool.report.stats import add_init_stats

dtype_option = click.option(
    "--dtype", help="Convert floating-point tensors to this dtype (bfloat16, float16, ...)."
)


def recipe(model_file: str, options: ModelOptions, **fields: Any) -> ModelRecipe:
    """The :class:`~paramtool.export.ModelRecipe` of a command's model options."""
    return ModelRecipe(model_file, **options.kwargs(), **fields)


def written(files: list[Path]) -> dict[str, Any]:
    """The JSON document of ``export``: files written and what they hold, read back from them."""
    checkpoint = open_checkpoint(files[0].parent if len(files) > 1 else files[0])
    return {
        "files": [str(f) for f in files],
        "tensors": len(checkpoint.entries),
        "nbytes": checkpoint.total_size,
        "ties": dict(checkpoint.tied),
    }


def target(out: str, folder: bool) -> Path:
    """OUT checked before anything is built or touched: a bad one is a usage error (exit 2)."""
    try:
        return check_target(out, folder)
    except ExportError as exc:
        raise click.BadParameter(str(exc), param_hint="'OUT'") from None


class ShardSize(click.ParamType):
    """A positive size such as 5GB, 500MB or 10KiB; anything else is a usage error (exit 2)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return parse_size(value)
        except ParamtoolError as exc:
            self.fail(str(exc), param, ctx)


def output_options(func: Any) -> Any:
    """``--max-shard-size``, ``--metadata``, ``--workers`` and ``--scheduler`` (export, convert)."""
    options = [
        click.option("--max-shard-size", type=ShardSize(), metavar="SIZE", help="Shard into a folder, e.g. 5GB, 500MB."),
        click.option(
            "--metadata", "meta", metavar="KEY=VALUE", multiple=True,
            help="Metadata stored in the file (repeatable).",
        ),
        click.option(
            "--workers", type=click.IntRange(min=1), metavar="N",
            help="Write shards with N local worker processes (needs paramtool[distributed]).",
        ),
        click.option(
            "--scheduler", metavar="ADDRESS",
            help="Write shards on the Dask cluster at ADDRESS (tcp://host:8786); OUT and the "
            "inputs must be on a filesystem every worker sees.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def output_path(
    out: str,
    max_shard_size: int | None,
    workers: int | None,
    scheduler: str | None,
    meta: tuple[str, ...],
) -> tuple[Path, dict[str, str]]:
    """The checked OUT and metadata of :func:`output_options`: usage errors (exit 2) before
    anything is built or touched."""
    if max_shard_size is not None and out.endswith(".safetensors"):
        raise click.UsageError("--max-shard-size writes a folder; give OUT without .safetensors")
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    path = target(out, folder=max_shard_size is not None or not out.endswith(".safetensors"))
    try:
        return path, split_assignments(meta, "--metadata")
    except ParamtoolError as exc:
        raise click.BadParameter(str(exc), param_hint="'--metadata'") from None


def write_and_report(
    source: Any,
    path: Path,
    max_shard_size: int | None,
    metadata: dict[str, str],
    workers: int | None,
    scheduler: str | None,
    as_json: bool,
    description: str = "writing",
) -> None:
    """Write a source with a progress bar, then report what was written (JSON or one line)."""
    total = sum(entry.nbytes for entry in source.entries())
    with progress(description, total) as advance:
        files = write_checkpoint(
            source, path, max_shard_size, metadata=metadata, workers=workers,
            scheduler=scheduler, progress=advance,
        )  # fmt: skip
    summary = written(files)
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"wrote {', '.join(safe(f) for f in summary['files'])}: {count(summary['tensors'])} tensors, "
        f"{size(summary['nbytes'])}",
        err=True,
    )


@click.command()
@click.argument("out", type=click.Path())
@click.option(
    "--model",
    "model_file",
    type=click.Path(),
    default=DEFAULT_MODEL_FILE,
    show_default=True,
    help="Model file, or torchvision:NAME, timm:NAME, hf:PATH.",
)
@scheme_options
@click.option(
    "--from", "source", type=click.Path(), help="Load this checkpoint into the model first."
)
@click.option(
    "--strict/--no-strict", default=True, show_default=True, help="With --from: names must match."
)
@dtype_option
@output_options
@json_option
@model_options
def export(
    out: str,
    model_file: str,
    scheme: str | None,
    rules: tuple[str, ...],
    seed: int | None,
    source: str | None,
    strict: bool,
    dtype: str | None,
    max_shard_size: int | None,
    meta: tuple[str, ...],
    workers: int | None,
    scheduler: str | None,
    as_json: bool,
    model_options: ModelOptions,
) -> None:
    """Write the model's state_dict to OUT as safetensors, streaming.

    OUT ending in .safetensors is one file; otherwise (or with --max-shard-size) it is a
    folder in the Hugging Face layout (model-0000i-of-0000N.safetensors and
    model.safetensors.index.json). Values are the model's default initialisation, or
    --scheme/--rule, or the tensors of --from; --dtype casts last. Tied weights are stored once.
    Each tensor is computed while the previous one is written: at most two are in memory.

    A folder is built beside OUT and swapped into place when complete: a crash or a full disk
    leaves the old checkpoint or the new one, and re-running after a crash writes only the
    shards still missing. With --workers or --scheduler, shards are written in parallel (the
    same bytes). Every file records the paramtool version, model, args, scheme, rules and seed.
    """
    path, metadata = output_path(out, max_shard_size, workers, scheduler, meta)
    spec = recipe(
        model_file, model_options, scheme=scheme, rules=rules, seed=seed,
        load_from=source, strict=strict, dtype=dtype,
    )  # fmt: skip
    model = ModelSource(spec)
    warn_unmatched(model.prepared().report)
    write_and_report(model, path, max_shard_size, metadata, workers, scheduler, as_json)


def warn_unmatched(report: InitReport | None) -> None:
    """One warning line per rule that matched no parameter."""
    for rule in report.unmatched_rules if report is not None else []:
        click.echo(f"warning: rule {rule!r} matched no parameter (patterns match full names)", err=True)  # fmt: skip


@click.command()
@model_argument("model_file", metavar="[MODEL]")
@scheme_options
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@dtype_option
@click.option(
    "-o", "--output", type=click.Path(), help="Also write the result to this .safetensors file."
)
@json_option
@model_options
def init(
    model_file: str,
    scheme: str | None,
    rules: tuple[str, ...],
    seed: int | None,
    device: str,
    dtype: str | None,
    output: str | None,
    as_json: bool,
    model_options: ModelOptions,
) -> None:
    """Initialise the model of MODEL with a scheme and print per-parameter statistics.

    Weights of rank >= 2 get the scheme (default: each layer's own default), biases zeros and
    normalisation weights ones; --rule overrides by name, the last matching rule winning.
    Each parameter's mean, std, min and max are shown beside the std the scheme expects.
    With -o the result is also written (streaming, at most two tensors in memory at once).
    """
    path = None if output is None else target(output, folder=not output.endswith(".safetensors"))
    spec = recipe(
        model_file, model_options, scheme=scheme or "default", rules=rules, seed=seed,
        dtype=dtype, device=device,
    )  # fmt: skip
    source = ModelSource(spec)
    prepared = source.prepared()
    report = prepared.report
    assert report is not None  # a scheme is always given here
    warn_unmatched(report)
    total = sum(p.nbytes for p in prepared.model.parameters())
    with progress("initialising", total) as advance:
        add_init_stats(prepared.model, report, spec.seed, progress=advance)
    files = write_checkpoint(source, path) if path is not None else []
    if as_json:
        echo_json(
            {
                "source": model_file,
                **report.to_dict(),
                "seed": spec.seed,
                "output": str(files[0]) if files else None,
            }
        )
        return
    render_init(make_console(), report.rows)
    for file in files:
        click.echo(f"wrote {safe(file)}", err=True)


def render_init(console: Any, rows: list[dict[str, Any]]) -> None:
    """Per-parameter table: what chose the init (the scheme, a rule's pattern, or the bias /
    norm / layer default), the recipe, the std it should give, and what the values show."""
    columns = ["name", "shape", "by", "init", "expected std", "mean", "std", "min", "max"]
    out = table(console, columns, numeric=columns[4:], wrap=["name", "by", "init"])
    for row in rows:
        st = row["stats"]
        out.add_row(
            row["name"],
            shape(row["shape"]),
            row["rule"].partition("=")[0] if row["source"] == "rule" else row["source"],
            row["recipe"] or "-",
            number(row["expected_std"]),
            *(number(st[key]) for key in ("mean", "std", "min", "max")),
        )
    emit(console, out)
