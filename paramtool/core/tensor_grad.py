"""The autograd-facing part of :class:`paramtool.Tensor`: ``requires_grad`` (and PyTorch's
errors for setting it on a non-floating-point or computed tensor), ``is_leaf``, ``retain_grad``,
``backward``, ``register_hook`` and ``detach_``. The graph itself lives in
``paramtool.core.autograd``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paramtool.core import autograd as _autograd

if TYPE_CHECKING:
    from paramtool.core.tensor import Tensor


class TensorGrad:
    """Mixin with the autograd attributes and methods of :class:`paramtool.Tensor`."""

    _requires_grad: bool
    _retains_grad: bool
    grad_fn: Any

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor (only floating-point tensors can)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, requires_grad: bool) -> None:
        _check_requires_grad(self, requires_grad, _GRAD_DTYPE_ATTRIBUTE)
        _check_leaf(self, requires_grad)
        self._requires_grad = bool(requires_grad)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; returns self.

        Raises:
            RuntimeError: ``requires_grad`` is True and the dtype is not floating-point, or
                the tensor is computed (not a leaf) and ``requires_grad`` is False.
        """
        _check_requires_grad(self, requires_grad, _GRAD_DTYPE_METHOD)
        _check_leaf(self, requires_grad)
        self._requires_grad = bool(requires_grad)
        return self

    # -- autograd ----------------------------------------------------------------------------

    @property
    def is_leaf(self) -> bool:
        """True for tensors not computed by a recorded operation (their ``grad_fn`` is None)."""
        return self.grad_fn is None

    @property
    def retains_grad(self) -> bool:
        """Whether a computed tensor keeps its gradient in ``.grad`` (see ``retain_grad``)."""
        return self._retains_grad

    def retain_grad(self) -> None:
        """Keep this computed tensor's gradient in ``.grad`` after backward."""
        _autograd.retain_grad(self)

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:  # fmt: skip
        """Accumulate the gradient of this tensor into the ``.grad`` of the leaves it uses.

        Args:
            gradient: The gradient of this tensor; may be omitted for a one-element tensor.
            retain_graph: Keep the graph for another backward.
            create_graph: Not supported (raises NotImplementedError when True).
            inputs: Accumulate only into these tensors.
        """
        _autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def register_hook(self, hook: Any) -> _autograd.RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a
        replacement gradient."""
        return _autograd.register_hook(self, hook)

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place: it becomes a leaf that needs no grad."""
        self.grad_fn = None
        self._requires_grad = False
        return self


# PyTorch's wording differs by where requires_grad is set on a non-floating-point tensor.
_GRAD_DTYPE_NEW = "Only Tensors of floating point and complex dtype can require gradients"
_GRAD_DTYPE_ATTRIBUTE = "only Tensors of floating point and complex dtype can require gradients"
_GRAD_DTYPE_METHOD = "only Tensors of floating point dtype can require gradients"


def _check_requires_grad(tensor: Tensor, requires_grad: bool, message: str) -> None:
    if requires_grad and not tensor.is_floating_point():
        raise RuntimeError(message)


def _check_leaf(tensor: Tensor, requires_grad: bool) -> None:
    if tensor.grad_fn is not None and not requires_grad:
        raise RuntimeError(
            "you can only change requires_grad flags of leaf variables. If you want to use a "
            "computed variable in a subgraph that doesn't require differentiation use "
            "var_no_grad = var.detach()."
        )
