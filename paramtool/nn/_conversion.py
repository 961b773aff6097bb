"""Module methods that act in place on every tensor or submodule of the tree.

``apply``, the device and dtype conversions (``to``, ``cuda``, ``half``, ...), ``materialize``,
the training mode and the gradients. Each tensor is converted once, so tied parameters stay
tied, and a parameter keeps its identity (its storage is replaced, not the object).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from paramtool.core.dtypes import dtype_name, is_floating_point
from paramtool.core.tensor import Tensor
from paramtool.core.tensor_convert import parse_to_args

if TYPE_CHECKING:
    from paramtool.nn.module import Module

M = TypeVar("M", bound="Module")


class ConversionMethods:
    """``apply``, conversions, ``materialize``, ``train``/``eval`` and gradient resets."""

    def apply(self: M, fn: Callable[[Module], None]) -> M:
        """Call ``fn`` on every submodule (children first, recursively), then on self.

        Example:
            >>> model.apply(lambda m: init.zeros_(m.bias) if isinstance(m, nn.Linear) else None)
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply(self: M, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> M:
        """Convert every parameter and buffer with ``fn``, each tensor once (ties stay tied).

        A parameter keeps its identity (``param.data = fn(param)``); a buffer is replaced.
        """
        done: dict[int, tuple[Tensor, Tensor]] = {}  # id -> (original kept alive, converted)
        modules = list(self.modules()) if recurse else [self]
        for module in reversed(modules):
            for param in module._parameters.values():
                if param is not None and id(param) not in done:
                    done[id(param)] = (param, param)
                    param.data = fn(param)
            for name, buf in module._buffers.items():
                if buf is not None:
                    if id(buf) not in done:
                        done[id(buf)] = (buf, fn(buf))
                    module._buffers[name] = done[id(buf)][1]
        return self

    def to(self: M, *args: Any, **kwargs: Any) -> M:
        """Move and/or cast parameters and buffers in place: ``to(device)``, ``to(dtype)``,
        ``to(tensor)``, ``to(device, dtype)``. A dtype applies to floating-point tensors only.

        Raises:
            TypeError: the dtype is not a floating-point dtype.
        """
        device, dtype = parse_to_args(*args, **kwargs)
        if dtype is not None and not is_floating_point(dtype):
            raise TypeError(
                "nn.Module.to only accepts floating point or complex dtypes, "
                f"but got desired dtype=paramtool.{dtype_name(dtype)}"
            )
        return self._apply(
            lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None)
        )

    def cpu(self: M) -> M:
        """Move every parameter and buffer to the cpu."""
        return self._apply(lambda t: t.cpu())

    def cuda(self: M, device: int | str | None = None) -> M:
        """Move every parameter and buffer to a CUDA device (default the current one)."""
        return self._apply(lambda t: t.cuda(device))

    def type(self: M, dst_type: Any) -> M:
        """Cast every parameter and buffer, integer ones included, to ``dst_type``.

        Args:
            dst_type: A dtype, or a legacy type name (``"paramtool.DoubleTensor"``).
        """
        return self._apply(lambda t: t.type(dst_type))

    def _cast_floating(self: M, dtype: str) -> M:
        return self._apply(lambda t: t.to(dtype=dtype) if t.is_floating_point() else t)

    def float(self: M) -> M:
        """Cast floating-point parameters and buffers to float32."""
        return self._cast_floating("float32")

    def double(self: M) -> M:
        """Cast floating-point parameters and buffers to float64."""
        return self._cast_floating("float64")

    def half(self: M) -> M:
        """Cast floating-point parameters and buffers to float16."""
        return self._cast_floating("float16")

    def bfloat16(self: M) -> M:
        """Cast floating-point parameters and buffers to bfloat16."""
        return self._cast_floating("bfloat16")

    def materialize(self: M, seed: int | None = None, prefix: str = "") -> M:
        """Make every deferred parameter and buffer real, in place.

        Each tensor's values come from the stream of its canonical name (its first name in
        :meth:`named_parameters` / :meth:`named_buffers`) and ``seed``, so they do not depend
        on which tensors are materialised or in what order. A tied tensor is materialised once.

        Args:
            seed: The seed; default the global one (``paramtool.manual_seed``).
            prefix: This module's name inside the model, so that a submodule gets the values it
                has in the whole model: ``model.layers[3].materialize(seed, "layers.3")``.
        """
        for name, tensor in (
            *self.named_parameters(prefix=prefix),
            *self.named_buffers(prefix=prefix),
        ):
            tensor.materialize(name=name, seed=seed)
        return self

    # -- modes and gradients -----------------------------------------------------------------

    def train(self: M, mode: bool = True) -> M:
        """Set training mode on this module and every submodule.

        Raises:
            ValueError: ``mode`` is not a bool.
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self: M) -> M:
        """Set evaluation mode (``train(False)``)."""
        return self.train(False)

    def requires_grad_(self: M, requires_grad: bool = True) -> M:
        """Set ``requires_grad`` on every parameter (freeze with ``False``)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to None, or to zeros)."""
        for param in self.parameters():
            if param.grad is not None:
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.zero_()
