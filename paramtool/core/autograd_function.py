"""``torch.autograd.Function``: user-defined operations with their own backward, on the engine.

Subclass it with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` (or PyTorch 2's
``forward(*args)`` plus ``setup_context(ctx, inputs, output)``) and call ``MyOp.apply(...)``.
``forward`` runs with gradient mode off; its tensor outputs join the graph through one node
whose backward calls the subclass's ``backward`` with Tensors.
"""

from __future__ import annotations

from typing import Any

from paramtool.core import autograd
from paramtool.core.autograd import _grad_mode, record_multi


class FunctionCtx:
    """The ``ctx`` a Function's forward and backward share."""

    def __init__(self, inputs: tuple[Any, ...]) -> None:
        self.needs_input_grad = tuple(
            bool(getattr(x, "requires_grad", False)) and autograd.is_grad_enabled() for x in inputs
        )
        self.saved_tensors: tuple[Any, ...] = ()
        self.non_differentiable: set[int] = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors for backward (read them back as ``ctx.saved_tensors``)."""
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """Outputs that get no gradient (e.g. indices); they do not require grad."""
        self.non_differentiable.update(id(o) for o in outputs)

    def mark_dirty(self, *tensors: Any) -> None:
        """Accepted for compatibility: in-place outputs are handled like new ones."""

    def set_materialize_grads(self, value: bool) -> None:
        """Whether missing output gradients reach backward as zeros (True) or None."""
        self.materialize_grads = bool(value)


class Function:
    """Base class of user-defined differentiable operations (``torch.autograd.Function``)."""

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    vjp = backward

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` and record ``backward`` for the tensor inputs that require grad."""
        ctx = FunctionCtx(args)
        with _grad_mode(False):
            if "setup_context" in _own_names(cls):
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)  # type: ignore[attr-defined]
            else:
                output = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(output, tuple)
        outputs = (output,) if single else output
        places = [i for i, o in enumerate(outputs) if hasattr(o, "_cell")]
        if not any(ctx.needs_input_grad) or not places:
            return output
        wrapped = _record(cls, ctx, args, [outputs[i] for i in places])
        result = list(outputs)
        for i, tensor in zip(places, wrapped, strict=True):
            if id(outputs[i]) in ctx.non_differentiable:
                tensor.detach_()
            result[i] = tensor
        return result[0] if single else tuple(result)


def _own_names(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is Function:
            break
        names.update(vars(klass))
    return names


def _record(cls: type, ctx: FunctionCtx, args: tuple[Any, ...], outputs: list[Any]) -> Any:
    from paramtool.core.tensor import from_array  # noqa: PLC0415 - tensor imports autograd

    def backward(grads: list[Any]) -> list[Any]:
        tensors = [from_array(g) for g in grads]
        with _grad_mode(False):
            result = cls.backward(ctx, *tensors)  # type: ignore[attr-defined]
        result = result if isinstance(result, tuple) else (result,)
        if len(result) != len(args):
            raise RuntimeError(
                f"function {cls.__name__}Backward returned an incorrect number of gradients "
                f"(expected {len(args)}, got {len(result)})"
            )
        return [g._array() if hasattr(g, "_cell") else g for g in result]

    return record_multi(
        [o._array() for o in outputs], args, backward, name=f"{cls.__name__}Backward"
    )


class InplaceFunction(Function):
    """``torch.autograd.function.InplaceFunction``: a Function with an ``inplace`` flag."""

    def __init__(self, inplace: bool = False) -> None:
        self.inplace = inplace


class NestedIOFunction(Function):
    """Kept for import compatibility (legacy PyTorch API)."""
