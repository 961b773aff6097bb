"""state_dict holds parameters and persistent buffers."""
import torch
import torch.nn as nn

print(list(nn.Linear(2, 2).state_dict().keys()))


class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.register_buffer("running_mean", torch.zeros(2))
        self.register_buffer("cache", torch.zeros(4), persistent=False)


model = WithBuffers()
print(list(model.state_dict().keys()))
print([name for name, _ in model.named_buffers()])
print(list(nn.BatchNorm2d(3).state_dict().keys()))
