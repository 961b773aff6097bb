"""Shape operations with gradients: views and reshapes, transposes, expand/repeat, ``narrow``,
``tril``/``triu``, diagonals, ``flip``, ``roll`` and complex views. Joining and splitting
(``cat``, ``stack``, ``split``, ``chunk``, ``unbind``) are in ``ops_join``."""

from __future__ import annotations

from typing import Any

import numpy as np

from paramtool.core.ops_common import arr, constant, record, xp_of

__all__ = [
    "expand", "expand_as", "flatten", "flip", "movedim", "moveaxis", "narrow", "permute", "polar",
    "complex", "repeat", "repeat_interleave", "reshape", "roll", "squeeze", "swapaxes", "swapdims",
    "t", "tile", "transpose", "tril", "triu", "unflatten", "unsqueeze", "view", "view_as_complex",
    "view_as_real", "broadcast_to", "contiguous", "real", "imag", "atleast_1d", "atleast_2d",
    "diag", "diagonal", "triu_indices", "tril_indices", "ravel",
]  # fmt: skip


def _sizes(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and not isinstance(shape[0], int | np.integer):
        return tuple(int(n) for n in shape[0])
    return tuple(int(n) for n in shape)


def check_shape(shape: tuple[int, ...], size: int) -> None:
    """PyTorch's errors for a ``view``/``reshape`` target that cannot hold ``size`` elements."""
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for n in shape:
        if n < -1:
            raise RuntimeError(f"invalid shape dimension {n}")
    known = int(np.prod([n for n in shape if n != -1], dtype=np.int64))
    fits = size % known == 0 if -1 in shape and known else known == size
    if not fits:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {size}")


def _reshaped(input: Any, out: Any, name: str) -> Any:  # noqa: A002
    shape = arr(input).shape
    return record(out, (input,), lambda g: (g.reshape(shape),), name=name)


def view(input: Any, *shape: Any) -> Any:  # noqa: A002
    """The same values with another shape, sharing memory (raises when that needs a copy)."""
    a = arr(input)
    if len(shape) == 1 and not isinstance(shape[0], int | np.integer | tuple | list):
        from paramtool.core.dtypes import as_dtype  # noqa: PLC0415

        return constant(a.view(as_dtype(shape[0])))
    dims = _sizes(shape)
    check_shape(dims, a.size)
    out = a.view()
    try:
        out.shape = dims  # raises instead of copying when not viewable
    except AttributeError as exc:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from exc
    return _reshaped(input, out, "ViewBackward0")


def reshape(input: Any, *shape: Any) -> Any:  # noqa: A002
    """The same values with another shape (a view when possible, else a copy)."""
    a = arr(input)
    dims = _sizes(shape)
    check_shape(dims, a.size)
    return _reshaped(input, a.reshape(dims), "ViewBackward0")


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Any:  # noqa: A002
    """Merge dimensions ``start_dim..end_dim`` into one."""
    dims = list(arr(input).shape)
    if not dims:
        return reshape(input, 1)
    start, end = start_dim % len(dims), end_dim % len(dims)
    merged = int(np.prod(dims[start : end + 1], dtype=np.int64))
    return reshape(input, *dims[:start], merged, *dims[end + 1 :])


ravel = lambda input: reshape(input, -1)  # noqa: E731, A002


def unflatten(input: Any, dim: int, sizes: Any) -> Any:  # noqa: A002
    """Split dimension ``dim`` into ``sizes``."""
    dims = list(arr(input).shape)
    dim %= len(dims)
    return reshape(input, *dims[:dim], *sizes, *dims[dim + 1 :])


def squeeze(input: Any, dim: Any = None) -> Any:  # noqa: A002
    """Drop dimensions of size 1 (only ``dim`` when given)."""
    a = arr(input)
    if dim is None:
        out = a.squeeze()
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        axes = tuple(d % max(a.ndim, 1) for d in dims if a.ndim and a.shape[d] == 1)
        out = a.squeeze(axis=axes) if axes else a
    return _reshaped(input, out, "SqueezeBackward0" if dim is None else "SqueezeBackward1")


def unsqueeze(input: Any, dim: int) -> Any:  # noqa: A002
    """Insert a dimension of size 1 at ``dim``."""
    a = arr(input)
    return _reshaped(input, xp_of(input).expand_dims(a, dim), "UnsqueezeBackward0")


def contiguous(input: Any, memory_format: Any = None) -> Any:  # noqa: A002
    """The tensor itself when C-contiguous, else a C-contiguous copy."""
    a = arr(input)
    if a.flags.c_contiguous:
        return input
    return record(
        xp_of(input).ascontiguousarray(a), (input,), lambda g: (g,), name="CloneBackward0"
    )


def permute(input: Any, *dims: Any) -> Any:  # noqa: A002
    """Reorder the dimensions (a view)."""
    a = arr(input)
    order = tuple(int(d) % max(a.ndim, 1) for d in _sizes(dims))
    inverse = tuple(np.argsort(order))
    return record(a.transpose(order), (input,), lambda g: (g.transpose(inverse),),
                  name="PermuteBackward0")  # fmt: skip


def transpose(input: Any, dim0: int, dim1: int) -> Any:  # noqa: A002
    """Swap two dimensions (a view)."""
    a = arr(input)
    return record(a.swapaxes(dim0, dim1), (input,), lambda g: (g.swapaxes(dim0, dim1),),
                  name="TransposeBackward0")  # fmt: skip


swapaxes = swapdims = transpose


def t(input: Any) -> Any:  # noqa: A002
    """Transpose of a matrix (0-d and 1-d tensors unchanged)."""
    a = arr(input)
    if a.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {a.ndim}D")
    if a.ndim < 2:
        return input
    return record(a.T, (input,), lambda g: (g.T,), name="TBackward0")


def movedim(input: Any, source: Any, destination: Any) -> Any:  # noqa: A002
    """Move dimensions to new positions."""
    n = arr(input).ndim
    sources = [int(d) % n for d in ((source,) if isinstance(source, int) else source)]
    targets = [
        int(d) % n for d in ((destination,) if isinstance(destination, int) else destination)
    ]
    order = [d for d in range(n) if d not in sources]
    for target, src in sorted(zip(targets, sources, strict=True)):
        order.insert(target, src)
    return permute(input, order)


moveaxis = movedim


def expand(input: Any, *sizes: Any) -> Any:  # noqa: A002
    """Broadcast to a larger shape without copying (-1 keeps a dimension)."""
    a = arr(input)
    dims = list(_sizes(sizes))
    offset = len(dims) - a.ndim
    for i in range(a.ndim):
        if dims[offset + i] == -1:
            dims[offset + i] = a.shape[i]
    return broadcast_to(input, tuple(dims))


def broadcast_to(input: Any, size: Any) -> Any:  # noqa: A002
    """``input`` broadcast to ``size``."""
    from paramtool.core.autograd import unbroadcast  # noqa: PLC0415

    a = arr(input)
    shape = a.shape
    out = xp_of(input).broadcast_to(a, tuple(size))
    return record(out, (input,), lambda g: (unbroadcast(g, shape),), name="ExpandBackward0")


def expand_as(input: Any, other: Any) -> Any:  # noqa: A002
    """``expand`` to ``other``'s shape."""
    return broadcast_to(input, tuple(other.shape))


def repeat(input: Any, *sizes: Any) -> Any:  # noqa: A002
    """Tile the tensor ``sizes`` times along each dimension."""
    a = arr(input)
    reps = _sizes(sizes)
    if len(reps) < a.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of "
            "tensor"
        )
    shape = (1,) * (len(reps) - a.ndim) + a.shape
    out = xp_of(input).tile(a.reshape(shape), reps)

    def backward(g: Any) -> tuple[Any]:
        split = []
        for r, n in zip(reps, shape, strict=True):
            split += [r, n]
        return (g.reshape(split).sum(axis=tuple(range(0, len(split), 2))).reshape(a.shape),)

    return record(out, (input,), backward, name="RepeatBackward0")


def tile(input: Any, dims: Any) -> Any:  # noqa: A002
    """``repeat`` with ``dims`` padded by leading 1s to the tensor's rank (numpy's ``tile``)."""
    reps = _sizes((dims,)) if not isinstance(dims, int) else (int(dims),)
    ndim = arr(input).ndim
    return repeat(input, *((1,) * (ndim - len(reps)) + reps))


def repeat_interleave(input: Any, repeats: Any = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Any:  # noqa: A002 # fmt: skip
    """Repeat each element ``repeats`` times along ``dim`` (flattened when None)."""
    if repeats is None:  # repeat_interleave(repeats): indices repeated by counts
        counts = arr(input)
        xp = xp_of(input)
        return constant(xp.repeat(xp.arange(counts.shape[0]), counts))
    src = input if dim is not None else reshape(input, -1)
    axis = 0 if dim is None else dim % arr(src).ndim
    a = arr(src)
    reps = arr(repeats)
    xp = xp_of(input)
    out = xp.repeat(a, reps, axis=axis)

    def backward(g: Any) -> tuple[Any, ...]:
        # the sum of each run of repeats: differences of the running sum (from 0) at run ends
        ends = xp.cumsum(xp.broadcast_to(xp.asarray(reps), (a.shape[axis],)))
        running = xp.cumsum(g, axis=axis)
        zero = xp.zeros_like(xp.take(running, xp.asarray([0]), axis=axis))
        running = xp.concatenate([zero, running], axis=axis)
        bounds = xp.concatenate([xp.zeros(1, dtype=ends.dtype), ends])
        return (xp.diff(xp.take(running, bounds, axis=axis), axis=axis), None)

    return record(out, (src, repeats), backward, name="RepeatInterleaveBackward0")


def unfold(input: Any, dimension: int, size: int, step: int) -> Any:  # noqa: A002
    """Every window of ``size`` elements along ``dimension``, ``step`` apart, as a new last
    dimension (``Tensor.unfold``; a copy here, a view in PyTorch)."""
    a = arr(input)
    xp = xp_of(input)
    dim = dimension % max(a.ndim, 1)
    length = a.shape[dim] if a.ndim else 1
    if size > length:
        raise RuntimeError(
            f"maximum size for tensor at dimension {dim} is {length} but size is {size}"
        )
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    count = (length - size) // step + 1
    starts = xp.arange(count) * step
    windows = starts[:, None] + xp.arange(size)[None, :]  # (count, size) positions
    out = xp.moveaxis(xp.take(a, windows, axis=dim), dim + 1, -1)

    def backward(g: Any) -> tuple[Any]:
        full = xp.zeros(a.shape, dtype=g.dtype)
        moved = xp.moveaxis(g, -1, dim + 1)  # back to (..., count, size, ...)
        index = (slice(None),) * dim + (windows,)
        xp.add.at(full, index, moved)
        return (full,)

    return record(out, (input,), backward, name="UnfoldBackward0")


def narrow(input: Any, dim: int, start: int, length: int) -> Any:  # noqa: A002
    """The slice ``start:start+length`` along ``dim`` (a view)."""
    a = arr(input)
    index = [slice(None)] * a.ndim
    index[dim] = slice(int(start), int(start) + int(length))
    from paramtool.core.ops_index import getitem  # noqa: PLC0415

    return getitem(input, tuple(index))


def _triangle(name: str, upper: bool) -> Any:
    def op(input: Any, diagonal: int = 0) -> Any:  # noqa: A002
        a = arr(input)
        xp = xp_of(input)
        fn = xp.triu if upper else xp.tril
        return record(fn(a, diagonal), (input,), lambda g: (fn(g, diagonal),), name=name)

    return op


tril = _triangle("TrilBackward0", False)
tril.__name__, tril.__doc__ = "tril", "Lower triangle of the last two dimensions (others zero)."
triu = _triangle("TriuBackward0", True)
triu.__name__, triu.__doc__ = "triu", "Upper triangle of the last two dimensions (others zero)."


def tril_indices(
    row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None
) -> Any:
    """Indices (2, N) of the lower triangle of a ``row x col`` matrix."""
    return _on(np.stack(np.tril_indices(row, offset, col)).astype(np.int64), device)


def triu_indices(
    row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None
) -> Any:
    """Indices (2, N) of the upper triangle of a ``row x col`` matrix."""
    return _on(np.stack(np.triu_indices(row, offset, col)).astype(np.int64), device)


def _on(array: np.ndarray, device: Any) -> Any:
    result = constant(array)
    return result if device is None else result.to(device)


def diagonal(input: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:  # noqa: A002
    """The diagonal of the ``dim1``/``dim2`` planes (moved last)."""
    a = arr(input)
    xp = xp_of(input)
    out = xp.diagonal(a, offset, dim1, dim2)

    def backward(g: Any) -> tuple[Any]:
        full = xp.zeros(a.shape, dtype=g.dtype)
        idx = xp.arange(out.shape[-1])
        rows, cols = (idx, idx + offset) if offset >= 0 else (idx - offset, idx)
        moved = xp.moveaxis(full, (dim1, dim2), (-2, -1))
        moved[..., rows, cols] = g
        return (full,)

    return record(out, (input,), backward, name="DiagonalBackward0")


def diag(input: Any, diagonal: int = 0) -> Any:  # noqa: A002
    """A 1-d tensor's diagonal matrix, or a matrix's diagonal."""
    a = arr(input)
    if a.ndim == 2:
        return globals()["diagonal"](input, diagonal)
    xp = xp_of(input)
    k = diagonal
    out = xp.diag(a, k)
    return record(out, (input,), lambda g: (xp.diagonal(g, k).copy(),), name="DiagEmbedBackward0")


def flip(input: Any, dims: Any) -> Any:  # noqa: A002
    """Reverse the order along ``dims``."""
    axes = (dims,) if isinstance(dims, int) else tuple(dims)
    xp = xp_of(input)
    return record(xp.flip(arr(input), axes), (input,), lambda g: (xp.flip(g, axes),),
                  name="FlipBackward0")  # fmt: skip


def roll(input: Any, shifts: Any, dims: Any = None) -> Any:  # noqa: A002
    """Rotate elements along ``dims`` by ``shifts``."""
    xp = xp_of(input)
    neg = tuple(-s for s in shifts) if isinstance(shifts, tuple | list) else -shifts
    return record(xp.roll(arr(input), shifts, dims), (input,),
                  lambda g: (xp.roll(g, neg, dims),), name="RollBackward0")  # fmt: skip


def atleast_1d(input: Any) -> Any:  # noqa: A002
    """``input`` with at least one dimension."""
    return reshape(input, 1) if arr(input).ndim == 0 else input


def atleast_2d(input: Any) -> Any:  # noqa: A002
    """``input`` with at least two dimensions."""
    a = arr(input)
    return reshape(input, (1,) * (2 - a.ndim) + a.shape) if a.ndim < 2 else input


# -- complex views -----------------------------------------------------------------------------


def view_as_real(input: Any) -> Any:  # noqa: A002
    """A complex tensor as real pairs in a last dimension of size 2."""
    a = arr(input)
    if a.dtype.kind != "c":
        raise RuntimeError("view_as_real is only supported for complex tensors")
    xp = xp_of(input)
    out = xp.stack([a.real, a.imag], axis=-1)
    return record(
        out, (input,), lambda g: (g[..., 0] + 1j * g[..., 1],), name="ViewAsRealBackward0"
    )


def view_as_complex(input: Any) -> Any:  # noqa: A002
    """Real pairs (last dimension of size 2) as a complex tensor."""
    a = arr(input)
    if a.shape[-1:] != (2,):
        raise RuntimeError("Tensor must have a last dimension of size 2")
    ctype = np.complex64 if a.dtype == np.float32 else np.complex128
    out = (a[..., 0] + 1j * a[..., 1]).astype(ctype)
    xp = xp_of(input)
    return record(out, (input,), lambda g: (xp.stack([g.real, g.imag], axis=-1),),
                  name="ViewAsComplexBackward0")  # fmt: skip


def complex(real: Any, imag: Any) -> Any:  # noqa: A001
    """A complex tensor from real and imaginary parts."""
    re, im = arr(real), arr(imag)
    ctype = np.complex64 if re.dtype == np.float32 else np.complex128
    out = (re + 1j * im).astype(ctype)
    return record(out, (real, imag), lambda g: (g.real, g.imag), name="ComplexBackward0")


def polar(abs: Any, angle: Any) -> Any:  # noqa: A002
    """A complex tensor ``abs * (cos(angle) + i sin(angle))``."""
    r, theta = arr(abs), arr(angle)
    xp = xp_of(abs, angle)
    c, s = xp.cos(theta), xp.sin(theta)
    ctype = np.complex64 if r.dtype == np.float32 else np.complex128
    out = (r * c + 1j * (r * s)).astype(ctype)

    def backward(g: Any) -> tuple[Any, Any]:
        return (g.real * c + g.imag * s, r * (g.imag * c - g.real * s))

    return record(out, (abs, angle), backward, name="PolarBackward0")


def real(input: Any) -> Any:  # noqa: A002
    """The real part."""
    return record(arr(input).real, (input,), lambda g: (g + 0j,), name="RealBackward0")


def imag(input: Any) -> Any:  # noqa: A002
    """The imaginary part."""
    return record(arr(input).imag, (input,), lambda g: (1j * g,), name="ImagBackward0")
