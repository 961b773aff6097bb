"""ResNet-18 and ResNet-50, with torchvision's parameter names.

"Deep Residual Learning for Image Recognition" (He et al., 2015, https://arxiv.org/abs/1512.03385),
laid out exactly as ``torchvision.models.resnet18/resnet50`` so that a torchvision checkpoint
loads with ``strict=True``:

    conv1, bn1                                stem: 7x7 stride-2 conv, batch norm
    layer1 .. layer4                          four stages of residual blocks
    layerN.i.conv1 / bn1 / conv2 / bn2 ...    one block
    layerN.0.downsample.0 / .1                1x1 conv + BN on the shortcut when shapes change
    fc                                        the classifier

Parameter counts with 1000 classes: resnet18 11,689,512; resnet50 25,557,032. Every BatchNorm
also holds three buffers (``running_mean``, ``running_var``, ``num_batches_tracked``) that are
part of the state_dict but are not parameters.
"""

from dataclasses import dataclass

import paramtool as torch  # noqa: F401  (the usual spelling; the model needs only nn)
from paramtool import nn


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding; no bias, since a BatchNorm follows."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, used to change the channel count."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), with a shortcut (ResNet-50/101/152).

    The stride sits on the 3x3 convolution, as in torchvision ("ResNet v1.5"), which is more
    accurate than the paper's stride on the first 1x1; the parameter count is the same.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


@dataclass
class ResNetConfig:
    block: str = "basic"  # "basic" (two 3x3 convs) or "bottleneck" (1x1-3x3-1x1)
    layers: tuple = (2, 2, 2, 2)  # blocks per stage
    num_classes: int = 1000  # ImageNet-1k
    zero_init_residual: bool = False  # start each block's last BN at zero (identity blocks)


ARCHS = {
    "resnet18": ResNetConfig("basic", (2, 2, 2, 2)),
    "resnet34": ResNetConfig("basic", (3, 4, 6, 3)),
    "resnet50": ResNetConfig("bottleneck", (3, 4, 6, 3)),
    "resnet101": ResNetConfig("bottleneck", (3, 4, 23, 3)),
}
BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """The ResNet trunk and classifier."""

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        block = BLOCKS[config.block]
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, config.layers[0])
        self.layer2 = self._make_layer(block, 128, config.layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, config.layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, config.layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, config.num_classes)
        self._init_weights(config.zero_init_residual)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        # The first block of a stage changes resolution and/or width; its shortcut then needs
        # a 1x1 projection so the two branches can be added.
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        # torchvision's scheme: He init (fan_out) for convolutions, BN as the identity map.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # "Bag of Tricks" (https://arxiv.org/abs/1812.01187): each residual branch starts at zero.
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x).flatten(1)
        return self.fc(x)


def build_model(
    arch: str = "resnet18", num_classes: int = 1000, zero_init_residual: bool = False
) -> ResNet:
    """Build a torchvision-compatible ResNet (a config file's other keys are not passed in).

    Args:
        arch: ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``.
        num_classes: Size of the classifier's output.
        zero_init_residual: Start each residual branch's last BatchNorm at zero, so that every
            block begins as the identity (torchvision's option, from Goyal et al., 2017).

    Returns:
        The model.

    Raises:
        ValueError: If ``arch`` is not one of the known architectures.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {sorted(ARCHS)}")
    base = ARCHS[arch]
    return ResNet(ResNetConfig(base.block, base.layers, num_classes, zero_init_residual))
