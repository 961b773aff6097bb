"""``paramtool check``: does an initialisation keep the signal alive, layer by layer?"""

from __future__ import annotations

import math
from typing import Any

import click

from paramtool.cli.options import (
    SEED,
    ModelOptions,
    echo_json,
    json_option,
    model_argument,
    model_options,
)
from paramtool.cli.render import emit, make_console, number, shape, table
from paramtool.export import ModelRecipe, prepare
from paramtool.models.runner import model_code
from paramtool.nn.signal import example_batch
from paramtool.report.check import DEFAULT_FACTOR, CheckRun, check_model

#: What the backward pass of --grad differentiates, said in the help and the JSON.
LOSS = "(output * g).sum() with g ~ N(0, 1) drawn from the seed"
#: Plot symbols, one per scheme; where two schemes meet, OVERLAP.
SYMBOLS, OVERLAP = "*o+x#%", "@"


def parse_shape(text: str | None) -> list[int] | None:
    """``"8,3,224,224"`` -> ``[8, 3, 224, 224]``.

    Raises:
        click.BadParameter: not a list of positive integers.
    """
    if text is None:
        return None
    try:
        dims = [int(part) for part in text.replace("x", ",").split(",") if part.strip()]
    except ValueError:
        dims = []
    if not dims or any(n <= 0 for n in dims):
        raise click.BadParameter(
            f"{text!r}: expected positive sizes separated by commas, e.g. 8,3,224,224",
            param_hint="'--input'",
        )
    if math.prod(dims) >= 2**63:  # more elements than any array can hold
        raise _too_large(dims)
    return dims


def _too_large(dims: list[int] | None) -> click.BadParameter:
    return click.BadParameter(
        f"a batch of shape {dims} does not fit in memory", param_hint="'--input'"
    )


@click.command()
@model_argument("model_file", metavar="[MODEL]")
@click.option("--input", "input_shape", metavar="SHAPE", help="Batch shape, e.g. 8,3,224,224.")
@click.option("--int", "integer", is_flag=True, help="Token ids below the model's vocabulary size.")
@click.option(
    "--scheme",
    "schemes",
    multiple=True,
    help="Initialisation scheme (repeatable: schemes compared side by side).",
)
@click.option(
    "--rule",
    "rules",
    metavar="PATTERN=SCHEME",
    multiple=True,
    help="Scheme for names matching a glob, e.g. '*.bias=zeros' (repeatable; last match wins).",
)
@click.option("--seed", type=SEED, help="Random seed of weights and batch (default: global seed).")
@click.option(
    "--from", "source", type=click.Path(), help="Check this checkpoint's weights (loaded strictly)."
)
@click.option("--grad", is_flag=True, help=f"Also run backward: loss {LOSS}.")
@click.option(
    "--factor",
    type=float,
    default=DEFAULT_FACTOR,
    show_default=True,
    help="Flag a layer whose output std leaves [ref/FACTOR, ref*FACTOR].",
)
@click.option("--train", is_flag=True, help="Run in training mode (default: eval).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@json_option
@model_options
def check(
    model_file: str,
    input_shape: str | None,
    integer: bool,
    schemes: tuple[str, ...],
    rules: tuple[str, ...],
    seed: int | None,
    source: str | None,
    grad: bool,
    factor: float,
    train: bool,
    device: str,
    as_json: bool,
    model_options: ModelOptions,
) -> None:
    """Send a random batch through MODEL and show each module's output statistics.

    The model is initialised as `init` does (--scheme, --rule, --seed), then run on a
    standard normal batch of shape --input (token ids with --int; the model's
    example_input() without --input). Each module's parameters are made real when the
    signal reaches it and dropped after, so a model larger than memory can be checked (with
    --grad, a layer's forward is recomputed in the backward pass instead of keeping its
    weights).

    Per module call: output shape, mean, std, fraction of zeros, fraction saturated (bounded
    activations: within 1% of the range from a bound) and, with --grad, the std of the
    gradient at the output. Layers whose std leaves [ref/FACTOR, ref*FACTOR] of the input's
    (for ids, of the embedding's) are flagged at the first depth where it happens; a plot
    shows std by depth. Several --scheme are compared side by side.
    """
    dims = parse_shape(input_shape)
    if factor <= 1 or not math.isfinite(factor):
        raise click.BadParameter(f"{factor}: expected a finite number > 1", param_hint="'--factor'")
    runs = []
    seed_used = None
    for scheme in schemes or (None,):
        recipe = ModelRecipe(
            model_file, **model_options.kwargs(), scheme=scheme, rules=rules, seed=seed,
            load_from=source, device=device,
        )  # fmt: skip
        seed_used = int(recipe.seed)  # type: ignore[arg-type]
        model = prepare(recipe).model
        with model_code(model_file, "while running the model"):
            try:
                batch = example_batch(model, dims, integer=integer, seed=seed_used)
            except MemoryError:
                raise _too_large(dims) from None
            label = scheme or ("rules" if rules else source or "default")
            run = check_model(
                model, batch, scheme=label, grad=grad, train=train, factor=factor, seed=seed_used
            )
        runs.append(run)
    if as_json:
        echo_json(
            {
                "source": model_file,
                "input": {"shape": dims, "integer": integer},
                "seed": seed_used,
                "grad": grad,
                "loss": LOSS if grad else None,
                "train": train,
                "factor": factor,
                "runs": [run.to_dict() for run in runs],
            }
        )
        return
    console = make_console()
    emit(console, render_table(console, runs, grad))
    for line in drift_lines(runs, factor) + [""] + plot_lines(runs):
        click.echo(line)


def _label(row: Any) -> str:
    name = row.name or "(model)"
    return name if row.call == 1 else f"{name} #{row.call}"


def render_table(console: Any, runs: list[CheckRun], grad: bool) -> Any:
    """One scheme: every statistic per module call; several: the stds side by side."""
    if len(runs) == 1:
        columns = ["depth", "module", "type", "shape", "mean", "std", "zeros", "saturated"]
        columns += ["grad std"] if grad else []
        out = table(console, columns, numeric=["depth", *columns[4:]], wrap=["module"])
        for row in runs[0].layers:
            cells = [number(row.mean), number(row.std), _percent(row.zeros)]
            cells += [_percent(row.saturated)] + ([number(row.grad_std)] if grad else [])
            out.add_row(_depth(row), _label(row), row.type, shape(row.shape), *cells)
        return out
    columns = ["depth", "module", "shape"] + [f"std {run.scheme}" for run in runs]
    columns += [f"grad std {run.scheme}" for run in runs] if grad else []
    out = table(console, columns, numeric=["depth", *columns[3:]], wrap=["module"])
    for rows in zip(*(run.layers for run in runs), strict=False):
        cells = [number(r.std) for r in rows] + ([number(r.grad_std) for r in rows] if grad else [])
        out.add_row(_depth(rows[0]), _label(rows[0]), shape(rows[0].shape), *cells)
    return out


def _depth(row: Any) -> str:
    return "" if row.depth is None else str(row.depth)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def drift_lines(runs: list[CheckRun], factor: float) -> list[str]:
    """One line per scheme: where the signal explodes or vanishes, or that it does not."""
    lines = []
    for run in runs:
        ref = f"{run.reference} std {number(run.reference_std)}"
        if not run.drift:
            depth = len(run.path())
            lines.append(f"{run.scheme}: std within {factor:g}x of {ref} through depth {depth}")
        for drift in run.drift:
            lines.append(
                f"{run.scheme}: {drift.kind} from depth {drift.depth} ({drift.name}): "
                f"std {number(drift.std)} = {number(drift.ratio)} x {ref}"
            )
    return lines


def plot_lines(runs: list[CheckRun], width: int = 64, height: int = 12) -> list[str]:
    """Output std by depth on a log scale, as text that fits 80 columns; one symbol per scheme.

    Depths are grouped into at most ``width`` columns (the mean of log10 std in each group);
    a non-finite std is drawn on the top row.
    """
    series = [[row.std for row in run.path()] for run in runs]
    n = max((len(s) for s in series), default=0)
    if n == 0:
        return []
    cols = min(n, width)
    logs = [_bucket(s, n, cols) for s in series]
    finite = [v for col in logs for v in col if v is not None and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    grid = [[" "] * cols for _ in range(height)]
    for symbol, col_values in zip(SYMBOLS, logs, strict=False):
        for x, value in enumerate(col_values):
            if value is None:
                continue
            y = (
                0
                if not math.isfinite(value)
                else round((high - value) / (high - low) * (height - 1))
            )
            grid[y][x] = symbol if grid[y][x] in (" ", symbol) else OVERLAP
    lines = []
    for y, cells in enumerate(grid):
        tick = y in (0, height // 2, height - 1)
        value = 10 ** (high - y * (high - low) / (height - 1))
        lines.append(f"{f'{value:.1e}' if tick else '':>8} |{''.join(cells)}".rstrip())
    lines.append(f"{'':8} +{'-' * cols}")
    lines.append(f"{'':8}  1{n:>{cols - 1}}" if cols > len(str(n)) else f"{'':8}  1..{n}")
    legend = "   ".join(f"{s} {run.scheme}" for s, run in zip(SYMBOLS, runs, strict=False))
    lines.append(f"{'':8}  std of each layer's output (log scale) by depth")
    lines.append(f"{'':8}  {legend}")
    return lines


def _bucket(stds: list[float], n: int, cols: int) -> list[float | None]:
    """The mean log10 std of the depths falling in each of ``cols`` columns."""
    groups: list[list[float]] = [[] for _ in range(cols)]
    for i, std in enumerate(stds):
        value = math.log10(std) if std > 0 and math.isfinite(std) else (
            math.inf if not math.isfinite(std) else None
        )  # fmt: skip
        if value is not None:
            groups[i * cols // n].append(value)
    return [sum(g) / len(g) if g else None for g in groups]
