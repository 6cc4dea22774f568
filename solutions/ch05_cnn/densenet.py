"""D2L 5.12 (稠密连接网络（DenseNet）): dense blocks, transition layers and DenseNet.

``conv_block``, ``DenseBlock`` and ``transition_block`` are graded; ``densenet`` (given)
assembles the book's network, keeping the book's module names (``DenseBlosk_%d``, typo
included, so that its printed shape table reads the same).
"""
import torch
from torch import nn

from .layers import FlattenLayer
from .nin import GlobalAvgPool2d


def conv_block(in_channels, out_channels):
    """BatchNorm2d(in_channels), ReLU, Conv2d(in_channels, out_channels, 3, padding=1), in that order.

    An ``nn.Sequential`` numbered 0-2 ("BN, activation, conv", ResNet's improved order).
    """
    # BEGIN SOLUTION
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
    )
    # END SOLUTION


class DenseBlock(nn.Module):
    """``num_convs`` conv blocks, each one's output **concatenated** to its input along the channels.

    ``self.net`` is an ``nn.ModuleList`` of ``conv_block(in_channels + i * out_channels,
    out_channels)`` for i = 0 .. num_convs - 1; ``self.out_channels = in_channels +
    num_convs * out_channels``. ``forward``: for each block, ``Y = blk(X)`` then
    ``X = cat((X, Y), dim=1)`` (input first). ``DenseBlock(2, 3, 10)`` on (4, 3, 8, 8) gives
    (4, 23, 8, 8).
    """

    def __init__(self, num_convs, in_channels, out_channels):
        super().__init__()
        # BEGIN SOLUTION
        net = []
        for i in range(num_convs):
            in_c = in_channels + i * out_channels
            net.append(conv_block(in_c, out_channels))
        self.net = nn.ModuleList(net)
        self.out_channels = in_channels + num_convs * out_channels
        # END SOLUTION

    def forward(self, X):
        # BEGIN SOLUTION
        for blk in self.net:
            Y = blk(X)
            X = torch.cat((X, Y), dim=1)
        return X
        # END SOLUTION


def transition_block(in_channels, out_channels):
    """BatchNorm2d(in), ReLU, Conv2d(in, out, kernel_size=1), AvgPool2d(2, stride=2), as ``nn.Sequential``.

    Reduces the channels and halves height and width: ``transition_block(23, 10)`` on
    (4, 23, 8, 8) gives (4, 10, 4, 4).
    """
    # BEGIN SOLUTION
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2),
    )
    # END SOLUTION


def densenet(num_convs_in_dense_blocks=(4, 4, 4, 4), num_channels=64, growth_rate=32):
    """The book's DenseNet (given code): ResNet's stem, 4 dense blocks with transitions, head."""
    net = nn.Sequential(
        nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    for i, num_convs in enumerate(num_convs_in_dense_blocks):
        DB = DenseBlock(num_convs, num_channels, growth_rate)
        net.add_module("DenseBlosk_%d" % i, DB)
        num_channels = DB.out_channels
        if i != len(num_convs_in_dense_blocks) - 1:
            net.add_module("transition_block_%d" % i, transition_block(num_channels, num_channels // 2))
            num_channels = num_channels // 2
    net.add_module("BN", nn.BatchNorm2d(num_channels))
    net.add_module("relu", nn.ReLU())
    net.add_module("global_avg_pool", GlobalAvgPool2d())
    net.add_module("fc", nn.Sequential(FlattenLayer(), nn.Linear(num_channels, 10)))
    return net
