"""``paramtool.optim``: torch.optim's optimizers and schedulers.

The optimizers have PyTorch's signatures, defaults and parameter-group handling, so model files
and training scripts that build them at import time run unchanged. ``SGD``, ``Adam`` and
``AdamW`` step as PyTorch's do (``updates``); the others raise on ``step()``.

May import ``paramtool.core`` (level 2, beside ``nn``).
"""

from __future__ import annotations

from paramtool.optim import lr_scheduler
from paramtool.optim.optimizer import Optimizer
from paramtool.optim.optimizers import (
    ASGD,
    LBFGS,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    NAdam,
    RAdam,
    RMSprop,
    Rprop,
    SparseAdam,
)

__all__ = [
    "ASGD", "LBFGS", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "NAdam",
    "Optimizer", "RAdam", "RMSprop", "Rprop", "SparseAdam", "lr_scheduler",
]  # fmt: skip
