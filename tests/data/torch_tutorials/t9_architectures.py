"""Parameters of real architectures: ViT's class token and position embedding; the weight
and bias of SpatialGroupEnhance beside AdaptiveAvgPool2d and Sigmoid."""
import torch
import torch.nn as nn


class ViTEmbed(nn.Module):
    def __init__(self, num_patches=196, dim=768):
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))


class SpatialGroupEnhance(nn.Module):
    def __init__(self, groups=64):
        super().__init__()
        self.groups = groups
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.weight = nn.Parameter(torch.zeros(1, groups, 1, 1))
        self.bias = nn.Parameter(torch.ones(1, groups, 1, 1))
        self.sig = nn.Sigmoid()


model = nn.ModuleDict({"vit": ViTEmbed(), "sge": SpatialGroupEnhance()})
for name, p in model.named_parameters():
    print(name, tuple(p.shape))
print(model)
