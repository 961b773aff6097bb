"""Weight sharing: one layer object reached under several names.

Assigning the same module twice does not copy it. ``named_parameters()`` lists a shared tensor
once, under the first name it is reached by, while ``state_dict()`` keeps every name, so a
checkpoint of these nets shows *tie groups*: names that must hold the same tensor.

Two nets, picked with ``build_model(net=...)``:

- ``"pair"``: ``nn.Sequential(linear, linear)`` with one ``Linear(8, 8)``. 72 parameters, not
  144; tie groups ``{0.weight, 1.weight}`` and ``{0.bias, 1.bias}``.
- ``"middle"``: three hidden layers, where the second and third hidden layers apply the same
  ``Linear(hidden, hidden)`` (the shared middle layer), as in the PyTorch tutorial on control flow
  and weight sharing. Tie groups ``{2.weight, 4.weight}`` and ``{2.bias, 4.bias}``.

Each use of a shared layer adds its own contribution to the gradient: with ``Linear(1, 1,
bias=False)`` of weight 3 applied twice to input 1, the output is 9 and the gradient 2 * 3 = 6.
"""

import paramtool as torch  # noqa: F401  (the usual spelling; the model needs only nn)
from paramtool import nn


def shared_pair(features: int = 8) -> nn.Sequential:
    """The same ``Linear`` twice in one Sequential.

    Args:
        features: Input and output size of the shared layer.

    Returns:
        ``Sequential(linear, linear)``; ``net[0] is net[1]``.
    """
    linear = nn.Linear(features, features)
    return nn.Sequential(linear, linear)


def shared_middle(in_features: int = 4, hidden: int = 8, out_features: int = 1) -> nn.Sequential:
    """An MLP with three hidden layers whose second and third share one ``Linear``.

    Args:
        in_features: Size of each input sample.
        hidden: Width of every hidden layer.
        out_features: Size of each output sample.

    Returns:
        ``Sequential(Linear, ReLU, middle, ReLU, middle, ReLU, Linear)``; positions 2 and 4 are
        one module.
    """
    middle = nn.Linear(hidden, hidden)
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        middle,
        nn.ReLU(),
        middle,  # the same object again: its weights are reused, not copied
        nn.ReLU(),
        nn.Linear(hidden, out_features),
    )


NETS = {"pair": shared_pair, "middle": shared_middle}


def build_model(net: str = "middle", **kwargs) -> nn.Sequential:
    """Build one of the shared-layer nets.

    Args:
        net: ``"pair"`` or ``"middle"``.
        **kwargs: Sizes passed to the chosen builder.

    Returns:
        The net.

    Raises:
        ValueError: If ``net`` names no net of this file.
    """
    if net not in NETS:
        raise ValueError(f"unknown net {net!r}; choose one of {sorted(NETS)}")
    return NETS[net](**kwargs)
