"""nn.Parameter wraps a tensor; requires_grad defaults to True; a frozen one stays registered."""
import torch
import torch.nn as nn

data = torch.ones(2, 3)
param = nn.Parameter(data)
print(param.requires_grad, isinstance(param, torch.Tensor), type(param.data).__name__)
print(param)
frozen = nn.Parameter(torch.zeros(2), requires_grad=False)
print(frozen.requires_grad)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.frozen = frozen
        self.param = param


model = Net()
print(list(model.state_dict().keys()), [n for n, p in model.named_parameters() if p.requires_grad])
