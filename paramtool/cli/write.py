"""``paramtool init`` and ``paramtool export``: initialise a model and write its state_dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import paramtool
from paramtool.checkpoint import load_into, open_checkpoint, save_sharded, save_state_dict
from paramtool.cli.options import (
    ModelOptions,
    echo_json,
    json_option,
    model_argument,
    model_options,
)
from paramtool.cli.progress import progress
from paramtool.cli.render import count, emit, make_console, number, shape, size, table
from paramtool.core.device import as_device
from paramtool.core.dtypes import as_dtype, is_floating_point
from paramtool.errors import DTypeError
from paramtool.models.loader import DEFAULT_MODEL_FILE, load_model, split_assignments
from paramtool.nn.init.schemes import apply_scheme
from paramtool.report import from_module
from paramtool.report.stats import add_init_stats


def scheme_options(func: Any) -> Any:
    """``--scheme``, ``--rule`` (repeatable) and ``--seed``."""
    func = click.option("--seed", type=int, help="Random seed (default: paramtool's global seed).")(
        func
    )
    func = click.option(
        "--rule",
        "rules",
        metavar="PATTERN=SCHEME",
        multiple=True,
        help="Scheme for names matching a glob, e.g. '*.bias=zeros' (repeatable; last match wins).",
    )(func)
    return click.option("--scheme", help="Initialisation scheme, e.g. kaiming or normal:std=0.02.")(
        func
    )


dtype_option = click.option(
    "--dtype", help="Convert floating-point tensors to this dtype (bfloat16, float16, ...)."
)


def float_dtype(name: str) -> Any:
    """The dtype ``--dtype`` names; only floating-point dtypes convert a model.

    Raises:
        DTypeError: an unknown name, or an integer or bool dtype.
    """
    dtype = as_dtype(name)
    if not is_floating_point(dtype):
        raise DTypeError(f"--dtype {name}: only floating-point dtypes convert a model's tensors")
    return dtype


def build(
    model_file: str, options: ModelOptions, dtype: str | None, device: str | None = None
) -> Any:
    """Load the model of a file, moved to ``device`` and cast to ``dtype`` (still deferred)."""
    target_device = as_device(device) if device is not None else None
    target_dtype = float_dtype(dtype) if dtype is not None else None
    model = load_model(model_file, **options.kwargs())
    if target_device is not None:
        model = model.to(target_device)
    if target_dtype is not None:
        model = model.to(target_dtype)
    return model


def initialise(model: Any, scheme: str | None, rules: tuple[str, ...], seed: int | None) -> Any:
    """Seed the global stream and apply a scheme and rules (records recipes; allocates nothing).

    Returns:
        The :class:`paramtool.nn.init.schemes.InitReport`, or None when neither a scheme nor a rule was
        given (each layer keeps its default initialisation).
    """
    if seed is not None:
        paramtool.manual_seed(seed)
    if scheme is None and not rules:
        return None
    return apply_scheme(model, scheme or "default", list(rules), seed=seed)


def write_state(
    model: Any, out: Path, max_shard_size: str | None, metadata: dict[str, str], seed: int | None
) -> list[Path]:
    """Stream a model's state_dict to ``out``: one file, or a sharded folder."""
    total = from_module(model).totals.nbytes
    with progress("writing", total) as advance:
        if out.suffix == ".safetensors" and max_shard_size is None:
            save_state_dict(model, out, metadata=metadata, seed=seed, progress=advance)
            return [out]
        return save_sharded(model, out, max_shard_size or "5GB", metadata, seed, advance)


def export_json(files: list[Path]) -> dict[str, Any]:
    """The JSON document of ``export``: files written and what they hold, read back from them."""
    written = open_checkpoint(files[0].parent if len(files) > 1 else files[0])
    return {
        "files": [str(f) for f in files],
        "tensors": len(written.entries),
        "nbytes": written.total_size,
        "ties": dict(written.tied),
    }


@click.command()
@click.argument("out", type=click.Path())
@click.option(
    "--model",
    "model_file",
    type=click.Path(),
    default=DEFAULT_MODEL_FILE,
    show_default=True,
    help="Model file.",
)
@scheme_options
@click.option(
    "--from", "source", type=click.Path(), help="Load this checkpoint into the model first."
)
@click.option(
    "--strict/--no-strict", default=True, show_default=True, help="With --from: names must match."
)
@dtype_option
@click.option("--max-shard-size", metavar="SIZE", help="Shard into a folder, e.g. 5GB, 500MB.")
@click.option(
    "--metadata",
    "meta",
    metavar="KEY=VALUE",
    multiple=True,
    help="Metadata stored in the file (repeatable).",
)
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
    max_shard_size: str | None,
    meta: tuple[str, ...],
    as_json: bool,
    model_options: ModelOptions,
) -> None:
    """Write the model's state_dict to OUT as safetensors, streaming.

    Each tensor is computed while the previous one is written: at most two are in memory.

    OUT ending in .safetensors is one file; otherwise (or with --max-shard-size) it is a
    folder in the Hugging Face layout (model-0000i-of-0000N.safetensors and
    model.safetensors.index.json). Values are the model's default initialisation, or
    --scheme/--rule, or the tensors of --from. Tied weights are stored once.
    """
    if max_shard_size is not None and out.endswith(".safetensors"):
        raise click.UsageError("--max-shard-size writes a folder; give OUT without .safetensors")
    metadata = split_assignments(meta, "--metadata")
    target_dtype = float_dtype(dtype) if dtype is not None else None
    model = load_model(model_file, **model_options.kwargs())
    initialise(model, scheme, rules, seed)
    if source is not None:
        load_into(model, source, strict=strict)
    if target_dtype is not None:
        model = model.to(target_dtype)
    files = write_state(model, Path(out), max_shard_size, metadata, seed)
    summary = export_json(files)
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"wrote {', '.join(summary['files'])}: {count(summary['tensors'])} tensors, "
        f"{size(summary['nbytes'])}",
        err=True,
    )


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
    model = build(model_file, model_options, dtype, device)
    report = initialise(model, scheme or "default", rules, seed)
    for rule in report.unmatched_rules:
        click.echo(f"warning: rule {rule!r} matched no parameter", err=True)
    total = sum(p.nbytes for p in model.parameters())
    with progress("initialising", total) as advance:
        rows = add_init_stats(model, report, seed, progress=advance).rows
    files = write_state(model, Path(output), None, {}, seed) if output else []
    if as_json:
        echo_json(
            {
                "source": model_file,
                "scheme": report.scheme,
                "rules": report.rules,
                "seed": paramtool.initial_seed() if seed is None else seed,
                "output": str(files[0]) if files else None,
                "unmatched_rules": report.unmatched_rules,
                "parameters": rows,
            }
        )
        return
    render_init(make_console(), rows)
    for file in files:
        click.echo(f"wrote {file}", err=True)


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
