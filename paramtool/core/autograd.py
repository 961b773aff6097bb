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


def _wrap(array: Any) -> Any:
    from paramtool.core.tensor import from_array  # noqa: PLC0415 - tensor imports autograd

    return from_array(array)


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
    from paramtool.core.device import device_of  # noqa: PLC0415

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


# -- running backward --------------------------------------------------------------------------


class _Run:
    """One backward pass: gradient buffers per node, leaves accumulated or captured."""

    def __init__(self, retain_graph: bool, only: Sequence[Any] | None, capture: bool) -> None:
        self.retain_graph = retain_graph
        self.only = None if only is None else {id(t) for t in only}
        self.capture = capture
        self.captured: dict[int, Any] = {}
        self.buffers: dict[Node, list[Any]] = {}

    def add(self, node: Node, nr: int, grad: Any) -> None:
        slots = self.buffers.setdefault(node, [None] * len(node.outputs))
        slots[nr] = grad if slots[nr] is None else slots[nr] + grad

    def leaf(self, tensor: Any, grad: Any) -> None:
        grad = _run_hooks(getattr(tensor, "_hooks", None), grad)
        if self.capture:
            key = id(tensor)
            if key in self.only:  # type: ignore[operator]
                old = self.captured.get(key)
                self.captured[key] = grad if old is None else old + grad
            return
        if self.only is not None and id(tensor) not in self.only:
            return
        accumulate_grad(tensor, grad)

    def run(self, roots: list[tuple[Any, Any]]) -> None:
        for tensor, grad in roots:
            if tensor.grad_fn is None:
                self.leaf(tensor, grad)
            else:
                self.add(tensor.grad_fn, tensor._output_nr, grad)
        order = _topological([t.grad_fn for t, _ in roots if t.grad_fn is not None])
        for node in order:
            self.step(node)

    def step(self, node: Node) -> None:
        slots = self.buffers.pop(node, None)
        if slots is None:
            return
        if node.backward_fn is None:
            raise RuntimeError(_FREED)
        for nr, grad in enumerate(slots):
            if grad is None:
                continue
            grad = _run_hooks(node.hooks.get(nr), grad)
            slots[nr] = grad
            self._retain(node, nr, grad)
        if not node.multi:
            grads = node.backward_fn(slots[0])
        else:
            grads = node.backward_fn([_zeros_for(meta) if g is None else g
                                      for g, meta in zip(slots, node.outputs, strict=True)])  # fmt: skip
        if not self.retain_graph:
            node.backward_fn = None
        for edge, grad in zip(node.edges, grads, strict=True):
            if edge is None or grad is None:
                continue
            if edge[0] is None:
                self.leaf(edge[1], grad)
            else:
                self.add(edge[0], edge[1], grad)

    def _retain(self, node: Node, nr: int, grad: Any) -> None:
        ref = node.retained.get(nr)
        tensor = ref() if ref is not None else None
        if tensor is None:
            return
        if self.capture:
            if id(tensor) in self.only:  # type: ignore[operator]
                self.captured[id(tensor)] = grad
            return
        if tensor._retains_grad:
            accumulate_grad(tensor, grad)


def _zeros_for(meta: tuple[tuple[int, ...], Any, Any]) -> Any:
    shape, dtype, xp = meta
    return xp.zeros(shape, dtype=dtype)


def _run_hooks(hooks: OrderedDict[int, Callable[..., Any]] | None, grad: Any) -> Any:
    if not hooks:
        return grad
    for hook in list(hooks.values()):
        result = hook(_wrap(grad))
        if result is not None:
            grad = result._array() if hasattr(result, "_cell") else result
    return grad


def _topological(roots: list[Node]) -> list[Node]:
    """Nodes reachable from ``roots``, each after every node that feeds it a gradient."""
    dependents: dict[Node, int] = {}
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for edge in node.edges:
            if edge is not None and edge[0] is not None:
                dependents[edge[0]] = dependents.get(edge[0], 0) + 1
                stack.append(edge[0])
    ready = [n for n in dict.fromkeys(roots) if dependents.get(n, 0) == 0]
    order: list[Node] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for edge in node.edges:
            if edge is not None and edge[0] is not None:
                dependents[edge[0]] -= 1
                if dependents[edge[0]] == 0:
                    ready.append(edge[0])
    return order


def accumulate_grad(tensor: Any, grad: Any) -> None:
    """Add ``grad`` (an array) into ``tensor.grad``, creating it on first use."""
    if grad.dtype != tensor.dtype:
        grad = grad.astype(tensor.dtype)
    if tuple(grad.shape) != tuple(tensor.shape):
        grad = tensor._xp().broadcast_to(grad, tensor.shape)
    if tensor.grad is None:
        tensor.grad = _wrap(grad.copy())
    else:
        tensor.grad = _wrap(tensor.grad._array() + grad)


def _seed(tensor: Any, gradient: Any, index: int) -> Any:
    if gradient is None:
        if tensor.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        return tensor._xp().ones(tensor.shape, dtype=tensor.dtype)
    array = gradient._array() if hasattr(gradient, "_cell") else tensor._xp().asarray(gradient)
    if tuple(array.shape) != tuple(tensor.shape):
        from paramtool.core.tensor import Size  # noqa: PLC0415

        raise RuntimeError(
            f"Mismatch in shape: grad_output[{index}] has a shape of "
            f"{_torch_size(Size(array.shape))} and output[{index}] has a shape of "
            f"{_torch_size(tensor.shape)}."
        )
    return array.astype(tensor.dtype, copy=False)


def _torch_size(size: Any) -> str:
    return repr(size).replace("paramtool.", "torch.")


def _roots(tensors: Any, grad_tensors: Any) -> list[tuple[Any, Any]]:
    tensors = [tensors] if hasattr(tensors, "_cell") else list(tensors)
    if grad_tensors is None or hasattr(grad_tensors, "_cell"):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    roots = []
    for i, (tensor, gradient) in enumerate(zip(tensors, grad_tensors, strict=True)):
        if not tensor.requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        roots.append((tensor, _seed(tensor, gradient, i)))
    return roots


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:  # fmt: skip
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the leaves they use.

    Args:
        tensors: A tensor or a sequence of tensors to differentiate.
        grad_tensors: The gradient of each (None for a one-element tensor: 1).
        retain_graph: Keep the graph for another backward (default ``create_graph``).
        create_graph: Not supported (gradients are not themselves differentiable).
        inputs: Accumulate only into these tensors.

    Raises:
        RuntimeError: PyTorch's errors: a non-scalar without a gradient, a tensor that does
            not require grad, a second backward through a freed graph.
    """
    _check_create_graph(create_graph)
    if hasattr(inputs, "_cell"):
        inputs = [inputs]
    roots = _roots(tensors, grad_tensors)
    with _grad_mode(False):
        _Run(bool(retain_graph), inputs, capture=False).run(roots)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple[Any, ...]:  # fmt: skip
    """The gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    Raises:
        RuntimeError: An input was not used and ``allow_unused`` is False (PyTorch's message).
    """
    _check_create_graph(create_graph)
    inputs = [inputs] if hasattr(inputs, "_cell") else list(inputs)
    for i, tensor in enumerate(inputs):
        if not tensor.requires_grad:
            raise RuntimeError(
                f"One of the differentiated Tensors does not require grad (input {i})"
            )
    retained = []
    for tensor in inputs:  # a computed input's gradient is read where its node runs
        if tensor.grad_fn is not None:
            tensor.grad_fn.retained.setdefault(tensor._output_nr, weakref.ref(tensor))
            retained.append(tensor)
    run = _Run(bool(retain_graph), inputs, capture=True)
    with _grad_mode(False):
        run.run(_roots(outputs, grad_outputs))
    result = []
    for index, tensor in enumerate(inputs):
        array = run.captured.get(id(tensor))
        if array is None and not (allow_unused or materialize_grads):
            raise RuntimeError(
                f"The differentiated Tensor at index {index} appears to not have been used in "
                "the graph. Set allow_unused=True if this is the desired behavior."
            )
        if array is None and materialize_grads:
            array = tensor._xp().zeros(tensor.shape, dtype=tensor.dtype)
        result.append(None if array is None else _wrap(array))
    return tuple(result)


def _check_create_graph(create_graph: bool) -> None:
    if create_graph:
        raise NotImplementedError(
            "create_graph=True: paramtool's gradients are not differentiable (no double backward)"
        )


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
from paramtool.core.autograd_function import Function, FunctionCtx  # noqa: E402, F401 - built on the engine
