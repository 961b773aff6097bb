"""``torch.nn.utils.rnn``: packed variable-length sequences for the recurrent layers.

A :class:`PackedSequence` holds a batch of sequences of different lengths without padding:
``data`` stacks, time step by time step, the entries still running at that step (longest
first), and ``batch_sizes[t]`` says how many there are. ``sorted_indices`` is the batch order
by decreasing length (None when the caller sorted it). Packing and unpacking move values only,
so gradients flow through both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from paramtool.core import factories
from paramtool.core.autograd import record

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]


class PackedSequence(NamedTuple):
    """A packed batch: ``(data, batch_sizes, sorted_indices, unsorted_indices)``."""

    data: Any
    batch_sizes: Any
    sorted_indices: Any = None
    unsorted_indices: Any = None

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` converted (``Tensor.to``); the index tensors stay."""
        return self._replace(data=self.data.to(*args, **kwargs))

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` is on a CUDA device."""
        return self.data.is_cuda


def invert_permutation(permutation: Any) -> Any:
    """The permutation that undoes ``permutation`` (None stays None)."""
    if permutation is None:
        return None
    order = np.asarray(permutation.numpy() if hasattr(permutation, "numpy") else permutation)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return factories.tensor(inverse.astype(np.int64))


def reorder(tensor: Any, order: Any, axis: int) -> Any:
    """``tensor`` with ``axis`` permuted by ``order`` (differentiable)."""
    order = _lengths_array(order)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)

    def backward(grad: Any) -> tuple[Any]:
        return (grad.take(_like(grad, inverse), axis=axis),)

    array = tensor._array()
    return record(array.take(_like(array, order), axis=axis), [tensor], backward,
                  name="IndexSelectBackward0")  # fmt: skip


def _like(array: Any, values: np.ndarray) -> Any:
    """``values`` on ``array``'s device."""
    from paramtool.core.device import device_of  # noqa: PLC0415

    return device_of(array).xp.asarray(values)


def _positions(batch_sizes: np.ndarray, batch: int) -> np.ndarray:
    """Flat ``t * batch + b`` positions, in packed order, of the entries each step holds."""
    return np.concatenate([t * batch + np.arange(n) for t, n in enumerate(batch_sizes)])


def _lengths_array(lengths: Any) -> np.ndarray:
    values = lengths.numpy() if hasattr(lengths, "numpy") else lengths
    return np.asarray(values, dtype=np.int64).reshape(-1)


def pack_padded_sequence(input: Any, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:  # noqa: A002  # fmt: skip
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) of sequences of
    ``lengths``.

    Raises:
        RuntimeError: ``enforce_sorted`` and the lengths are not decreasing, or a length is not
            in ``1..T`` (PyTorch's messages).
    """
    lengths = _lengths_array(lengths)
    sorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability."
            )
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = factories.tensor(order.astype(np.int64))
        input = reorder(input, order, 0 if batch_first else 1)
        lengths = lengths[order]
    if batch_first:
        input = input.transpose(0, 1)
    steps, batch = input.shape[0], input.shape[1]
    if lengths.size and (lengths.min() <= 0 or lengths.max() > steps):
        raise RuntimeError(
            "Length of all samples has to be between 1 and the sequence length "
            f"{steps}, but got lengths {lengths.tolist()}"
        )
    batch_sizes = np.array([(lengths > t).sum() for t in range(int(lengths.max(initial=0)))])
    positions = _positions(batch_sizes, batch)
    rest = tuple(input.shape[2:])

    def backward(grad: Any) -> tuple[Any]:
        full = _zeros_like_rows(grad, steps * batch)
        full[_like(grad, positions)] = grad
        return (full.reshape(steps, batch, *rest),)

    padded = input._array()
    data = record(padded.reshape(steps * batch, *rest)[_like(padded, positions)], [input],
                  backward, name="PackPaddedSequenceBackward0")  # fmt: skip
    return PackedSequence(data, factories.tensor(batch_sizes.astype(np.int64)), sorted_indices,
                          invert_permutation(sorted_indices))  # fmt: skip


def _zeros_like_rows(array: Any, rows: int, fill: float = 0.0) -> Any:
    from paramtool.core.device import device_of  # noqa: PLC0415

    xp = device_of(array).xp
    return xp.full((rows, *array.shape[1:]), fill, dtype=array.dtype)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Any, Any]:  # fmt: skip
    """Unpack to ``(padded, lengths)``: ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``), in
    the batch's original order, and the lengths as an int64 tensor.

    Raises:
        ValueError: ``total_length`` is shorter than the longest sequence.
    """
    batch_sizes = _lengths_array(sequence.batch_sizes)
    steps, batch = len(batch_sizes), int(batch_sizes[0]) if len(batch_sizes) else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being "
                f"{steps}"
            )
        steps = total_length
    positions = _positions(batch_sizes, batch)
    data = sequence.data
    rest = tuple(data.shape[1:])

    def backward(grad: Any) -> tuple[Any]:
        return (grad.reshape(steps * batch, *rest)[_like(grad, positions)],)

    full = _zeros_like_rows(data._array(), steps * batch, padding_value)
    full[_like(full, positions)] = data._array()
    padded = record(full.reshape(steps, batch, *rest), [data], backward,
                    name="PadPackedSequenceBackward0")  # fmt: skip
    lengths = np.array([(batch_sizes > b).sum() for b in range(batch)], dtype=np.int64)
    if sequence.unsorted_indices is not None:
        order = _lengths_array(sequence.unsorted_indices)
        padded = reorder(padded, order, 1)
        lengths = lengths[order]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, factories.tensor(lengths)


def pad_sequence(sequences: Sequence[Any], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Any:  # fmt: skip
    """Stack sequences ``(L_i, *)`` into ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``),
    padding each to the longest with ``padding_value`` (on the right, or the left)."""
    if padding_side not in ("left", "right"):
        raise ValueError(
            f"Expected padding_side to be one of left or right, but got {padding_side}."
        )
    steps = max(int(s.shape[0]) for s in sequences)
    arrays = [s._array() for s in sequences]
    rest = tuple(arrays[0].shape[1:])
    out = _zeros_like_rows(arrays[0], steps * len(arrays), padding_value)
    out = out.reshape(len(arrays), steps, *rest)
    spans = []
    for b, array in enumerate(arrays):
        n = array.shape[0]
        start = 0 if padding_side == "right" else steps - n
        out[b, start : start + n] = array
        spans.append((start, n))

    def backward(grad: Any) -> list[Any]:
        grad = grad if batch_first else grad.swapaxes(0, 1)
        return [grad[b, start : start + n] for b, (start, n) in enumerate(spans)]

    out = out if batch_first else out.swapaxes(0, 1)
    return record(out, list(sequences), backward, name="PadSequenceBackward0")


def pack_sequence(sequences: Sequence[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences ``(L_i, *)`` (``pad_sequence`` then ``pack_padded_sequence``)."""
    lengths = [int(s.shape[0]) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Any, lengths: Any, batch_first: bool = False) -> list[Any]:
    """The sequences of a padded batch, each cut to its length."""
    padded = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [padded[b, :n] for b, n in enumerate(_lengths_array(lengths).tolist())]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Any]:
    """The sequences of a packed batch, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
