"""Spatial Group-wise Enhance (SGE), a parameter-light attention block for CNNs.

From "Spatial Group-wise Enhance: Improving Semantic Feature Learning in Convolutional Networks"
(Li, Hu, Yang, 2019, https://arxiv.org/abs/1905.09646). The block splits the channels into
``groups``; in each group it compares every position with the group's global average, normalises
that similarity over space and rescales it with one learnt ``weight`` and ``bias`` per group,
then gates the features with a sigmoid.

Its only parameters are those two per-group scalars, created as
``nn.Parameter(torch.zeros(1, groups, 1, 1))``: 2 x 64 = 128 parameters with the default groups.
Starting from zero makes the gate sigmoid(0) = 0.5 everywhere, so the block begins as a plain
halving of its input and learns where to look.
"""

import paramtool as torch
from paramtool import nn


class SpatialGroupEnhance(nn.Module):
    """SGE block: per-group spatial attention from the similarity to the global descriptor.

    Args:
        groups: Number of channel groups; the input's channel count must be a multiple of it.
    """

    def __init__(self, groups: int = 64) -> None:
        super().__init__()
        self.groups = groups
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        # One scale and one shift per group, broadcast over (batch, group, h, w).
        self.weight = nn.Parameter(torch.zeros(1, groups, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, groups, 1, 1))
        self.sig = nn.Sigmoid()

    def forward(self, x):
        b, c, h, w = x.size()
        x = x.view(b * self.groups, -1, h, w)
        # Similarity of each position with the group's global average feature.
        xn = (x * self.avg_pool(x)).sum(dim=1, keepdim=True)
        t = xn.view(b * self.groups, -1)
        # Normalise over space so the scale of the similarity does not depend on the input.
        t = t - t.mean(dim=1, keepdim=True)
        t = t / (t.std(dim=1, keepdim=True) + 1e-5)
        t = t.view(b, self.groups, h, w) * self.weight + self.bias
        t = t.view(b * self.groups, 1, h, w)
        return (x * self.sig(t)).view(b, c, h, w)


def build_model(groups: int = 64) -> SpatialGroupEnhance:
    """Build one SGE block.

    Args:
        groups: Number of channel groups.

    Returns:
        A ``SpatialGroupEnhance`` with ``2 * groups`` parameters.
    """
    return SpatialGroupEnhance(groups)
