"""register_parameter from outside the class."""
import torch
import torch.nn as nn


class MyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)


model = MyModule()
model.register_parameter("test", nn.Parameter(torch.randn(3)))
print([name for name, _ in model.named_parameters()])
try:
    model.register_parameter("bad.name", nn.Parameter(torch.randn(1)))
except KeyError as e:
    print("KeyError", e)
try:
    model.register_parameter("t2", torch.randn(1))
except TypeError as e:
    print("TypeError", e)
