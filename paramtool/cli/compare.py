"""``paramtool load`` and ``paramtool diff``: does a checkpoint fit, and what differs."""

from __future__ import annotations

import math

import click

from paramtool.cli.layout import Output
from paramtool.cli.options import (
    CheckpointOptions,
    ModelOptions,
    checkpoint_options,
    echo_json,
    json_option,
    model_options,
    scheme_options,
)
from paramtool.cli.progress import progress
from paramtool.cli.render import count, emit, make_console, number, shape, table
from paramtool.export import ModelRecipe, prepare
from paramtool.report import (
    Diff,
    Inventory,
    LoadCheck,
    Mismatch,
    check_load,
    diff,
    from_module,
    is_model_file,
    open_inventory,
)

#: Names listed per group before the rest is counted (``--json`` lists every name).
SHOWN = 20


def _names(console: Output, title: str, names: list[str], total: int | None = None) -> None:
    if not names:
        return
    lines = [f"  {n}" for n in names[:SHOWN]]
    if len(names) > SHOWN:
        lines.append(f"  ... and {count(len(names) - SHOWN)} more (--json lists all)")
    heading = f"{title} ({count(len(names) if total is None else total)}):"
    console.print(heading + "\n" + "\n".join(lines))


def _dtype_lines(
    items: list[Mismatch],
    left: str = "model",
    right: str = "checkpoint",
    note: str = " (cast on load)",
) -> list[str]:
    """One line per tensor, or one per dtype pair when several tensors share the change."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for m in items:
        pairs.setdefault((str(m.expected), str(m.found)), []).append(m.name)
    if len(pairs) == len(items):
        return [f"{m.name}: {left} {m.expected}, {right} {m.found}" for m in items]
    return [
        f"{len(names)} tensors: {left} {first}, {right} {second}{note}"
        for (first, second), names in pairs.items()
    ]


def render_load(console: Output, check: LoadCheck, strict: bool) -> None:
    """The load check as text: counts, then the offending names."""
    console.print(f"matched: {count(len(check.matched))}")
    _names(console, "missing", check.missing)
    _names(console, "unexpected", check.unexpected)
    mismatched = [
        f"{m.name}: model {_fmt(m.expected)}, checkpoint {_fmt(m.found)}"
        for m in check.shape_mismatches
    ]
    _names(console, "shape mismatch", mismatched)
    dtypes = check.dtype_mismatches
    _names(console, "dtype mismatch", _dtype_lines(dtypes), total=len(dtypes))
    _names(console, "tie groups restored", [" = ".join(g) for g in check.ties_restored])
    _names(console, "missing, allowed by the model", check.ignored_missing)
    _names(console, "unexpected, allowed by the model", check.ignored_unexpected)
    _names(
        console, "ignored, as the model declares", check.ignored_missing + check.ignored_unexpected
    )
    verdict = "ok" if check.ok(strict) else "FAILED"
    console.print(f"load ({'strict' if strict else 'not strict'}): {verdict}")


def _fmt(value: object) -> str:
    return shape(value) if isinstance(value, tuple) else str(value)


@click.command()
@click.argument("model", type=click.Path())
@click.argument("checkpoint", type=click.Path())
@click.option(
    "--strict/--no-strict",
    default=True,
    show_default=True,
    help="Missing or unexpected names fail.",
)
@json_option
@model_options
@checkpoint_options
def load(
    model: str,
    checkpoint: str,
    strict: bool,
    as_json: bool,
    model_options: ModelOptions,
    checkpoint_options: CheckpointOptions,
) -> None:
    """Check that CHECKPOINT loads into the model of MODEL (headers only).

    Lists matched, missing and unexpected names, shape and dtype mismatches and the tie
    groups the checkpoint restores. Exits 1 when loading would fail: a shape mismatch,
    or (with --strict) a missing or unexpected name.

    MODEL is a model file, Python that paramtool runs; CHECKPOINT is only ever read (a
    model file given as CHECKPOINT is refused).
    """
    if is_model_file(checkpoint):
        raise click.BadParameter(
            f"{checkpoint} is a model file; load reads a checkpoint and runs no code from it "
            "(compare two models with `paramtool diff`, or write one with `paramtool export`)",
            param_hint="'CHECKPOINT'",
        )
    stored = open_inventory(checkpoint, **checkpoint_options.kwargs())
    check = check_load(open_inventory(model, **model_options.kwargs()), stored)
    if as_json:
        echo_json(check.to_dict(strict))
    else:
        render_load(make_console(), check, strict)
    if not check.ok(strict):
        raise click.exceptions.Exit(1)


def render_diff(console: Output, result: Diff, show_all: bool) -> None:
    """The diff as text: names on one side only, changes, then the value table."""
    _names(console, "only in A", result.only_in_a)
    _names(console, "only in B", result.only_in_b)
    _names(
        console,
        "shape changed",
        [f"{m.name}: {_fmt(m.expected)} -> {_fmt(m.found)}" for m in result.shape_changes],
    )
    changes = result.dtype_changes
    _names(console, "dtype changed", _dtype_lines(changes, "A", "B", ""), total=len(changes))
    rows = result.tensors if show_all else result.differing
    if rows:
        out = table(
            console,
            ["name", "max abs", "max rel", "cosine", "close"],
            numeric=["max abs", "max rel", "cosine"],
        )
        for t in rows:
            out.add_row(
                t.name,
                number(t.max_abs),
                number(t.max_rel),
                "-" if t.cosine != t.cosine else f"{t.cosine:.6f}",
                "yes" if t.close else "no",
            )
        emit(console, out)
    tol = f"atol={result.atol:g}, rtol={result.rtol:g}"
    tol += f" (default for {result.scaled_to})" if result.scaled_to else ""
    close = len(result.tensors) - len(result.differing)
    verdict = "same" if result.same else "DIFFERENT"
    console.print(f"{close}/{len(result.tensors)} tensors within {tol}: {verdict}")


def _tolerance(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise click.BadParameter(f"must be a finite number >= 0, got {value}")
    return value


def _side(
    target: str,
    options: ModelOptions,
    scheme: str | None,
    rules: tuple[str, ...],
    seed: int | None,
    reading: CheckpointOptions,
) -> Inventory:
    """One side of a diff: a checkpoint's header, or a model built, initialised and seeded as
    ``export`` would build it (so a model and its export compare "same")."""
    if not is_model_file(target):
        return open_inventory(target, **reading.kwargs())
    recipe = ModelRecipe(
        target, entry=options.entry, args=options.args, config=options.config,
        scheme=scheme, rules=tuple(rules), seed=seed, torch=options.torch,
    )  # fmt: skip
    return from_module(prepare(recipe).model, source=target, seed=recipe.seed)


@click.command(name="diff")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option(
    "--atol",
    type=float,
    callback=_tolerance,
    help="Absolute tolerance (default: that of the least precise dtype compared, as "
    "torch.testing.assert_close has them: 1e-5 for float32, bfloat16 and float16).",
)
@click.option(
    "--rtol",
    type=float,
    callback=_tolerance,
    help="Relative tolerance, B the reference (default: float32 1.3e-6, float16 1e-3, "
    "bfloat16 1.6e-2, float64 1e-7; integers exact).",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="List every compared tensor, not only those that differ.",
)
@click.option("--filter", "pattern", metavar="GLOB", help="Only names matching GLOB ('*attn*').")
@scheme_options
@json_option
@model_options
@checkpoint_options
def diff_command(
    a: str,
    b: str,
    atol: float | None,
    rtol: float | None,
    show_all: bool,
    pattern: str | None,
    scheme: str | None,
    rules: tuple[str, ...],
    seed: int | None,
    as_json: bool,
    model_options: ModelOptions,
    checkpoint_options: CheckpointOptions,
) -> None:
    """Compare two checkpoints or model files name by name and value by value.

    Reports names only in A or only in B, shape and dtype changes, and per tensor the
    largest absolute and relative difference ('-' where undefined) and the cosine
    similarity. Complex values are compared in full; NaN matches NaN and an infinity the
    same infinity. A model file is built with the model options and initialised with
    --scheme/--rule/--seed as export would, so a model and its export compare equal.
    Exits 1 when they differ beyond |a - b| <= atol + rtol * |b|, or when --filter
    matches no name in either.
    """
    if (scheme or rules or seed is not None or model_options != ModelOptions()) and not any(
        map(is_model_file, (a, b))
    ):
        raise click.UsageError("model options apply to a model file; A and B are checkpoints")
    sides = (_side(t, model_options, scheme, rules, seed, checkpoint_options) for t in (a, b))
    left, right = sides
    left, right = left.filtered(pattern), right.filtered(pattern)
    if pattern and not left.rows and not right.rows:  # "0/0 same" would be a false success
        raise click.ClickException(f"no tensor name matches {pattern!r} in A or B (--filter)")
    with progress("comparing", max(left.totals.nbytes, right.totals.nbytes)) as advance:
        result = diff(left, right, atol=atol, rtol=rtol, progress=advance)
    if as_json:
        echo_json(result.to_dict())
    else:
        render_diff(make_console(), result, show_all)
    if not result.same:
        raise click.exceptions.Exit(1)
