"""LSUV: layer-sequential unit-variance initialisation.

Mishkin & Matas, "All you need is a good init", ICLR 2016 (https://arxiv.org/abs/1511.06422):
start from orthogonal weights (Saxe et al. 2013), then, for each convolution and linear layer
in the order the signal reaches them, run a batch through the network and divide the layer's
weight by the standard deviation of its output, until the output variance is within ``tol``
of 1 (or ``max_iter`` rounds have been made). Each layer is fixed before the next is measured,
so one forward pass does the whole model: a forward hook rescales the layer and recomputes its
output before the signal moves on.

The batch is random (standard normal values, or token ids), drawn from the seed, and the model
runs in eval mode (no dropout). A deferred weight ends as the recipe ``orthogonal(gain=g)``
with the gain found, so the model stays deferred and an export computes exactly those values
from (seed, name); a real weight is scaled in place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from paramtool.core.autograd import no_grad
from paramtool.core.random import Generator
from paramtool.core.recipes import Orthogonal
from paramtool.errors import InitError
from paramtool.nn.init.functions import orthogonal_
from paramtool.nn.layers.conv import _ConvNd
from paramtool.nn.layers.linear import Linear
from paramtool.nn.layers.sparse import Embedding
from paramtool.nn.module import Module
from paramtool.nn.signal import example_batch, first_tensor, streamed


def rescalable(model: Module) -> dict[int, Module]:
    """The layers LSUV rescales, by id: leaf modules with a ``weight`` of rank >= 2 that is
    theirs alone (Linear, ConvNd and ConvTranspose, Bilinear, Hugging Face's Conv1D, ...), not
    embeddings (a lookup, not a product) nor a weight tied to another module."""
    owners: dict[int, int] = {}
    for module in model.modules():
        weight = module._parameters.get("weight")
        if weight is not None:
            owners[id(weight)] = owners.get(id(weight), 0) + 1
    layers = {}
    for module in model.modules():
        weight = module._parameters.get("weight")
        if (
            weight is not None
            and weight.dim() >= 2
            and owners[id(weight)] == 1
            and not any(True for _ in module.children())
            and not hasattr(module, "num_embeddings")
        ):
            layers[id(module)] = module
    return layers


def lsuv_start_(
    tensor: Any,
    gain: float = 1.0,
    tol: float = 0.1,
    max_iter: int = 10,
    batch: int = 64,
    size: int = 32,
    generator: Generator | None = None,
) -> Any:
    """The per-tensor start of the ``lsuv`` scheme: ``orthogonal_(tensor, gain)``.

    The other arguments belong to the model pass (:func:`lsuv_`); they are accepted here so
    that the scheme's parameters are checked where every scheme's are.

    Raises:
        InitError: ``tol`` not in (0, 1), ``max_iter``, ``batch`` or ``size`` below 1.
    """
    if not 0 < tol < 1 or max_iter < 1 or batch < 1 or size < 1:
        raise InitError("lsuv: expected 0 < tol < 1 and max_iter, batch, size >= 1")
    return orthogonal_(tensor, gain=gain, generator=generator)


def probe_batch(model: Module, batch: int = 64, size: int = 32, seed: int | None = None) -> Any:
    """A batch the model's first layer takes: ``example_input()``; else for a Linear first
    ``(batch, in_features)``, a ConvNd ``(batch, in_channels, size, ...)``, an Embedding
    ``(batch, size)`` token ids.

    Raises:
        InitError: none of these fits.
    """
    if callable(getattr(model, "example_input", None)):
        return model.example_input()
    for module in model.modules():
        if isinstance(module, Linear):
            return example_batch(model, [batch, module.in_features], seed=seed)
        if isinstance(module, _ConvNd) and not module.transposed:
            spatial = [size] * len(module.kernel_size)
            return example_batch(model, [batch, module.in_channels, *spatial], seed=seed)
        if isinstance(module, Embedding):
            return example_batch(model, [batch, size], integer=True, seed=seed)
    raise InitError(
        f"lsuv: cannot tell what input {type(model).__name__} takes: define example_input()"
    )


def lsuv_(
    model: Module,
    batch: Any = None,
    *,
    tol: float = 0.1,
    max_iter: int = 10,
    seed: int | None = None,
) -> dict[str, float]:
    """Rescale every conv/linear weight (see :func:`rescalable`), in depth order, to unit
    output variance.

    Args:
        model: The model, its weights already orthogonal (deferred or real).
        batch: The input (a Tensor or a tuple of arguments); default :func:`probe_batch`.
        tol: Stop when ``|variance - 1| < tol``.
        max_iter: At most this many rescalings per layer.
        seed: The seed of the weights' values (and of the default batch).

    Returns:
        Each rescaled weight's name and the factor it was multiplied by.

    Raises:
        InitError: a deferred weight whose recipe is not orthogonal (a rule gave it another).
    """
    names = {id(p): n for n, p in model.named_parameters()}
    layers = rescalable(model)
    batch = probe_batch(model, seed=seed) if batch is None else batch
    args = batch if isinstance(batch, tuple) else (batch,)
    scales: dict[str, float] = {}
    was_training = model.training
    model.eval()
    handles = []
    try:
        with streamed(model, seed), no_grad():
            for module in layers.values():
                hook = _rescaler(names[id(module.weight)], scales, tol, max_iter)
                handles.append(module.register_forward_hook(hook, prepend=True))
            model(*args)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    for module in layers.values():
        name = names[id(module.weight)]
        if name in scales:
            _keep(module.weight, name, scales[name])
    return scales


def run_scheme(
    model: Module, params: dict[str, Any], rows: list[dict[str, Any]], seed: int | None
) -> None:
    """The model pass of the ``lsuv`` scheme, after every weight got its orthogonal start.

    Args:
        model: The model.
        params: The scheme's parameters (``tol``, ``max_iter``, ``batch``, ``size``).
        rows: The init report's rows; the rescaled weights' recipe and expected std are updated.
        seed: The seed of the values.
    """
    batch = probe_batch(model, params.get("batch", 64), params.get("size", 32), seed)
    scales = lsuv_(
        model, batch, tol=params.get("tol", 0.1), max_iter=params.get("max_iter", 10), seed=seed
    )
    params_by_name = dict(model.named_parameters())
    for row in rows:
        recipe = params_by_name[row["name"]].recipe
        if row["name"] in scales and recipe is not None:
            row["recipe"] = recipe.describe()
            row["expected_std"] = recipe.expected_std(tuple(row["shape"]))


def _rescaler(name: str, scales: dict[str, float], tol: float, max_iter: int) -> Any:
    def hook(module: Module, args: Sequence[Any], output: Any) -> Any:
        if name in scales:  # a layer called again keeps the scale of its first call
            return None
        weight = module.weight._array()
        total = 1.0
        for _ in range(max_iter):
            variance = _variance(output)
            if not (variance > 0 and math.isfinite(variance)) or abs(variance - 1) < tol:
                break
            factor = 1 / math.sqrt(variance)
            weight *= weight.dtype.type(factor)
            total *= factor
            output = module.forward(*args)
        scales[name] = total
        return output

    return hook


def _variance(output: Any) -> float:
    tensor = first_tensor(output)
    if tensor is None:
        return math.nan
    values = np.asarray(tensor.detach().cpu().numpy(), dtype=np.float64)
    return float(values.var())


def _keep(weight: Any, name: str, scale: float) -> None:
    """Make a deferred weight's recipe carry the scale (a real one was scaled in place)."""
    if not weight.is_deferred or scale == 1.0:
        return
    recipe = weight.recipe
    if not isinstance(recipe, Orthogonal):
        raise InitError(f"lsuv: {name} starts from {recipe.describe()}, not orthogonal")
    orthogonal_(weight, gain=recipe.gain * scale)
