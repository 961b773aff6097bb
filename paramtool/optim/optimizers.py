"""The optimizers of ``torch.optim`` with PyTorch's signatures and defaults.

Each records its hyper-parameters in its parameter groups exactly as PyTorch does
(``AdamW`` is Adam with ``decoupled_weight_decay=True``). SGD, Adam and AdamW update in
``step()`` (``paramtool.optim.updates``); the others are constructible and raise on ``step()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from paramtool.core.autograd import enable_grad
from paramtool.optim import updates
from paramtool.optim.optimizer import Optimizer


def _defaults(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in ("self", "params", "__class__")}


def _evaluate(closure: Callable[[], Any] | None) -> Any:
    """The loss a closure recomputes (with gradients on), as ``Optimizer.step(closure)``."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


def _check_lr(lr: Any) -> None:
    if not float(lr) >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (Sutskever et al. 2013)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:  # fmt: skip
        defaults = _defaults(locals())
        _check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD update of every parameter that has a gradient; returns ``closure()``."""
        loss = _evaluate(closure)
        updates.sgd_step(self)
        return loss


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015); ``decoupled_weight_decay=True`` is AdamW."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:  # fmt: skip
        defaults = _defaults(locals())
        _check_lr(lr)
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam (AdamW) update of every parameter that has a gradient; returns
        ``closure()``."""
        loss = _evaluate(closure)
        updates.adam_step(self)
        return loss


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)  # fmt: skip


def _simple(name: str, doc: str, signature: dict[str, Any]) -> type[Optimizer]:
    """An optimizer class whose keyword defaults are ``signature``."""

    def __init__(self: Optimizer, params: Iterable[Any], *args: Any, **kwargs: Any) -> None:
        names = list(signature)
        if len(args) > len(names):
            raise TypeError(f"{name}() takes at most {len(names) + 1} positional arguments")
        values = {**signature, **dict(zip(names, args, strict=False)), **kwargs}
        unknown = set(values) - set(signature)
        if unknown:
            raise TypeError(f"{name}() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        _check_lr(values["lr"])
        Optimizer.__init__(self, params, values)

    return type(
        name, (Optimizer,), {"__init__": __init__, "__doc__": doc, "defaults_of": signature}
    )


_COMMON = {"foreach": None, "maximize": False, "differentiable": False}
Adadelta = _simple(
    "Adadelta",
    "Adadelta (Zeiler 2012).",
    {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0, **_COMMON, "capturable": False},
)
Adagrad = _simple(
    "Adagrad",
    "Adagrad (Duchi et al. 2011).",
    {
        "lr": 1e-2,
        "lr_decay": 0,
        "weight_decay": 0,
        "initial_accumulator_value": 0,
        "eps": 1e-10,
        **_COMMON,
        "fused": None,
    },
)
Adamax = _simple(
    "Adamax",
    "Adamax (Kingma & Ba 2015).",
    {
        "lr": 2e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0,
        **_COMMON,
        "capturable": False,
    },
)
ASGD = _simple(
    "ASGD",
    "Averaged SGD (Polyak & Juditsky 1992).",
    {
        "lr": 1e-2,
        "lambd": 1e-4,
        "alpha": 0.75,
        "t0": 1e6,
        "weight_decay": 0,
        **_COMMON,
        "capturable": False,
    },
)
NAdam = _simple(
    "NAdam",
    "Adam with Nesterov momentum (Dozat 2016).",
    {
        "lr": 2e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0,
        "momentum_decay": 4e-3,
        "decoupled_weight_decay": False,
        **_COMMON,
        "capturable": False,
    },
)
RAdam = _simple(
    "RAdam",
    "Rectified Adam (Liu et al. 2020).",
    {
        "lr": 1e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0,
        "decoupled_weight_decay": False,
        **_COMMON,
        "capturable": False,
    },
)
RMSprop = _simple(
    "RMSprop",
    "RMSprop (Hinton's lecture notes).",
    {
        "lr": 1e-2,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0,
        "momentum": 0,
        "centered": False,
        "capturable": False,
        **_COMMON,
    },
)
Rprop = _simple(
    "Rprop",
    "Resilient backpropagation (Riedmiller & Braun 1993).",
    {"lr": 1e-2, "etas": (0.5, 1.2), "step_sizes": (1e-6, 50), "capturable": False, **_COMMON},
)
SparseAdam = _simple(
    "SparseAdam",
    "Adam for sparse gradients.",
    {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "maximize": False},
)
LBFGS = _simple(
    "LBFGS",
    "L-BFGS (Nocedal & Wright).",
    {
        "lr": 1,
        "max_iter": 20,
        "max_eval": None,
        "tolerance_grad": 1e-7,
        "tolerance_change": 1e-9,
        "history_size": 100,
        "line_search_fn": None,
    },
)

__all__ = [
    "ASGD", "LBFGS", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
    "RMSprop", "Rprop", "SparseAdam",
]  # fmt: skip
