"""A file defining exactly one Module subclass and no instance."""

import paramtool as torch
from paramtool import nn


class Net(nn.Module):
    def __init__(self, n=20):
        super().__init__()
        self.weight1 = nn.Parameter(torch.rand(n, n))
        self.weight2 = torch.rand(n, n)  # a plain tensor: not registered
