"""Loss modules of ``torch.nn``: PyTorch's constructor signatures, buffers and reprs.

A loss holds no parameters; the weighted ones register their ``weight`` (and
``BCEWithLogitsLoss`` its ``pos_weight``) as buffers, so a class weight given to the
constructor is part of the state_dict as in PyTorch. ``forward`` calls the matching function
of ``paramtool.nn.functional``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paramtool.nn.layers._utils import Layer
from paramtool.nn.layers._utils import functional as _functional
from paramtool.nn.layers.distance import PairwiseDistance


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """The ``reduction`` string the deprecated ``size_average``/``reduce`` flags stand for."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


class _Loss(Layer):
    """Base of the losses: the ``reduction`` setting."""

    function = ""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__()
        self.reduction = legacy_reduction(size_average, reduce, reduction)

    def options(self) -> dict[str, Any]:
        """Keyword arguments of the functional form besides input and target."""
        return {"reduction": self.reduction}

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return getattr(_functional(), self.function)(input, target, **self.options())


class _WeightedLoss(_Loss):
    """A loss with an optional per-class ``weight`` buffer."""

    def __init__(self, weight: Any = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def options(self) -> dict[str, Any]:
        return {"weight": self.weight, **super().options()}


class L1Loss(_Loss):
    """Mean absolute error."""

    function = "l1_loss"


class MSELoss(_Loss):
    """Mean squared error."""

    function = "mse_loss"


class SoftMarginLoss(_Loss):
    """Two-class logistic loss."""

    function = "soft_margin_loss"


class MultiLabelMarginLoss(_Loss):
    """Multi-class multi-label hinge loss."""

    function = "multilabel_margin_loss"


class NLLLoss(_WeightedLoss):
    """Negative log likelihood of log-probabilities."""

    function = "nll_loss"

    def __init__(self, weight: Any = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def options(self) -> dict[str, Any]:
        return {**super().options(), "ignore_index": self.ignore_index}


class NLLLoss2d(NLLLoss):
    """The old 2-D name of :class:`NLLLoss`."""


class CrossEntropyLoss(NLLLoss):
    """Cross entropy of logits against class indices or probabilities."""

    function = "cross_entropy"

    def __init__(self, weight: Any = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:  # fmt: skip
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        self.label_smoothing = label_smoothing

    def options(self) -> dict[str, Any]:
        return {**super().options(), "label_smoothing": self.label_smoothing}


class BCELoss(_WeightedLoss):
    """Binary cross entropy of probabilities."""

    function = "binary_cross_entropy"


class BCEWithLogitsLoss(_Loss):
    """Binary cross entropy of logits, with optional ``weight`` and ``pos_weight`` buffers."""

    function = "binary_cross_entropy_with_logits"

    def __init__(self, weight: Any = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Any = None) -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def options(self) -> dict[str, Any]:
        return {"weight": self.weight, "pos_weight": self.pos_weight, **super().options()}


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Multi-label one-versus-all logistic loss."""

    function = "multilabel_soft_margin_loss"


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence of log-probabilities."""

    function = "kl_div"

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", log_target: bool = False) -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def options(self) -> dict[str, Any]:
        return {**super().options(), "log_target": self.log_target}


class SmoothL1Loss(_Loss):
    """L1 loss, quadratic below ``beta``."""

    function = "smooth_l1_loss"

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def options(self) -> dict[str, Any]:
        return {**super().options(), "beta": self.beta}


class HuberLoss(_Loss):
    """Squared error below ``delta``, absolute error above."""

    function = "huber_loss"

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def options(self) -> dict[str, Any]:
        return {**super().options(), "delta": self.delta}


class PoissonNLLLoss(_Loss):
    """Negative log likelihood of a Poisson target."""

    function = "poisson_nll_loss"

    def __init__(self, log_input: bool = True, full: bool = False,
                 size_average: bool | None = None, eps: float = 1e-8,
                 reduce: bool | None = None, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def options(self) -> dict[str, Any]:
        return {"log_input": self.log_input, "full": self.full, "eps": self.eps,
                **super().options()}  # fmt: skip


class GaussianNLLLoss(_Loss):
    """Negative log likelihood of a Gaussian target; ``forward(input, target, var)``."""

    function = "gaussian_nll_loss"

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Any, target: Any, var: Any) -> Any:  # noqa: A002
        return _functional().gaussian_nll_loss(
            input, target, var, full=self.full, eps=self.eps, reduction=self.reduction
        )


class _MarginLoss(_Loss):
    """A loss with a ``margin`` setting."""

    default_margin = 0.0

    def __init__(self, margin: float | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.margin = self.default_margin if margin is None else margin

    def options(self) -> dict[str, Any]:
        return {"margin": self.margin, **super().options()}


class HingeEmbeddingLoss(_MarginLoss):
    """Hinge loss of distances against +1/-1 labels."""

    function = "hinge_embedding_loss"
    default_margin = 1.0


class CosineEmbeddingLoss(_MarginLoss):
    """Cosine similarity loss of pairs against +1/-1 labels; ``forward(x1, x2, y)``."""

    function = "cosine_embedding_loss"

    def forward(self, input1: Any, input2: Any, target: Any) -> Any:
        return _functional().cosine_embedding_loss(input1, input2, target, **self.options())


class MarginRankingLoss(_MarginLoss):
    """Ranking loss of pairs against +1/-1 labels; ``forward(x1, x2, y)``."""

    function = "margin_ranking_loss"

    def forward(self, input1: Any, input2: Any, target: Any) -> Any:
        return _functional().margin_ranking_loss(input1, input2, target, **self.options())


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss."""

    function = "multi_margin_loss"

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None,
                 size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.dim() != 1:
            raise ValueError(
                f"MultiMarginLoss: expected weight to be None or 1D tensor, got {weight.dim()}D "
                "instead"
            )
        self.p, self.margin = p, margin

    def options(self) -> dict[str, Any]:
        return {"p": self.p, "margin": self.margin, **super().options()}


class TripletMarginLoss(_Loss):
    """Triplet loss of (anchor, positive, negative) with the p-norm distance."""

    function = "triplet_margin_loss"

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(
                f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead"
            )
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Any:
        return _functional().triplet_margin_loss(
            anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
            swap=self.swap, reduction=self.reduction,
        )  # fmt: skip


class TripletMarginWithDistanceLoss(_Loss):
    """Triplet loss with a given distance function (default :class:`PairwiseDistance`)."""

    function = "triplet_margin_with_distance_loss"

    def __init__(self, *, distance_function: Callable[[Any, Any], Any] | None = None,
                 margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(
                "TripletMarginWithDistanceLoss: expected margin to be greater than 0, got "
                f"{margin} instead"
            )
        self.distance_function = distance_function or PairwiseDistance()
        self.margin, self.swap = margin, swap

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Any:
        return _functional().triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction,
        )  # fmt: skip


class CTCLoss(_Loss):
    """Connectionist temporal classification loss."""

    function = "ctc_loss"

    def __init__(
        self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
    ) -> None:
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any) -> Any:
        return _functional().ctc_loss(
            log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
            self.zero_infinity,
        )  # fmt: skip


__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CTCLoss", "CosineEmbeddingLoss", "CrossEntropyLoss",
    "GaussianNLLLoss", "HingeEmbeddingLoss", "HuberLoss", "KLDivLoss", "L1Loss",
    "MSELoss", "MarginRankingLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss",
    "MultiMarginLoss", "NLLLoss", "NLLLoss2d", "PoissonNLLLoss", "SmoothL1Loss",
    "SoftMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
]  # fmt: skip
