"""The backward pass: from the output's gradient, each recorded node runs once, after every
node that feeds it a gradient; gradients reaching a leaf accumulate into its ``.grad`` (or, for
``autograd.grad``, are returned instead). Part of :mod:`paramtool.core.autograd`, which
re-exports ``backward``, ``grad`` and ``accumulate_grad``.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from paramtool.core.autograd import _FREED, Node, _grad_mode, _wrap


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
