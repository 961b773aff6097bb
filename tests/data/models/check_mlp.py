"""A small MLP with a bounded activation, for `paramtool check` against PyTorch."""

import paramtool as torch  # noqa: F401
from paramtool import nn


def build_model(width: int = 64, depth: int = 4) -> nn.Module:
    """in 32 -> ``depth`` x (Linear, Tanh) of ``width`` -> Linear, ReLU -> Linear 10."""
    layers: list[nn.Module] = [nn.Linear(32, width), nn.Tanh()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.Tanh()]
    layers += [nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10)]
    return nn.Sequential(*layers)
