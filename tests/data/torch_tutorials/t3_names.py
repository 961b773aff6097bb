"""Names of a Sequential's parameters and its printed form."""
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
for name, param in model.named_parameters():
    print(name, tuple(param.shape))
print([name for name, _ in model[0].named_parameters()])
print(model)
