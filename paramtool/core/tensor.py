"""Tensor: shape, dtype, device, and either an array or a recipe (deferred).

A tensor's state lives in a small storage cell that ``.data``, ``.detach()`` and a Parameter made
from the tensor share, so ``p.data *= mask`` edits ``p``. A deferred cell holds a
:class:`~paramtool.core.recipes.Recipe`; it becomes real (an array on its device) the first time
something needs its values. Elementwise arithmetic, reductions and indexing live in
``paramtool.core.tensor_ops``; ``requires_grad``, ``backward`` and hooks in
``paramtool.core.tensor_grad``; ``numpy()``, ``to()`` and the printed form in
``paramtool.core.tensor_convert``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core import random as _random
from paramtool.core.device import (
    Device,
    as_device,
    check_dtype,
    device_of,
)
from paramtool.core.dtypes import as_dtype, dtype_name, is_floating_point
from paramtool.core.recipes import Constant, Recipe
from paramtool.core.tensor_convert import TensorConvert
from paramtool.core.tensor_grad import _GRAD_DTYPE_NEW, TensorGrad, _check_requires_grad
from paramtool.core.tensor_ops import TensorOps
from paramtool.errors import OutOfMemory


class Size(tuple):
    """A tensor's shape: a tuple of ints printed as ``paramtool.Size([3, 4])``."""

    def __repr__(self) -> str:
        return f"paramtool.Size({list(self)})"

    def numel(self) -> int:
        """Number of elements a tensor of this shape holds."""
        return int(np.prod(self, dtype=np.int64)) if self else 1


class _Cell:
    """The storage behind one or more tensors: an array, or a recipe and its metadata."""

    __slots__ = ("array", "recipe", "shape", "dtype", "device", "stream")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, device: Device) -> None:
        self.array: Any = None
        self.recipe: Recipe | None = None
        self.shape = Size(shape)
        self.dtype = dtype
        self.device = device
        self.stream: _random.Stream | None = None

    @classmethod
    def of_array(cls, array: Any) -> _Cell:
        cell = cls(tuple(int(n) for n in array.shape), np.dtype(array.dtype), device_of(array))
        cell.array = array
        return cell

    def compute(self, name: str | None, seed: int | None) -> Any:
        """The cell's values: its array, or a fresh array produced from its recipe."""
        if self.array is not None:
            return self.array
        if name is not None:
            stream = _random.named_stream(name, seed)
        elif self.stream is None and not self.recipe.random:  # type: ignore[union-attr]
            stream = None  # a constant: no key taken from the counter of unnamed tensors
        else:
            stream = self.stream or _random.next_stream()
            if seed is not None:
                stream = _random.Stream(_random.as_seed(seed), stream.key)
        try:
            out = self.empty()
        except MemoryError as exc:
            nbytes = int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize
            what = f"{name!r} " if name is not None else ""
            message = f"tensor {what}of shape {list(self.shape)} ({dtype_name(self.dtype)}, {nbytes:,} bytes) does not fit in memory"  # fmt: skip
            raise OutOfMemory(message) from exc
        self.recipe.fill(out, stream)  # type: ignore[union-attr]
        return out

    def empty(self) -> Any:
        """A new, uninitialised array of the cell's shape and dtype, on its device."""
        xp = self.device.xp
        with self.device.use():
            return xp.empty(self.shape, dtype=self.dtype)

    def writable(self) -> Any:
        """The cell's array, copied first if it is a read-only view (e.g. of a mapped file)."""
        if isinstance(self.array, np.ndarray) and not self.array.flags.writeable:
            self.array = self.array.copy()
        return self.array


class Tensor(TensorGrad, TensorConvert, TensorOps):
    """A multi-dimensional array that may be deferred (a recipe, no memory) or real.

    Build tensors with the factories (``paramtool.zeros``, ``paramtool.randn``, ...),
    ``paramtool.tensor(data)`` or ``paramtool.from_numpy(array)``.
    """

    _cell: _Cell
    _requires_grad: bool
    grad: Tensor | None
    grad_fn: Any
    # numpy scalars and arrays defer their operators to ours (``np.float64(2) * t`` is a Tensor
    # with PyTorch's promotion, not a float64 ndarray), as they do for torch.Tensor
    __array_priority__ = 1000

    def __init__(self, *data: Any, requires_grad: bool = False) -> None:
        """``Tensor(data)`` wraps data; ``Tensor(*sizes)`` (ints, or one ``Size``), as in
        PyTorch's legacy constructor, is an uninitialised float32 tensor of that shape (deferred,
        zeros when made real), so ``Parameter(torch.Tensor(out, in))`` builds as in PyTorch."""
        if _are_sizes(data):
            shape = tuple(data[0]) if isinstance(data[0], Size) else data
            empty = Tensor._deferred(tuple(int(n) for n in shape), Constant(0))
            _init(self, empty._cell, requires_grad)
            return
        if len(data) > 1:
            raise TypeError(f"Tensor() takes data or sizes, got {len(data)} arguments")
        value = data[0] if data else None
        array = np.asarray([] if value is None else value)
        if array.dtype == np.float64 and not _holds_float64(value):
            array = array.astype(np.float32)
        _init(self, _Cell.of_array(array), requires_grad)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def _from_cell(cls, cell: _Cell, requires_grad: bool = False) -> Tensor:
        tensor = cls.__new__(cls)
        _init(tensor, cell, requires_grad)
        return tensor

    @classmethod
    def _deferred(
        cls,
        shape: tuple[int, ...],
        recipe: Recipe,
        dtype: object = None,
        device: object = None,
        requires_grad: bool = False,
        generator: _random.Generator | None = None,
    ) -> Tensor:
        cell = _Cell(tuple(int(n) for n in shape), as_dtype(dtype or np.float32), as_device(device))
        for n in cell.shape:
            if n < 0:
                raise RuntimeError(
                    f"Trying to create tensor with negative dimension {n}: {list(shape)}"
                )
        if cell.device.type != "cpu":
            check_dtype(cell.device, cell.dtype)  # a clear error now, not when it is made real
        tensor = cls._from_cell(cell, requires_grad)
        tensor._set_recipe(recipe, generator)
        return tensor

    # -- metadata ----------------------------------------------------------------------------

    @property
    def shape(self) -> Size:
        """The tensor's shape."""
        return self._cell.shape

    def size(self, dim: int | None = None) -> Size | int:
        """The shape, or the length of one dimension."""
        return self.shape if dim is None else self.shape[dim]

    @property
    def dtype(self) -> np.dtype:
        """The element type (a numpy dtype)."""
        return self._cell.dtype

    @property
    def device(self) -> Device:
        """Where the values live (or will live)."""
        return self._cell.device

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def dim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def numel(self) -> int:
        """Number of elements."""
        return self.shape.numel()

    nelement = numel

    def element_size(self) -> int:
        """Bytes per element."""
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes the values take (or will take)."""
        return self.numel() * self.dtype.itemsize

    def is_floating_point(self) -> bool:
        """True for floating-point dtypes (float64 ... float8)."""
        return is_floating_point(self.dtype)

    @property
    def is_cuda(self) -> bool:
        """True when the tensor lives on a CUDA device."""
        return self.device.type == "cuda"

    @property
    def is_deferred(self) -> bool:
        """True while the tensor is a recipe and holds no memory."""
        return self._cell.array is None

    @property
    def recipe(self) -> Recipe | None:
        """The recipe of a deferred tensor (None once real)."""
        return self._cell.recipe

    # -- storage -----------------------------------------------------------------------------

    @property
    def data(self) -> Tensor:
        """A tensor sharing this one's storage, detached from autograd."""
        return Tensor._from_cell(self._cell)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if self.requires_grad and not value.is_floating_point():
            raise RuntimeError(
                "data set to a tensor that requires gradients must be floating point or complex "
                "dtype"
            )
        self._cell = value._cell

    def detach(self) -> Tensor:
        """A tensor sharing this one's storage, with ``requires_grad=False``."""
        return Tensor._from_cell(self._cell)

    def _clone_deferred(self) -> Tensor:
        """A copy with its own storage (a deferred tensor stays deferred, same values)."""
        cell = _Cell(self.shape, self.dtype, self.device)
        if self.is_deferred:
            cell.recipe, cell.stream = self._cell.recipe, self._cell.stream
        else:
            cell.array = self._cell.array.copy()
        return Tensor._from_cell(cell, self.requires_grad)

    def shares_storage(self, other: Tensor) -> bool:
        """True when both tensors are views of one storage cell or overlapping arrays."""
        if self._cell is other._cell:
            return True
        a, b = self._cell.array, other._cell.array
        if a is None or b is None or device_of(a) != device_of(b):
            return False
        return bool(device_of(a).xp.shares_memory(a, b))

    def data_ptr(self) -> int:
        """Address of the first element (0 while deferred)."""
        array = self._cell.array
        if array is None:
            return 0
        if isinstance(array, np.ndarray):
            return int(array.__array_interface__["data"][0])
        return int(array.data.ptr)

    def _set_recipe(self, recipe: Recipe, generator: _random.Generator | None = None) -> Tensor:
        """Give the tensor new values: record the recipe if deferred, else fill it now."""
        cell = self._cell
        stream = _random.next_stream(generator) if recipe.random else None
        if cell.array is None:
            cell.recipe, cell.stream = recipe, stream
        elif cell.array.size:
            recipe.fill(cell.writable(), stream)  # type: ignore[arg-type]
        return self

    def materialize(self, name: str | None = None, seed: int | None = None) -> Tensor:
        """Make the tensor real in place; a name keys its random values. Returns self.

        Args:
            name: The parameter name whose stream the values come from (see
                ``paramtool.core.random``). Without one, the tensor's own creation stream is used.
            seed: The seed; default the global seed (``paramtool.manual_seed``).
        """
        cell = self._cell
        if cell.array is None:
            cell.array = cell.compute(name, seed)
            cell.recipe = cell.stream = None
        return self

    def compute(self, name: str | None = None, seed: int | None = None) -> Any:
        """The values as an array, without keeping them when the tensor is deferred."""
        return self._cell.compute(name, seed)

    def _array(self) -> Any:
        """The backing array, materialising the tensor first."""
        return self.materialize()._cell.array

    def __hash__(self) -> int:
        return id(self)


def _init(tensor: Tensor, cell: _Cell, requires_grad: bool) -> None:
    tensor._cell = cell
    _check_requires_grad(tensor, requires_grad, _GRAD_DTYPE_NEW)
    tensor._requires_grad = bool(requires_grad)
    tensor.grad = None
    tensor.grad_fn = None
    tensor._output_nr = 0
    tensor._retains_grad = False
    tensor._hooks = None


def _are_sizes(data: tuple[Any, ...]) -> bool:
    """True for ``(2, 3)`` or ``(Size([2, 3]),)`` as constructor arguments, False for data."""
    if len(data) == 1 and isinstance(data[0], Size):
        return True
    return bool(data) and all(
        isinstance(n, int | np.integer) and not isinstance(n, bool | np.bool_) for n in data
    )


def _holds_float64(data: Any) -> bool:
    return isinstance(data, np.ndarray | np.generic) and data.dtype == np.float64


def from_array(array: Any, requires_grad: bool = False) -> Tensor:
    """Wrap an existing numpy or cupy array as a Tensor, without copying."""
    if isinstance(array, np.generic):
        array = np.asarray(array)
    return Tensor._from_cell(_Cell.of_array(array), requires_grad)
