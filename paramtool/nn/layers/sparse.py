"""Embedding and EmbeddingBag (``torch.nn.modules.sparse``).

The weight starts as N(0, 1) with the ``padding_idx`` row zero. That zero row stays deferred:
the weight's recipe becomes :class:`ZeroRows` around the normal draw.
"""

from __future__ import annotations

from typing import Any

from paramtool.core.recipes import ZeroRows
from paramtool.nn import functional as F  # noqa: N812 - PyTorch's name
from paramtool.nn import init
from paramtool.nn.layers._utils import Layer, empty_parameter
from paramtool.nn.parameter import Parameter


def _check_padding_idx(padding_idx: int | None, num_embeddings: int, capital: bool) -> int | None:
    """``padding_idx`` made non-negative; PyTorch's AssertionError when out of range."""
    if padding_idx is None:
        return None
    message = f"{'P' if capital else 'p'}adding_idx must be within num_embeddings"
    if padding_idx >= num_embeddings or padding_idx < -num_embeddings:
        raise AssertionError(message)
    return padding_idx + num_embeddings if padding_idx < 0 else padding_idx


def _fill_padding_idx_with_zero(weight: Any, padding_idx: int | None) -> None:
    """Zero row ``padding_idx`` of ``weight``; a deferred weight stays deferred."""
    if padding_idx is None:
        return
    if weight.is_deferred:
        weight._set_recipe(ZeroRows(weight.recipe, (padding_idx,)))
    else:
        weight.data[padding_idx] = 0


def _table_shape(embeddings: Any) -> tuple[int, int]:
    """The (rows, columns) of a pretrained table; PyTorch's AssertionError unless 2-d."""
    if embeddings.dim() != 2:
        raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
    rows, cols = embeddings.shape
    return rows, cols


def _weight_parameter(
    weight: Any, num_embeddings: int, embedding_dim: int, requires_grad: bool
) -> Parameter:
    if list(weight.shape) != [num_embeddings, embedding_dim]:
        raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
    return Parameter(weight, requires_grad=requires_grad)


class _EmbeddingTable(Layer):
    """What Embedding and EmbeddingBag share: the ``weight`` table and its N(0, 1) init."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None,
        norm_type: float,
        scale_grad_by_freq: bool,
        padding_idx: int | None,
        _weight: Any,
        *,
        requires_grad: bool,
        capital: bool,
        device: Any,
        dtype: Any,
    ) -> None:
        """Check ``padding_idx``; register a fresh ``weight``, or ``_weight`` checked for shape.

        ``capital`` picks the spelling of the padding_idx error (Embedding's is capitalised).
        """
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.padding_idx = _check_padding_idx(padding_idx, num_embeddings, capital)
        if _weight is None:
            self.weight = empty_parameter(num_embeddings, embedding_dim, device=device, dtype=dtype)
            self.weight.requires_grad_(requires_grad)
            self.reset_parameters()
        else:
            self.weight = _weight_parameter(_weight, num_embeddings, embedding_dim, requires_grad)

    def reset_parameters(self) -> None:
        """Re-draw the weight from N(0, 1) and zero the padding row."""
        init.normal_(self.weight)
        _fill_padding_idx_with_zero(self.weight, self.padding_idx)


class Embedding(_EmbeddingTable):
    """A lookup table ``weight (num_embeddings, embedding_dim)``, initialised N(0, 1).

    Args:
        num_embeddings: Size of the dictionary.
        embedding_dim: Size of each embedding vector.
        padding_idx: A row that starts at zero (negative counts from the end).
        max_norm: Renormalise looked-up rows to at most this norm.
        norm_type: The p of the p-norm for ``max_norm``.
        scale_grad_by_freq: Scale gradients by inverse word frequency.
        sparse: Sparse gradients.
        device: Device of the weight.
        dtype: dtype of the weight (default float32).

    Raises:
        AssertionError: ``padding_idx`` out of range, or ``_weight`` of the wrong shape
            (PyTorch's behaviour and message).
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            num_embeddings, embedding_dim, max_norm, norm_type, scale_grad_by_freq, padding_idx,
            _weight, requires_grad=not _freeze, capital=True, device=device, dtype=dtype,
        )  # fmt: skip
        self.sparse = sparse

    def forward(self, input: Any) -> Any:
        """The rows of ``weight`` that ``input`` indexes."""
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (2-d), frozen unless ``freeze=False``.

        Raises:
            AssertionError: ``embeddings`` is not 2-dimensional.
        """
        rows, cols = _table_shape(embeddings)
        return cls(
            rows,
            cols,
            _weight=embeddings,
            _freeze=freeze,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
        )


class EmbeddingBag(_EmbeddingTable):
    """Sums, means or maxes of bags of embeddings; ``weight`` as in :class:`Embedding`."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Any = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            num_embeddings, embedding_dim, max_norm, norm_type, scale_grad_by_freq, padding_idx,
            _weight, requires_grad=True, capital=False, device=device, dtype=dtype,
        )  # fmt: skip
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset

    def forward(self, input: Any, offsets: Any = None, per_sample_weights: Any = None) -> Any:
        """The bags' sums, means or maxima (see ``nn.functional.embedding_bag``)."""
        return F.embedding_bag(
            input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
            self.mode, self.sparse, per_sample_weights, self.include_last_offset,
            self.padding_idx,
        )  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings!r}, {self.embedding_dim!r}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm!r}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type!r}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq!r}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx!r}"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
    ) -> EmbeddingBag:
        """An EmbeddingBag whose weight is ``embeddings`` (2-d), frozen unless ``freeze=False``.

        Raises:
            AssertionError: ``embeddings`` is not 2-dimensional.
        """
        rows, cols = _table_shape(embeddings)
        bag = cls(
            rows, cols, max_norm=max_norm, norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse, _weight=embeddings,
            include_last_offset=include_last_offset, padding_idx=padding_idx,
        )  # fmt: skip
        bag.weight.requires_grad = not freeze
        return bag
