"""The seed example: a top-level ``model``."""

import paramtool as torch  # noqa: F401
from paramtool import nn

model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
