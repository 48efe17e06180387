"""Backbones: image batch [B, C, S, S] (float, normalised) -> features h [B, feat_dim].

- convnet: a small, fast conv net for CPU development and tests (4 conv-BN-ReLU stages of
  widths w, 2w, 4w, 8w, each halving the resolution except the first one with the CIFAR stem;
  global average pool; feat_dim = 8w). Works on any input of at least 8 px (28, 32, 96, ...).
- resnet18 / resnet50: torchvision's models (weights=None, nothing is downloaded) with
  fc = Identity; cifar_stem swaps the 7x7/2 conv + max-pool for a 3x3/1 conv, the usual choice
  for 32 px images. Module names are untouched so state_dict keys stay torchvision's (export
  and users loading the weights into torchvision rely on it). `width` does not apply to them.
"""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

from ...common.config import BACKBONES, SpecError


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    # No conv bias: the BatchNorm right after it has its own shift.
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ConvNet(nn.Module):
    def __init__(self, width: int, in_channels: int = 3, cifar_stem: bool = True):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        # Small images keep full resolution in the first stage; larger ones halve it at once.
        strides = [1 if cifar_stem else 2, 2, 2, 2]
        stages, cin = [], in_channels
        for w, s in zip(widths, strides):
            stages.append(_conv_bn_relu(cin, w, s))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feat_dim = widths[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.pool(self.stages(x)).flatten(1)


def _convnet(*, cifar_stem: bool, width: int, in_channels: int) -> tuple[nn.Module, int]:
    net = ConvNet(width, in_channels, cifar_stem)
    return net, net.feat_dim


def _torchvision_resnet(factory: Callable[..., nn.Module], feat_dim: int):
    def build(*, cifar_stem: bool, width: int, in_channels: int) -> tuple[nn.Module, int]:
        net = factory(weights=None)
        net.fc = nn.Identity()
        if cifar_stem:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        # Same initialisation torchvision gives its own conv1.
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        return net, feat_dim

    return build


def _resnet18(**kw):
    from torchvision.models import resnet18

    return _torchvision_resnet(resnet18, 512)(**kw)


def _resnet50(**kw):
    from torchvision.models import resnet50

    return _torchvision_resnet(resnet50, 2048)(**kw)


BACKBONE_BUILDERS: dict[str, Callable[..., tuple[nn.Module, int]]] = {
    "convnet": _convnet,
    "resnet18": _resnet18,
    "resnet50": _resnet50,
}
assert set(BACKBONE_BUILDERS) == set(BACKBONES), "config.BACKBONES and the registry disagree"


def build_backbone(name: str, *, cifar_stem: bool, width: int, in_channels: int = 3) -> tuple[nn.Module, int]:
    """Returns (module, feat_dim). Raises SpecError for an unknown name or a bad width."""
    if name not in BACKBONE_BUILDERS:
        raise SpecError("model.backbone", name, "one of " + ", ".join(BACKBONE_BUILDERS))
    if width < 1:
        raise SpecError("model.width", width, "a positive integer")
    return BACKBONE_BUILDERS[name](cifar_stem=cifar_stem, width=width, in_channels=in_channels)
