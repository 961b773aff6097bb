"""The smallest useful model: a two-layer perceptron (4 -> 3 -> 1), 19 parameters.

    0.weight (3, 4)   0.bias (3,)   2.weight (1, 3)   2.bias (1,)

The ReLU in position 1 holds no parameters, which is why the names jump from ``0.`` to ``2.``:
a Sequential names its children by position, parameters or not.

    paramtool inspect sample_models/mlp.py
"""

import paramtool as torch  # noqa: F401  (the usual spelling; the model needs only nn)
from paramtool import nn


def build_model(in_features: int = 4, hidden: int = 3, out_features: int = 1) -> nn.Sequential:
    """Build the perceptron.

    Args:
        in_features: Size of each input sample.
        hidden: Width of the hidden layer.
        out_features: Size of each output sample.

    Returns:
        ``Sequential(Linear(4, 3), ReLU(), Linear(3, 1))`` with the default sizes.
    """
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.Linear(hidden, out_features),
    )
