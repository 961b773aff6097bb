"""Reverse-mode automatic differentiation, and the gradient-mode switches.

An operation computes its result array from its inputs' arrays and hands both to :func:`record`
with a ``backward`` function mapping the output's gradient to its inputs' gradients. When grad
mode is on and an input requires grad, the result gets a :class:`Node` (its ``grad_fn``) that
remembers the inputs; ``Tensor.backward()`` walks the nodes from the output in dependency order
and accumulates each leaf's gradient into ``.grad`` (a weight used twice gets both
contributions). Gradients are plain arrays of the tensor's array module (numpy or cupy).
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from paramtool.core.device import device_of
from paramtool.core.hooks import RemovableHandle

_enabled = True


def is_grad_enabled() -> bool:
    """Whether operations record a graph for backward."""
    return _enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn gradient mode on or off globally (``torch.set_grad_enabled`` as a function)."""
    global _enabled
    _enabled = bool(mode)


@contextlib.contextmanager
def _grad_mode(mode: bool) -> Iterator[None]:
    global _enabled
    previous, _enabled = _enabled, mode
    try:
        yield
    finally:
        _enabled = previous


class no_grad:  # noqa: N801 - PyTorch's name
    """Context manager and decorator that turns gradient mode off, like ``torch.no_grad``."""

    _mode = False

    def __enter__(self) -> None:
        self._ctx = _grad_mode(self._mode)
        self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _grad_mode(self._mode):
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):  # noqa: N801
    """Context manager and decorator that turns gradient mode on."""

    _mode = True


class inference_mode(no_grad):  # noqa: N801
    """``torch.inference_mode(mode=True)``: gradient mode off (on with ``mode=False``)."""

    def __init__(self, mode: bool = True) -> None:
        self._mode = not mode


# -- the graph ---------------------------------------------------------------------------------

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)


class AccumulateGrad:
    """The graph's edge into a leaf tensor (``next_functions`` shows it as PyTorch does)."""

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


class Node:
    """One recorded operation: its backward function and the edges to its inputs.

    Attributes:
        edges: Per input, ``(node, output_nr)`` for a computed tensor, ``(None, leaf)`` for a
            leaf that requires grad, or None for an input that needs no gradient.
    """

    __slots__ = ("_name", "backward_fn", "edges", "outputs", "multi", "hooks", "retained",
                 "__weakref__")  # fmt: skip

    def __init__(self, name: str, backward_fn: Callable[..., Any], edges: list[Any],
                 outputs: list[tuple[tuple[int, ...], Any, Any]], multi: bool = False) -> None:  # fmt: skip
        self._name = name
        self.multi = multi  # backward takes a list of output gradients
        self.backward_fn: Callable[..., Any] | None = backward_fn
        self.edges = edges
        self.outputs = outputs  # (shape, dtype, xp) per output, to make zero gradients
        self.hooks: dict[int, OrderedDict[int, Callable[..., Any]]] = {}
        self.retained: dict[int, Any] = {}

    def name(self) -> str:
        """The operation's name, e.g. ``"MulBackward0"``."""
        return self._name

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """``(node or AccumulateGrad or None, output_nr)`` per input, as PyTorch lists them."""
        out: list[tuple[Any, int]] = []
        for edge in self.edges:
            if edge is None:
                out.append((None, 0))
            elif edge[0] is None:
                out.append((AccumulateGrad(edge[1]), 0))
            else:
                out.append(edge)
        return tuple(out)

    def __call__(self, *grads: Any) -> Any:
        arrays = [g._array() if hasattr(g, "_cell") else g for g in grads]
        return self.backward_fn(arrays if self.multi else arrays[0])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<{self._name} object at {id(self):#x}>"


@functools.cache
def _node_class(name: str) -> type[Node]:
    """One Node subclass per op name, so ``type(t.grad_fn).__name__`` is the op's name."""
    return type(name, (Node,), {"__slots__": ()})


def _node(name: str, backward: Callable[..., Any], inputs: Sequence[Any], outputs: list[Any],
          multi: bool = False) -> Node:  # fmt: skip
    return _node_class(name)(name, backward, [_edge(x) for x in inputs], outputs, multi)


_from_array: Callable[[Any], Any] | None = None


def _wrap(array: Any) -> Any:
    """``from_array``, imported on first use (the tensor module imports this one)."""
    global _from_array
    if _from_array is None:
        from paramtool.core.tensor import from_array  # noqa: PLC0415

        _from_array = from_array
    return _from_array(array)


def _edge(value: Any) -> Any:
    if not getattr(value, "requires_grad", False) or not hasattr(value, "_cell"):
        return None
    node = value.grad_fn
    return (None, value) if node is None else (node, value._output_nr)


def _needs_graph(inputs: Sequence[Any]) -> bool:
    if not _enabled:
        return False
    return any(getattr(x, "_requires_grad", False) or getattr(x, "grad_fn", None) is not None
               for x in inputs if hasattr(x, "_cell"))  # fmt: skip


def record(output: Any, inputs: Sequence[Any], backward: Callable[[Any], Sequence[Any]], *,
           name: str) -> Any:  # fmt: skip
    """Wrap an op's result array in a Tensor, recording ``backward`` when a gradient is needed.

    Args:
        output: The result array (numpy or cupy), computed from the inputs' arrays.
        inputs: The op's inputs in order: Tensors, or anything else (None, Python scalars).
        backward: Called once during backward with the output's gradient array; returns one
            gradient array (or None) per entry of ``inputs``, each of that input's shape.
        name: The node's name shown as ``grad_fn`` (``"AddBackward0"``).

    Returns:
        The result Tensor; it requires grad (and has a ``grad_fn``) only when grad mode is on
        and some Tensor input requires grad.
    """
    tensor = _wrap(output)
    if _needs_graph(inputs):
        _attach(tensor, 0, _node(name, backward, inputs, [_meta(output)]))
    return tensor


def record_multi(outputs: Sequence[Any], inputs: Sequence[Any],
                 backward: Callable[[list[Any]], Sequence[Any]], *, name: str) -> tuple[Any, ...]:  # fmt: skip
    """Like :func:`record` for an op with several outputs.

    ``backward`` receives a list with one gradient array per output (zeros for an output that
    received no gradient).
    """
    tensors = tuple(_wrap(o) for o in outputs)
    if _needs_graph(inputs):
        node = _node(name, backward, inputs, [_meta(o) for o in outputs], True)
        for i, tensor in enumerate(tensors):
            if tensor.is_floating_point():
                _attach(tensor, i, node)
    return tensors


def _meta(array: Any) -> tuple[tuple[int, ...], Any, Any]:
    return tuple(array.shape), array.dtype, device_of(array).xp


def _attach(tensor: Any, output_nr: int, node: Node) -> None:
    tensor.grad_fn = node
    tensor._output_nr = output_nr
    tensor._requires_grad = True


def unbroadcast(grad: Any, shape: Sequence[int]) -> Any:
    """Sum a broadcast gradient back to ``shape`` (the shape of the input it belongs to)."""
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def register_hook(tensor: Any, hook: Callable[[Any], Any]) -> RemovableHandle:
    """Register a hook that sees (and may replace) the gradient of ``tensor``."""
    if not tensor.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if tensor.grad_fn is None:
        if tensor._hooks is None:
            tensor._hooks = OrderedDict()
        hooks = tensor._hooks
    else:
        hooks = tensor.grad_fn.hooks.setdefault(tensor._output_nr, OrderedDict())
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def retain_grad(tensor: Any) -> None:
    """Keep a computed tensor's gradient in ``.grad`` after backward (no-op for a leaf)."""
    if not tensor.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if tensor.grad_fn is None:
        return
    tensor._retains_grad = True
    tensor.grad_fn.retained[tensor._output_nr] = weakref.ref(tensor)


# isort: split
from paramtool.core import autograd_backward as _pass  # noqa: E402 - built on the graph above
from paramtool.core.autograd_function import Function, FunctionCtx  # noqa: E402, F401 - built on the engine

backward, grad, accumulate_grad = _pass.backward, _pass.grad, _pass.accumulate_grad
