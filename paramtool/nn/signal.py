"""Sending a signal through a model: a random example batch, and layer-by-layer weights.

:func:`example_batch` makes the input a check or an init pass feeds a model: standard normal
values of a given shape, token ids below the model's vocabulary size, or the model's own
``example_input()``; drawn from a stream of the seed, so it is the same in every run.

:func:`streamed` runs a model whose parameters are deferred without making the whole model
real: a module's own parameters and buffers are materialised when the signal reaches it (a
forward pre-hook) and released after its forward (a forward hook), so the peak is about the
largest layer plus the activations. Values come from each tensor's name and the seed, exactly
as :meth:`Module.materialize` and a written checkpoint give them, so a tensor computed twice
is the same twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from paramtool.core import random as _random
from paramtool.core.tensor import Tensor, from_array
from paramtool.errors import CheckError

if TYPE_CHECKING:
    from paramtool.nn.module import Module

#: The stream key of example batches (not a valid parameter name, so never a parameter's).
INPUT_STREAM = "<input>"


def example_batch(
    model: Module,
    shape: Sequence[int] | None = None,
    *,
    integer: bool = False,
    seed: int | None = None,
) -> Any:
    """The batch to feed ``model``: standard normal floats, or token ids with ``integer``.

    Args:
        model: The model (its parameters' dtype and device are the batch's; ids are drawn
            below ``model.config.vocab_size``, else the first Embedding's ``num_embeddings``).
        shape: The batch's shape; None calls ``model.example_input()``.
        integer: Draw int64 token ids instead of float values.
        seed: The seed (default: paramtool's global seed).

    Returns:
        A Tensor, or what ``example_input()`` returns.

    Raises:
        CheckError: no shape and no ``example_input()``, a bad shape, or ids wanted but no
            vocabulary size found.
    """
    if shape is None:
        make = getattr(model, "example_input", None)
        if not callable(make):
            raise CheckError(
                f"{type(model).__name__} defines no example_input(): give the input shape "
                "(e.g. --input 8,3,224,224, or --input 8,128 --int for token ids)"
            )
        return make()
    if not shape or any(int(n) <= 0 for n in shape):
        raise CheckError(f"input shape {list(shape)}: expected positive sizes, e.g. 8,3,224,224")
    generator = _random.named_stream(INPUT_STREAM, seed).generator()
    if integer:
        array: Any = generator.integers(0, vocab_size(model), size=tuple(shape), dtype=np.int64)
    else:
        reference = next((p for p in model.parameters() if p.is_floating_point()), None)
        dtype = reference.dtype if reference is not None else np.dtype(np.float32)
        array = generator.standard_normal(size=tuple(shape), dtype=np.float32).astype(dtype)
    batch = from_array(array)
    device = next((p.device for p in model.parameters()), None)
    return batch if device is None or device.type == "cpu" else batch.to(device)


def vocab_size(model: Module) -> int:
    """The number of token ids ``model`` takes: ``config.vocab_size``, else the first
    ``num_embeddings`` of its modules (an Embedding).

    Raises:
        CheckError: neither is found.
    """
    config = getattr(model, "config", None)
    size = getattr(config, "vocab_size", None)
    if size is None:
        size = next(
            (m.num_embeddings for m in model.modules() if hasattr(m, "num_embeddings")), None
        )
    if not isinstance(size, int) or size <= 0:
        raise CheckError(
            f"{type(model).__name__} has no vocabulary size (config.vocab_size or an "
            "Embedding): token ids need one"
        )
    return size


def first_tensor(value: Any, kind: type = Tensor) -> Any:
    """The first floating-point tensor in a module's output (a tuple, list or dict of them).

    Args:
        value: The output.
        kind: The tensor class looked for (another library's, to read its outputs alike).
    """
    if isinstance(value, kind):
        return value if value.is_floating_point() else None
    if isinstance(value, (tuple, list, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            found = first_tensor(item, kind)
            if found is not None:
                return found
    return None


class _Held:
    """The deferred tensors of a model while it runs streamed: named, counted, released."""

    def __init__(self, model: Module, seed: int | None) -> None:
        # id -> (tensor, recipe, own stream, stream of its name)
        self.saved: dict[int, tuple[Tensor, Any, Any, Any]] = {}
        self.count: dict[int, int] = {}
        for name, tensor in (*model.named_parameters(), *model.named_buffers()):
            cell = tensor._cell
            if cell.array is None and id(tensor) not in self.saved:
                named = _random.named_stream(name, seed) if cell.recipe.random else None
                self.saved[id(tensor)] = (tensor, cell.recipe, cell.stream, named)
                # bind the name: however the tensor is made real, it gets its named values
                cell.stream = named

    def acquire(self, module: Module) -> None:
        for tensor in _own_tensors(module):
            key = id(tensor)
            if key in self.saved:
                self.count[key] = self.count.get(key, 0) + 1
                tensor.materialize()

    def release(self, module: Module) -> None:
        for tensor in _own_tensors(module):
            key = id(tensor)
            if self.count.get(key, 0) > 0:
                self.count[key] -= 1
                if self.count[key] == 0:
                    tensor, recipe, _, named = self.saved[key]
                    _defer(tensor, recipe, named)

    def restore(self) -> None:
        """Every tensor deferred at the start is deferred again, with its own stream."""
        for tensor, recipe, stream, _ in self.saved.values():
            _defer(tensor, recipe, stream)


def _defer(tensor: Tensor, recipe: Any, stream: Any) -> None:
    """Drop a tensor's array; it is the recipe (and stream) it was before."""
    cell = tensor._cell
    cell.array = None
    cell.recipe, cell.stream = recipe, stream


def _own_tensors(module: Module) -> Iterator[Tensor]:
    for registry in (module._parameters, module._buffers):
        for tensor in registry.values():
            if tensor is not None:
                yield tensor


@contextlib.contextmanager
def streamed(model: Module, seed: int | None = None) -> Iterator[Module]:
    """Run ``model`` layer by layer: each module's deferred parameters and buffers are made
    real when it is called and deferred again when its forward returns.

    Tensors that were real on entry are left alone; every tensor deferred on entry is deferred
    again (with its recipe and stream) on exit, whatever happened.

    Args:
        model: A model with deferred parameters (real ones cost nothing extra).
        seed: The seed the values are drawn with (default: the global seed).

    Yields:
        The model.

    Note:
        A backward pass needs the weights the forward used: a graph recorded in grad mode
        keeps each layer's arrays alive until it is freed, whatever is released here.
    """
    held = _Held(model, seed)
    handles = []
    try:
        for module in model.modules():
            handles.append(
                module.register_forward_pre_hook(lambda m, args: held.acquire(m), prepend=True)
            )
            handles.append(
                module.register_forward_hook(lambda m, args, out: held.release(m), always_call=True)
            )
        yield model
    finally:
        for handle in handles:
            handle.remove()
        held.restore()
