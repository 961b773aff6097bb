"""Does an initialisation keep the signal alive? Per-module statistics of one forward pass.

:func:`check_model` sends a random batch through a model with forward hooks on every module
and records, per call of a module, the statistics of its output (the first floating-point
tensor it returns): shape, mean, standard deviation (population, ``ddof=0``), the fraction of
zeros and, for bounded activations, the fraction saturated; with ``grad=True`` also the standard
deviation of the gradient reaching that output, from a backward pass seeded with a standard
normal gradient at the model's output (the gradient of the loss ``(output * g).sum()``, g ~
N(0, 1): a unit signal travelling back).

The *signal path* is the calls of leaf modules (modules without children) in call order; a
leaf call's 1-based position on it is its *depth*. The reference scale is the input's std (for
token ids: the output std of the first leaf that takes them, the embedding); a leaf whose
output std exceeds ``factor`` times the reference is *exploding*, one below the reference over
``factor`` *vanishing*; the first depth of each is reported.

A bounded activation is *saturated* where its output lies within ``SATURATION_MARGIN`` of its
range from either bound (``|x| >= 0.98`` for tanh, ``x <= 0.01`` or ``x >= 0.99`` for sigmoid):
there its derivative is nearly zero. Other modules have no saturation figure.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from paramtool.core import autograd
from paramtool.core import random as _random
from paramtool.core.device import to_host
from paramtool.core.tensor import Tensor, from_array
from paramtool.errors import CheckError
from paramtool.nn.module import Module
from paramtool.nn.signal import first_tensor, streamed
from paramtool.report.stats import tensor_stats

#: Output range of the bounded activations, by class name (Hardtanh's comes from the module).
BOUNDED = {
    "Tanh": (-1.0, 1.0),
    "Sigmoid": (0.0, 1.0),
    "Hardsigmoid": (0.0, 1.0),
    "Softsign": (-1.0, 1.0),
    "ReLU6": (0.0, 6.0),
    "Softmax": (0.0, 1.0),
}
#: A value within this fraction of the range from a bound counts as saturated.
SATURATION_MARGIN = 0.01
#: The default drift factor: two orders of magnitude either way.
DEFAULT_FACTOR = 100.0
#: Errors of a forward pass reported as one line naming the module (the cause chained).
FORWARD_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError)
#: The stream key of the gradient seeded at the output (never a parameter name).
GRAD_STREAM = "<grad>"


@dataclass
class LayerStats:
    """The output of one call of one module.

    Attributes:
        name: The module's name in the model ("" for the model itself).
        type: The module's class name.
        call: 1 for the module's first call in the pass, 2 for the second, ...
        level: Nesting level (0 for the model, 1 for its children, ...).
        depth: Position on the signal path (leaf calls, from 1); None for containers.
        shape: Shape of the output tensor.
        mean: Mean of the output.
        std: Standard deviation of the output (population).
        zeros: Fraction of output values equal to zero.
        saturated: Fraction saturated (bounded activations), else None.
        grad_std: Standard deviation of the gradient at the output (with a backward), else None.
    """

    name: str
    type: str
    call: int
    level: int
    depth: int | None = None
    shape: list[int] = field(default_factory=list)
    mean: float = math.nan
    std: float = math.nan
    zeros: float = 0.0
    saturated: float | None = None
    grad_std: float | None = None


@dataclass(frozen=True)
class Drift:
    """The first depth where the signal left ``[reference / factor, reference * factor]``.

    Attributes:
        kind: ``"exploding"`` or ``"vanishing"``.
        depth: The depth on the signal path.
        name: The module there.
        std: Its output std.
        ratio: ``std / reference``.
    """

    kind: str
    depth: int
    name: str
    std: float
    ratio: float


@dataclass
class CheckRun:
    """One model, one initialisation, one pass.

    Attributes:
        scheme: The initialisation, as given (``"kaiming"``, ``"default"``).
        reference: What the drift is measured against: ``"input"`` or a module name.
        reference_std: Its std.
        layers: One entry per module call, in call order (a parent before its children).
        drift: The first exploding and the first vanishing depth (those that occur).
    """

    scheme: str
    reference: str
    reference_std: float
    layers: list[LayerStats]
    drift: list[Drift]

    def path(self) -> list[LayerStats]:
        """The leaf calls, in depth order."""
        return [row for row in self.layers if row.depth is not None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (non-finite figures as None)."""
        return _finite(asdict(self))


def check_model(
    model: Module,
    batch: Any,
    *,
    scheme: str = "default",
    grad: bool = False,
    train: bool = False,
    factor: float = DEFAULT_FACTOR,
    seed: int | None = None,
    stream: bool = True,
) -> CheckRun:
    """Run ``batch`` through ``model`` and record every module's output statistics.

    Args:
        model: The model, initialised (its parameters may be deferred).
        batch: The input: a Tensor, a tuple of positional arguments or a dict of keyword
            arguments (what ``example_input()`` returns).
        scheme: The label of this run's initialisation.
        grad: Also run a backward pass and record gradient stds.
        train: Run in training mode (batch statistics in norms, dropout active); default eval.
        factor: The drift factor (> 1).
        seed: The seed of the weights' values and of the output gradient.
        stream: Materialise each module's parameters only while it runs (see
            :func:`paramtool.nn.signal.streamed`).

    Returns:
        The :class:`CheckRun`.

    Raises:
        CheckError: the factor is not > 1, the forward fails (the message names the module
            where), or with ``grad`` the output does not require grad.
    """
    if not (factor > 1 and math.isfinite(factor)):
        raise CheckError(f"--factor {factor}: expected a finite number > 1")
    args = batch if isinstance(batch, tuple) else () if isinstance(batch, dict) else (batch,)
    kwargs = batch if isinstance(batch, dict) else {}
    recorder = _Recorder(model, grad, (*args, *kwargs.values()))
    was_training = model.training
    model.train(train)
    try:
        with contextlib.ExitStack() as stack:
            if stream:
                stack.enter_context(streamed(model, seed, recompute=grad))
            stack.enter_context(recorder.installed())
            if not grad:
                stack.enter_context(autograd.no_grad())
            try:
                output = model(*args, **kwargs)
            except FORWARD_ERRORS as exc:  # a batch the model cannot take, a missing op
                raise CheckError(recorder.failure(exc)) from exc
            if grad:
                _backward(first_tensor(output), seed)
    finally:
        model.train(was_training)
        if grad:
            model.zero_grad(set_to_none=True)
    return _summarise(scheme, recorder, factor)


def _backward(output: Tensor | None, seed: int | None) -> None:
    if output is None or not output.requires_grad:
        raise CheckError("--grad: the model's output does not depend on anything requiring grad")
    generator = _random.named_stream(GRAD_STREAM, seed).generator()
    g = generator.standard_normal(size=tuple(output.shape), dtype=np.float32)
    output.backward(from_array(g.astype(output.dtype)).to(output.device))


class _Recorder:
    """Forward hooks on every module: a row per call, filled when the call returns."""

    def __init__(self, model: Module, grad: bool, inputs: tuple[Any, ...]) -> None:
        self.modules = list(model.named_modules())
        self.grad = grad
        self.inputs = inputs
        self.fed: list[LayerStats] = []  # leaf calls that took the model's input itself
        self.running: list[LayerStats] = []  # calls entered and not returned, outermost first
        self.rows: list[LayerStats] = []
        self.open: dict[int, list[LayerStats]] = {}
        self.calls: dict[int, int] = {}

    @contextlib.contextmanager
    def installed(self) -> Any:
        handles = []
        try:
            for name, module in self.modules:
                handles.append(module.register_forward_pre_hook(self._pre(name)))
                handles.append(module.register_forward_hook(self._post()))
            yield
        finally:
            for handle in handles:
                handle.remove()

    def failure(self, exc: BaseException) -> str:
        """What failed: the innermost module call that did not return, and why."""
        where = self.running[-1] if self.running else None
        what = "the model" if where is None or not where.name else where.name
        kind = f" ({where.type})" if where is not None else ""
        return f"forward of {what}{kind} failed: {exc}"

    def _pre(self, name: str) -> Any:
        def hook(module: Module, args: Any) -> None:
            key = id(module)
            self.calls[key] = self.calls.get(key, 0) + 1
            level = name.count(".") + 1 if name else 0
            row = LayerStats(name, type(module).__name__, self.calls[key], level)
            if not any(True for _ in module.children()):
                row.depth = 0  # numbered in _summarise, once rows without a tensor are gone
                if any(a is x for a in args for x in self.inputs):
                    self.fed.append(row)
            self.rows.append(row)
            self.running.append(row)
            self.open.setdefault(key, []).append(row)

        return hook

    def _post(self) -> Any:
        def hook(module: Module, args: Any, output: Any) -> None:
            stack = self.open.get(id(module))
            if not stack:
                return
            row = stack.pop()
            self.running.remove(row)
            tensor = first_tensor(output)
            if tensor is None:
                return
            _fill(row, tensor, output_range(module))
            if self.grad and tensor.requires_grad:
                tensor.register_hook(lambda g, row=row: _set_grad_std(row, g))

        return hook


def _moments(tensor: Tensor) -> tuple[float, float, int]:
    """Mean and std over all values (NaN when any is not finite, as torch gives), and the
    number of zeros; visited in chunks, so a large output costs no float64 copy of itself."""
    stats = tensor_stats("", tensor.detach()._array())
    if not stats.finite:
        return math.nan, math.nan, stats.zeros
    return stats.mean, stats.std, stats.zeros


def _fill(row: LayerStats, tensor: Tensor, bounds: tuple[float, float] | None) -> None:
    row.shape = [int(n) for n in tensor.shape]
    row.mean, row.std, zeros = _moments(tensor)
    size = tensor.numel()
    row.zeros = zeros / size if size else 0.0
    if bounds is not None and size:
        values = to_host(tensor.detach()._array())
        low, high = bounds
        margin = SATURATION_MARGIN * (high - low)
        near = (values <= low + margin) | (values >= high - margin)
        row.saturated = float(np.count_nonzero(near) / size)


def _set_grad_std(row: LayerStats, grad: Tensor) -> None:
    row.grad_std = _moments(grad)[1]


def output_range(module: Any) -> tuple[float, float] | None:
    """The output range of a bounded activation (any library's module), else None."""
    if hasattr(module, "min_val") and hasattr(module, "max_val"):  # Hardtanh, ReLU6
        return float(module.min_val), float(module.max_val)
    return BOUNDED.get(type(module).__name__)


def _summarise(scheme: str, recorder: _Recorder, factor: float) -> CheckRun:
    rows = [row for row in recorder.rows if row.shape]
    path = [row for row in rows if row.depth is not None]
    for depth, row in enumerate(path, start=1):
        row.depth = depth
    first = recorder.inputs[0] if recorder.inputs else None
    # token ids: the first layer that took them (the embedding), else the first layer
    fed = [row for row in recorder.fed if row.shape] + path
    if isinstance(first, Tensor) and first.is_floating_point():
        reference, reference_std = "input", _moments(first)[1]
    elif fed:
        reference, reference_std = fed[0].name, fed[0].std
    else:
        reference, reference_std = "input", math.nan
    return CheckRun(scheme, reference, reference_std, rows, _drift(path, reference_std, factor))


def _drift(path: list[LayerStats], reference: float, factor: float) -> list[Drift]:
    found: dict[str, Drift] = {}
    if not (reference > 0 and math.isfinite(reference)):
        return []
    for row in path:
        ratio = row.std / reference if math.isfinite(row.std) else math.inf
        kind = "exploding" if ratio > factor else "vanishing" if ratio < 1 / factor else None
        if kind is not None and kind not in found:
            found[kind] = Drift(kind, row.depth or 0, row.name, row.std, ratio)
    return sorted(found.values(), key=lambda d: d.depth)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
