"""One Linear used twice; the Sequential is the only root module at top level."""

import paramtool as torch  # noqa: F401
from paramtool import nn

shared = nn.Linear(8, 8)
net = nn.Sequential(nn.Linear(4, 8), shared, nn.ReLU(), shared, nn.Linear(8, 1))
