"""Parameter: a Tensor that a Module registers when it is assigned as an attribute."""

from __future__ import annotations

from typing import Any

from paramtool.core.tensor import Tensor, _init
from paramtool.core.tensor_convert import _format


class Parameter(Tensor):
    """A tensor that is a module parameter (``torch.nn.Parameter``).

    Args:
        data: The tensor to wrap; the parameter shares its storage. Default: an empty tensor.
        requires_grad: Whether the parameter is trainable. A frozen parameter
            (``requires_grad=False``) is still registered, moved with the model and saved.

    Example:
        >>> w = Parameter(paramtool.randn(3, 4))   # deferred: no memory yet
        >>> w.requires_grad
        True
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        if data is None:
            data = Tensor()
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
        _init(self, data._cell, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + _format(self, "tensor(")

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        import copy  # noqa: PLC0415

        result = Parameter(Tensor._from_cell(copy.deepcopy(self._cell, memo)), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (self.detach(), self.requires_grad))


def _rebuild_parameter(data: Tensor, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)


class Buffer(Tensor):
    """A tensor marked as a buffer (``torch.nn.Buffer``): assigning it registers a buffer.

    Args:
        data: The tensor to wrap.
        persistent: Whether the buffer is part of the module's state_dict.
    """

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        data = Tensor() if data is None else data
        _init(self, data._cell, False)
        self.persistent = persistent
