"""A small CNN (conv, batch norm, pooling, linear head), for `paramtool check` against PyTorch."""

import paramtool as torch  # noqa: F401
from paramtool import nn


class SmallCNN(nn.Module):
    """Two conv blocks, global average pooling and a classifier; the ReLU is called twice."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.fc(self.pool(x).flatten(1))


def build_model(classes: int = 10) -> SmallCNN:
    """The model."""
    return SmallCNN(classes)
