"""Assignment registers a Parameter, not a plain tensor."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight1 = nn.Parameter(torch.rand(20, 20))
        self.weight2 = torch.rand(20, 20)  # temporary state, e.g. an RNN's last hidden state


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.randn(3, 3)


model = Net()
print([name for name, _ in model.named_parameters()])
print(len(list(model.parameters())), isinstance(model.weight2, torch.Tensor), tuple(model.weight2.shape))
print(list(Plain().parameters()))
