"""D2L 5.8 (网络中的网络（NiN）): NiN blocks and global average pooling.

``nin_block`` and ``GlobalAvgPool2d`` are graded; ``nin`` (given) assembles the book's
network. (The book's 5.8 code forgets ``import torch.nn.functional as F``; import what you use.)
"""
import torch
import torch.nn.functional as F
from torch import nn

from .layers import FlattenLayer


def nin_block(in_channels, out_channels, kernel_size, stride, padding):
    """Conv2d(in, out, kernel_size, stride, padding), ReLU, then twice (1x1 Conv2d(out, out), ReLU).

    An ``nn.Sequential`` with the six layers numbered 0-5 in that order. The 1x1 convolutions
    act as a per-pixel fully connected layer over the channels.
    """
    # BEGIN SOLUTION
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
    )
    # END SOLUTION


class GlobalAvgPool2d(nn.Module):
    """Average each channel over all of its positions: (batch, C, H, W) -> (batch, C, 1, 1).

    Works for any H and W (the window is the whole feature map); no parameters.
    """

    def forward(self, x):
        # BEGIN SOLUTION
        return F.avg_pool2d(x, kernel_size=x.size()[2:])
        # END SOLUTION


def nin():
    """The book's NiN for 1x224x224 inputs and 10 classes (given code)."""
    return nn.Sequential(
        nin_block(1, 96, kernel_size=11, stride=4, padding=0),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nin_block(96, 256, kernel_size=5, stride=1, padding=2),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nin_block(256, 384, kernel_size=3, stride=1, padding=1),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Dropout(0.5),
        nin_block(384, 10, kernel_size=3, stride=1, padding=1),
        GlobalAvgPool2d(),
        FlattenLayer(),
    )
