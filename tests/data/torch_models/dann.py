"""A domain-adversarial network (Ganin & Lempitsky 2015) as people write it: a gradient
reversal `torch.autograd.Function`, a TorchScript-decorated helper, checkpointed features, a
Dataset subclass next to the model, and the model wrapped in DataParallel."""

import torch
import torch.nn as nn
import torch.utils.checkpoint as checkpoint
from torch.autograd import Function
from torch.utils.data import DataLoader, Dataset


class GradReverse(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.alpha, None


@torch.jit.script
def scaled(x: torch.Tensor, s: float) -> torch.Tensor:
    return x * s


class DigitsDataset(Dataset):
    def __init__(self, n=16):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.zeros(1, 28, 28), i % 10


class DANN(nn.Module):
    def __init__(self, num_classes=10, num_domains=2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.BatchNorm2d(32), nn.MaxPool2d(2), nn.ReLU(True),
            nn.Conv2d(32, 48, 5), nn.BatchNorm2d(48), nn.Dropout2d(), nn.MaxPool2d(2),
            nn.ReLU(True),
        )
        self.class_classifier = nn.Sequential(
            nn.Linear(48 * 4 * 4, 100), nn.BatchNorm1d(100), nn.ReLU(True),
            nn.Linear(100, 100), nn.BatchNorm1d(100), nn.ReLU(True),
            nn.Linear(100, num_classes), nn.LogSoftmax(dim=1),
        )
        self.domain_classifier = nn.Sequential(
            nn.Linear(48 * 4 * 4, 100), nn.BatchNorm1d(100), nn.ReLU(True),
            nn.Linear(100, num_domains), nn.LogSoftmax(dim=1),
        )

    def forward(self, x, alpha):
        feature = checkpoint.checkpoint(self.features, x, use_reentrant=False)
        feature = feature.view(-1, 48 * 4 * 4)
        reverse = GradReverse.apply(feature, alpha)
        return self.class_classifier(feature), self.domain_classifier(reverse)


loader = DataLoader(DigitsDataset(), batch_size=4, shuffle=True)
model = nn.DataParallel(DANN())
