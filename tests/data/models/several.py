"""Two unrelated models and no build_model: the loader must ask which one."""

from paramtool import nn

encoder = nn.Linear(4, 4)
decoder = nn.Linear(4, 2)
