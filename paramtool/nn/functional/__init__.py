"""``paramtool.nn.functional``: the functions of ``torch.nn.functional``, computed on the
tensor's array module (numpy or cupy) with gradients.

Every public name of PyTorch's module exists here. The submodules hold the computations
(activation, linear, loss, margin_loss, attention, normalization, sparse, dropout, conv,
pooling, adaptive_pooling, rnn, vision, spatial); a name whose computation paramtool does not have raises ``NotImplementedError``
naming it when it is called, so model files that merely import it still load.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

#: Every public function of torch.nn.functional (PyTorch 2.13).
TORCH_NAMES = (
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d", "adaptive_max_pool3d_with_indices", "affine_grid", "alpha_dropout",
    "assert_int_or_pair", "avg_pool1d", "avg_pool2d", "avg_pool3d", "batch_norm", "bilinear",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "boolean_dispatch", "celu",
    "celu_", "channel_shuffle", "conv1d", "conv2d", "conv3d", "conv_tbc", "conv_transpose1d",
    "conv_transpose2d", "conv_transpose3d", "cosine_embedding_loss", "cosine_similarity",
    "cross_entropy", "ctc_loss", "dropout", "dropout1d", "dropout2d", "dropout3d", "elu", "elu_",
    "embedding", "embedding_bag", "feature_alpha_dropout", "fold", "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices", "gaussian_nll_loss", "gelu", "glu", "grid_sample",
    "group_norm", "grouped_mm", "gumbel_softmax", "handle_torch_function", "hardshrink",
    "hardsigmoid", "hardswish", "hardtanh", "hardtanh_", "has_torch_function",
    "has_torch_function_unary", "has_torch_function_variadic", "hinge_embedding_loss",
    "huber_loss", "instance_norm", "interpolate", "kl_div", "l1_loss", "layer_norm", "leaky_relu",
    "leaky_relu_", "linear", "linear_cross_entropy", "local_response_norm", "log_softmax",
    "logsigmoid", "lp_pool1d", "lp_pool2d", "lp_pool3d", "margin_ranking_loss", "max_pool1d",
    "max_pool1d_with_indices", "max_pool2d", "max_pool2d_with_indices", "max_pool3d",
    "max_pool3d_with_indices", "max_unpool1d", "max_unpool2d", "max_unpool3d", "mish", "mse_loss",
    "multi_head_attention_forward", "multi_margin_loss", "multilabel_margin_loss",
    "multilabel_soft_margin_loss", "native_channel_shuffle", "nll_loss", "normalize", "one_hot",
    "pad", "pairwise_distance", "pdist", "pixel_shuffle", "pixel_unshuffle", "poisson_nll_loss",
    "prelu", "relu", "relu6", "relu_", "rms_norm", "rrelu", "rrelu_",
    "scaled_dot_product_attention", "scaled_grouped_mm", "scaled_mm", "selu", "selu_", "sigmoid",
    "silu", "smooth_l1_loss", "soft_margin_loss", "softmax", "softmin", "softplus", "softshrink",
    "softsign", "tanh", "tanhshrink", "threshold", "threshold_", "triplet_margin_loss",
    "triplet_margin_with_distance_loss", "unfold", "upsample", "upsample_bilinear",
    "upsample_nearest",
)  # fmt: skip

_SUBMODULES = (
    "activation", "linear", "loss", "margin_loss", "attention", "normalization", "sparse",
    "dropout", "conv", "pooling", "adaptive_pooling", "rnn", "vision", "spatial",
)  # fmt: skip


def _missing(name: str) -> Callable[..., Any]:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"torch.nn.functional.{name} is not implemented in paramtool")

    missing.__name__ = missing.__qualname__ = name
    missing.__doc__ = "Not implemented in paramtool: raises NotImplementedError when called."
    return missing


def has_torch_function(*args: Any) -> bool:
    """False: paramtool tensors carry no ``__torch_function__`` overrides."""
    return False


has_torch_function_unary = has_torch_function_variadic = has_torch_function


def _load() -> list[str]:
    exported: list[str] = []
    for name in _SUBMODULES:
        full = f"{__name__}.{name}"
        try:
            module = importlib.import_module(full)
        except ModuleNotFoundError as exc:  # a submodule not written yet
            if exc.name != full:
                raise
            continue
        for public in module.__all__:
            globals()[public] = getattr(module, public)
        exported += module.__all__
    for name in TORCH_NAMES:
        if name not in globals():
            globals()[name] = _missing(name)
    return exported


__all__ = sorted(set(_load()) | set(TORCH_NAMES))
