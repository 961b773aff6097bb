"""``paramtool load`` and ``paramtool diff``: does a checkpoint fit, and what differs."""

from __future__ import annotations

import click

from paramtool.cli.options import ModelOptions, echo_json, json_option, model_options
from paramtool.cli.progress import progress
from paramtool.cli.render import count, emit, make_console, number, shape, table
from paramtool.report import Diff, LoadCheck, check_load, diff, open_inventory

#: Names listed per group before the rest is counted (``--json`` lists every name).
SHOWN = 20


def _names(console: object, title: str, names: list[str], total: int | None = None) -> None:
    if not names:
        return
    lines = [f"  {n}" for n in names[:SHOWN]]
    if len(names) > SHOWN:
        lines.append(f"  ... and {count(len(names) - SHOWN)} more (--json lists all)")
    heading = f"{title} ({count(len(names) if total is None else total)}):"
    console.print(heading + "\n" + "\n".join(lines), markup=False)


def _dtype_lines(items: list) -> list[str]:
    """One line per tensor, or one per dtype pair when several tensors share the change."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for m in items:
        pairs.setdefault((str(m.expected), str(m.found)), []).append(m.name)
    if len(pairs) == len(items):
        return [f"{m.name}: model {m.expected}, checkpoint {m.found}" for m in items]
    return [
        f"{len(names)} tensors: model {model}, checkpoint {stored} (cast on load)"
        for (model, stored), names in pairs.items()
    ]


def render_load(console: object, check: LoadCheck, strict: bool) -> None:
    """The load check as text: counts, then the offending names."""
    console.print(f"matched: {count(len(check.matched))}", markup=False)
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
    _names(console, "ignored, as the model declares", check.ignored_missing + check.ignored_unexpected)
    verdict = "ok" if check.ok(strict) else "FAILED"
    console.print(f"load ({'strict' if strict else 'not strict'}): {verdict}", markup=False)


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
def load(
    model: str, checkpoint: str, strict: bool, as_json: bool, model_options: ModelOptions
) -> None:
    """Check that CHECKPOINT loads into the model of MODEL (headers only).

    Lists matched, missing and unexpected names, shape and dtype mismatches and the tie
    groups the checkpoint restores. Exits 1 when loading would fail: a shape mismatch,
    or (with --strict) a missing or unexpected name.
    """
    check = check_load(open_inventory(model, **model_options.kwargs()), open_inventory(checkpoint))
    if as_json:
        echo_json(check.to_dict(strict))
    else:
        render_load(make_console(), check, strict)
    if not check.ok(strict):
        raise click.exceptions.Exit(1)


def render_diff(console: object, result: Diff, show_all: bool) -> None:
    """The diff as text: names on one side only, changes, then the value table."""
    _names(console, "only in A", result.only_in_a)
    _names(console, "only in B", result.only_in_b)
    _names(
        console,
        "shape changed",
        [f"{m.name}: {_fmt(m.expected)} -> {_fmt(m.found)}" for m in result.shape_changes],
    )
    _names(
        console,
        "dtype changed",
        [f"{m.name}: {m.expected} -> {m.found}" for m in result.dtype_changes],
    )
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
                f"{t.cosine:.6f}",
                "yes" if t.close else "no",
            )
        emit(console, out)
    tol = f"atol={result.atol:g}, rtol={result.rtol:g}"
    close = len(result.tensors) - len(result.differing)
    verdict = "same" if result.same else "DIFFERENT"
    console.print(f"{close}/{len(result.tensors)} tensors within {tol}: {verdict}", markup=False)


@click.command(name="diff")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--atol", type=float, default=1e-8, show_default=True, help="Absolute tolerance.")
@click.option(
    "--rtol",
    type=float,
    default=1e-5,
    show_default=True,
    help="Relative tolerance (B is the reference).",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="List every compared tensor, not only those that differ.",
)
@json_option
def diff_command(a: str, b: str, atol: float, rtol: float, show_all: bool, as_json: bool) -> None:
    """Compare two checkpoints or model files name by name and value by value.

    Reports names only in A or only in B, shape and dtype changes, and per tensor the
    largest absolute and relative difference and the cosine similarity. Exits 1 when
    they differ beyond |a - b| <= atol + rtol * |b|.
    """
    left, right = open_inventory(a), open_inventory(b)
    with progress("comparing", max(left.totals.nbytes, right.totals.nbytes)) as advance:
        result = diff(left, right, atol=atol, rtol=rtol, progress=advance)
    if as_json:
        echo_json(result.to_dict())
    else:
        render_diff(make_console(), result, show_all)
    if not result.same:
        raise click.exceptions.Exit(1)
