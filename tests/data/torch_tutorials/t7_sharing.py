"""A layer used twice is one object, listed once; with weight 3 and input 1 the output is 9
and the gradient 6."""
import torch
import torch.nn as nn

shared = nn.Linear(8, 8)
net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), shared, shared)
print([name for name, _ in net.named_parameters()])
print(id(net[2].weight) == id(net[3].weight))

lin = nn.Linear(1, 1, bias=False)
model = nn.Sequential(lin, lin)
with torch.no_grad():
    lin.weight.fill_(3.0)
x = torch.ones(1, 1)
y = model(x)
print(y.item())
y.backward()
print(lin.weight.grad.item())
