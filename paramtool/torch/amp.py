"""``torch.amp`` / ``torch.cuda.amp``: mixed-precision helpers a model file may construct.

``autocast`` is a context manager and decorator that changes nothing here (it affects the dtype
of computations, never of parameters); ``GradScaler`` records its settings.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any


class autocast(contextlib.ContextDecorator):  # noqa: N801 - torch's name
    """``torch.autocast(device_type, dtype=None, enabled=True)``: no effect on parameters."""

    def __init__(self, device_type: str = "cuda", dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:  # fmt: skip
        self.device_type, self.fast_dtype, self.enabled = device_type, dtype, enabled

    def __enter__(self) -> autocast:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class GradScaler:
    """``torch.amp.GradScaler``: constructible; scaling is a training-loop concern."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:  # fmt: skip
        self.init_scale, self.enabled = init_scale, enabled
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval


def custom_fwd(fwd: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``torch.amp.custom_fwd``: pass-through."""
    if fwd is None:
        return functools.partial(custom_fwd, **kwargs)
    return fwd


custom_bwd = custom_fwd
