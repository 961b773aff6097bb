"""Initialisation: nn.init functions, custom in-place schemes under no_grad, apply, and a
typical _initialize_weights."""
import torch
import torch.nn as nn
import torch.nn.init as init

w = torch.empty(3, 5)
init.normal_(w, mean=0, std=0.01)
init.constant_(w, val=0)
print(w.sum().item())
init.ones_(w)
print(w.sum().item())
init.zeros_(w)
init.uniform_(w, -10, 10)
print(bool((w.abs() <= 10).all()))
init.xavier_uniform_(w)
bound = (6 / (3 + 5)) ** 0.5
print(bool((w.abs() <= bound).all()))
conv = nn.Conv2d(3, 8, 3)
init.kaiming_normal_(conv.weight, mode="fan_out")
print(tuple(conv.weight.shape))

with torch.no_grad():
    t = torch.empty(100, 100)
    t.uniform_(-10, 10)
    t *= (t.abs() >= 5).float()
    print(bool(((t == 0) | (t.abs() >= 5)).all()))

lin = nn.Linear(2, 2)
with torch.no_grad():
    nn.init.zeros_(lin.bias)
    lin.bias.data += 1
print(lin.bias.tolist())

seen = []
net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
net.apply(lambda m: seen.append(type(m).__name__))
print(seen)


class VGGLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv3d(8, 4, 1))
        self.classifier = nn.Linear(4, 10)
        self._initialize_weights()

    def _initialize_weights(self):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)


model = VGGLike()
print(model.features[1].weight.sum().item(), model.classifier.bias.abs().sum().item())
