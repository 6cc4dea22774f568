"""D2L 5.11 (残差网络（ResNet）): residual blocks and ResNet-18.

``Residual`` and ``resnet_block`` are graded; ``resnet18`` (given) assembles the book's net.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .layers import FlattenLayer
from .nin import GlobalAvgPool2d


class Residual(nn.Module):
    """The residual block: ``relu(bn2(conv2(relu(bn1(conv1(X))))) + shortcut(X))``.

    ``conv1`` = Conv2d(in, out, 3, padding=1, stride=stride); ``conv2`` = Conv2d(out, out, 3,
    padding=1); ``bn1``, ``bn2`` = BatchNorm2d(out). The shortcut is ``X`` itself, or
    ``conv3`` = Conv2d(in, out, 1, stride=stride) applied to ``X`` when ``use_1x1conv``
    (``conv3`` is ``None`` otherwise). E.g. ``Residual(3, 3)`` keeps (4, 3, 6, 6);
    ``Residual(3, 6, use_1x1conv=True, stride=2)`` gives (4, 6, 3, 3).
    """

    def __init__(self, in_channels, out_channels, use_1x1conv=False, stride=1):
        super().__init__()
        # BEGIN SOLUTION
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        # END SOLUTION

    def forward(self, X):
        # BEGIN SOLUTION
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3 is not None:
            X = self.conv3(X)
        return F.relu(Y + X)
        # END SOLUTION


def resnet_block(in_channels, out_channels, num_residuals, first_block=False):
    """``num_residuals`` residual blocks in an ``nn.Sequential`` (numbered 0, 1, ...).

    Unless ``first_block``, the first one halves height and width and changes the channels:
    ``Residual(in_channels, out_channels, use_1x1conv=True, stride=2)``; all the others are
    ``Residual(out_channels, out_channels)``. A first block must keep the channel count
    (``in_channels == out_channels``, as the book asserts) and keeps the size.
    """
    # BEGIN SOLUTION
    if first_block:
        assert in_channels == out_channels
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(in_channels, out_channels, use_1x1conv=True, stride=2))
        else:
            blk.append(Residual(out_channels, out_channels))
    return nn.Sequential(*blk)
    # END SOLUTION


def resnet18(num_classes=10, in_channels=1):
    """The book's ResNet-18 (given code): stem, four resnet blocks, global pooling, fc."""
    net = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    net.add_module("resnet_block1", resnet_block(64, 64, 2, first_block=True))
    net.add_module("resnet_block2", resnet_block(64, 128, 2))
    net.add_module("resnet_block3", resnet_block(128, 256, 2))
    net.add_module("resnet_block4", resnet_block(256, 512, 2))
    net.add_module("global_avg_pool", GlobalAvgPool2d())
    net.add_module("fc", nn.Sequential(FlattenLayer(), nn.Linear(512, num_classes)))
    return net
