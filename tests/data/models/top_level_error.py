"""A file that fails while it runs, on line 6."""

from paramtool import nn

model = nn.Linear(2, 2)
result = 1 / 0
