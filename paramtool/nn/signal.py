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

from paramtool.core import autograd as _autograd
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


class _Recompute:
    """Under grad mode, a leaf module with deferred weights runs without recording a graph
    (which would keep its weights alive); its output gets one node whose backward makes the
    weights real again (the same values: they are a function of seed and name), re-runs the
    module's forward and backpropagates through it. Gradients reach the module's tensor
    arguments, not its weights (``.grad`` of the weights is left alone)."""

    def __init__(self, held: _Held) -> None:
        self.held = held
        self.modes: list[bool | None] = []

    def qualifies(self, module: Module, kwargs: dict[str, Any]) -> bool:
        return (
            _autograd.is_grad_enabled()
            and not any(True for _ in module.children())
            and any(id(t) in self.held.saved for t in _own_tensors(module))
            and not any(isinstance(v, Tensor) and v.requires_grad for v in kwargs.values())
        )

    def before(self, module: Module, args: Any, kwargs: dict[str, Any]) -> None:
        if not self.qualifies(module, kwargs):
            self.modes.append(None)
            return
        self.modes.append(_autograd.is_grad_enabled())
        _autograd.set_grad_enabled(False)

    def after(self, module: Module, args: Any, kwargs: dict[str, Any], output: Any) -> Any:
        mode = self.modes.pop()
        if mode is None:
            return None
        _autograd.set_grad_enabled(mode)
        if not (isinstance(output, Tensor) and output.is_floating_point()):
            return None
        return self._record(module, tuple(args), kwargs, output)

    def _record(
        self, module: Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor
    ) -> Tensor:
        index = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in index]
        params = [t for t in _own_tensors(module) if t.requires_grad]
        arrays = [t._array() for t in tensors]  # the inputs (activations) are kept, not weights

        def backward(grad: Any) -> list[Any]:
            if not any(t.is_floating_point() for t in tensors):  # token ids: nothing to send on
                return [None] * (len(tensors) + len(params))
            self.held.acquire(module)
            for param in params:  # no weight gradient is wanted: none is computed
                param.requires_grad_(False)
            try:
                with _autograd.enable_grad():
                    local = [
                        from_array(a).requires_grad_() if t.is_floating_point() else t
                        for a, t in zip(arrays, tensors, strict=True)
                    ]
                    rerun = list(args)
                    for i, value in zip(index, local, strict=True):
                        rerun[i] = value
                    out = module.forward(*rerun, **kwargs)
                    wanted = [x for x in local if x.requires_grad]
                    found = _autograd.grad(out, wanted, from_array(grad), allow_unused=True)
            finally:
                for param in params:
                    param.requires_grad_(True)
                self.held.release(module)
            by_id = {id(x): g for x, g in zip(wanted, found, strict=True)}
            grads = [by_id.get(id(x)) for x in local]
            return [None if g is None else g._array() for g in grads] + [None] * len(params)

        name = f"{type(module).__name__}RecomputeBackward"
        return _autograd.record(output._array(), [*tensors, *params], backward, name=name)


@contextlib.contextmanager
def streamed(model: Module, seed: int | None = None, recompute: bool = False) -> Iterator[Module]:
    """Run ``model`` layer by layer: each module's deferred parameters and buffers are made
    real when it is called and deferred again when its forward returns.

    Tensors that were real on entry are left alone; every tensor deferred on entry is deferred
    again (with its recipe and stream) on exit, whatever happened.

    Args:
        model: A model with deferred parameters (real ones cost nothing extra).
        seed: The seed the values are drawn with (default: the global seed).
        recompute: In grad mode, record no graph inside a leaf module with deferred weights
            and recompute its forward in the backward pass instead, so that a backward does not
            need every weight held (its gradients reach activations, not weights).

    Yields:
        The model.

    Note:
        Without ``recompute``, a graph recorded in grad mode keeps each layer's arrays alive
        until it is freed, whatever is released here.
    """
    held = _Held(model, seed)
    rerun = _Recompute(held)
    handles = []
    try:
        for module in model.modules():
            if recompute:
                handles.append(
                    module.register_forward_pre_hook(rerun.before, prepend=True, with_kwargs=True)
                )
                handles.append(
                    module.register_forward_hook(
                        rerun.after, prepend=True, with_kwargs=True, always_call=True
                    )
                )
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
