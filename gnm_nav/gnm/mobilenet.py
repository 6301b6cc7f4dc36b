"""MobileNetV2 feature stack in plain torch, laid out like torchvision's so GNM checkpoints load unchanged.

The module tree (index 0 = stem conv, 1..17 = inverted residual blocks with a `.conv` Sequential,
18 = final 1x1 conv) is what gives the state_dict its key names (`0.0.weight`, `1.conv.0.0.weight`, ...).
"""
from __future__ import annotations

import torch
from torch import nn

# (expand ratio t, output channels c, repeats n, first stride s) of MobileNetV2 at width 1.0.
INVERTED_RESIDUAL_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
FEATURE_CHANNELS = 1280


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias) + BatchNorm + ReLU6: torchvision's Conv2dNormActivation with its defaults."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups,
                      bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> linear projection (1x1), with a skip when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(in_channels, hidden, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_res_connect else out


def mobilenet_v2_features(in_channels: int) -> nn.Sequential:
    """The MobileNetV2 feature stack whose stem takes `in_channels` (3 per stacked RGB frame)."""
    layers: list[nn.Module] = [ConvBNReLU6(in_channels, STEM_CHANNELS, stride=2)]
    channels = STEM_CHANNELS
    for expand, out_channels, repeats, stride in INVERTED_RESIDUAL_SETTING:
        for i in range(repeats):
            layers.append(InvertedResidual(channels, out_channels, stride if i == 0 else 1, expand))
            channels = out_channels
    layers.append(ConvBNReLU6(channels, FEATURE_CHANNELS, kernel_size=1))
    features = nn.Sequential(*layers)
    _init_like_torchvision(features)
    return features


def _init_like_torchvision(module: nn.Module) -> None:
    """Kaiming-out conv init and unit BatchNorm, so a random-init network has sane activations."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
