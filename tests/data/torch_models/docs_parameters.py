"""The parameter behaviours the PyTorch docs and tutorials teach, in one model: a Parameter
beside a plain tensor, a frozen Parameter, register_parameter and register_buffer (persistent
and not), a layer used twice, a Parameter made from another layer's weight data."""

import torch
import torch.nn as nn


class MyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight1 = nn.Parameter(torch.rand(20, 20))
        self.weight2 = torch.rand(20, 20)  # a plain tensor: temporary state, not registered
        self.scale = nn.Parameter(torch.ones(1), requires_grad=False)
        self.linear = nn.Linear(4, 3)
        self.register_buffer("running", torch.zeros(3))
        self.register_buffer("scratch", torch.empty(5), persistent=False)
        self.register_buffer("nothing", None)
        self.register_parameter("absent", None)
        shared = nn.Linear(3, 3)
        self.body = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), shared, nn.Tanh(), shared)
        self.head = nn.ModuleDict({"a": nn.Linear(3, 2), "b": nn.Identity()})
        self.bank = nn.ParameterList([nn.Parameter(torch.randn(2, 2)) for _ in range(2)])
        self.table = nn.ParameterDict({"x": nn.Parameter(torch.zeros(3))})
        self.sge_weight = nn.Parameter(torch.zeros(1, 4, 1, 1))
        self.sge_bias = nn.Parameter(torch.ones(1, 4, 1, 1))
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.sig = nn.Sigmoid()


model = MyModule()
model.register_parameter("test", nn.Parameter(torch.randn(3)))
model.linear.register_buffer("mask", torch.ones(3, 4).tril())
with torch.no_grad():
    model.linear.weight.data += 1
    for p in model.body.parameters():
        p.uniform_(-10, 10)
        p *= (p.abs() >= 5).float()
