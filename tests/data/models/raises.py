"""A constructor that raises on line 11."""

from paramtool import nn


class Broken(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.fc = nn.Linear(width, width)
        if width > 2:
            raise ValueError(f"width {width} is too wide")


def build_model(width=4):
    return Broken(width)
