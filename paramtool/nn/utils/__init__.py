"""``torch.nn.utils``: weight and spectral normalisation (both PyTorch styles), parametrizations,
gradient clipping and parameter/vector conversion, with PyTorch's parameter and buffer names;
packed sequences for the recurrent layers (``rnn``)."""

from __future__ import annotations

from paramtool.nn.utils import parametrizations, parametrize, rnn
from paramtool.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from paramtool.nn.utils.convert import parameters_to_vector, vector_to_parameters
from paramtool.nn.utils.norms import (
    remove_spectral_norm,
    remove_weight_norm,
    spectral_norm,
    weight_norm,
)

__all__ = [
    "clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "parametrizations",
    "parametrize", "remove_spectral_norm", "remove_weight_norm", "rnn", "spectral_norm",
    "vector_to_parameters", "weight_norm",
]  # fmt: skip
