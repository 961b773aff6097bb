"""``torch.optim.lr_scheduler``: schedulers that set each group's ``initial_lr`` and record
their settings, as PyTorch's do at construction; ``step()`` applies the schedule's factor."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from paramtool.optim.optimizer import Optimizer


class LRScheduler:
    """Base of the schedulers: remembers the optimizer and each group's starting rate."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.step()

    def factor(self, epoch: int) -> float:
        """The multiplier of the base rate at ``epoch`` (1 in this base class)."""
        return 1.0

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and set every group's rate to ``base_lr * factor(epoch)``."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * self.factor(self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates the last step set."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's settings (without the optimizer)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}


_LRScheduler = LRScheduler


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:  # fmt: skip
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def factor(self, epoch: int) -> float:
        return self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each milestone epoch."""

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:  # fmt: skip
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def factor(self, epoch: int) -> float:
        return self.gamma ** sum(1 for m in self.milestones if m <= epoch)


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def factor(self, epoch: int) -> float:
        return self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the base rate to ``eta_min`` over ``T_max`` epochs."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:  # fmt: skip
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def step(self, epoch: int | None = None) -> None:
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.eta_min + (base - self.eta_min) * cosine
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class LambdaLR(LRScheduler):
    """The rate is the base rate times ``lr_lambda(epoch)`` (one function or one per group)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list[Any],
                 last_epoch: int = -1) -> None:  # fmt: skip
        self.lr_lambdas = (
            list(lr_lambda) if isinstance(lr_lambda, list)
            else [lr_lambda] * len(optimizer.param_groups)
        )  # fmt: skip
        super().__init__(optimizer, last_epoch)

    def step(self, epoch: int | None = None) -> None:
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        for group, base, fn in zip(self.optimizer.param_groups, self.base_lrs,
                                   self.lr_lambdas, strict=True):  # fmt: skip
            group["lr"] = base * fn(self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class _Recorded(LRScheduler):
    """A scheduler recorded with its settings; its rate stays at the base rate."""

    def __init__(self, optimizer: Optimizer, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        super().__init__(optimizer)


class OneCycleLR(_Recorded):
    """One-cycle policy (Smith & Topin 2017): settings recorded."""


class CyclicLR(_Recorded):
    """Cyclical learning rates (Smith 2017): settings recorded."""


class CosineAnnealingWarmRestarts(_Recorded):
    """Cosine annealing with warm restarts (Loshchilov & Hutter 2017): settings recorded."""


class LinearLR(_Recorded):
    """Linear warm-up or decay of the rate: settings recorded."""


class ConstantLR(_Recorded):
    """A constant factor for some epochs: settings recorded."""


class PolynomialLR(_Recorded):
    """Polynomial decay: settings recorded."""


class MultiplicativeLR(_Recorded):
    """The rate multiplied by a function's value each epoch: settings recorded."""


class ReduceLROnPlateau:
    """Lower the rate when a metric stops improving: settings recorded."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, **settings: Any) -> None:  # fmt: skip
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.settings = settings


class SequentialLR:
    """Schedulers one after another at the milestones: recorded."""

    def __init__(self, optimizer: Optimizer, schedulers: list[Any], milestones: list[int],
                 last_epoch: int = -1) -> None:  # fmt: skip
        self.optimizer, self._schedulers, self._milestones = optimizer, schedulers, milestones


class ChainedScheduler:
    """Several schedulers stepped together: recorded."""

    def __init__(self, schedulers: Sequence[Any], optimizer: Optimizer | None = None) -> None:
        self._schedulers, self.optimizer = list(schedulers), optimizer
