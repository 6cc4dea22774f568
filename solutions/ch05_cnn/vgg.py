"""D2L 5.7 (使用重复元素的网络（VGG）): VGG blocks and VGG-11.

``vgg_block`` is graded; ``vgg`` (given) stacks the blocks as ``vgg_block_1`` ...
``vgg_block_n`` and adds the ``fc`` head. VGG-11 uses ``conv_arch`` below with
``fc_features = 512 * 7 * 7`` for 224x224 inputs; the book's small version divides every
channel count and the hidden units by ``ratio = 8``.
"""
import torch
from torch import nn

from .layers import FlattenLayer

conv_arch = ((1, 1, 64), (1, 64, 128), (2, 128, 256), (2, 256, 512), (2, 512, 512))
fc_features = 512 * 7 * 7
fc_hidden_units = 4096


def vgg_block(num_convs, in_channels, out_channels):
    """``num_convs`` x (Conv2d(kernel 3, padding 1) + ReLU), then MaxPool2d(2, stride 2), as ``nn.Sequential``.

    The first convolution maps ``in_channels`` to ``out_channels``, the others keep
    ``out_channels``. Layers are numbered 0, 1, ... in order (conv, relu, conv, relu, ...,
    pool). Height and width are halved (rounding down); e.g. ``vgg_block(2, 3, 8)`` on
    (1, 3, 16, 16) gives (1, 8, 8, 8).
    """
    # BEGIN SOLUTION
    blk = []
    for i in range(num_convs):
        if i == 0:
            blk.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        else:
            blk.append(nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1))
        blk.append(nn.ReLU())
    blk.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*blk)
    # END SOLUTION


def vgg(conv_arch, fc_features, fc_hidden_units=4096):
    """VGG from ``conv_arch`` = ((num_convs, in_channels, out_channels), ...) (given code)."""
    net = nn.Sequential()
    for i, (num_convs, in_channels, out_channels) in enumerate(conv_arch):
        net.add_module("vgg_block_" + str(i + 1), vgg_block(num_convs, in_channels, out_channels))
    net.add_module("fc", nn.Sequential(
        FlattenLayer(),
        nn.Linear(fc_features, fc_hidden_units),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(fc_hidden_units, fc_hidden_units),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(fc_hidden_units, 10),
    ))
    return net


def small_vgg(ratio=8):
    """The book's narrow VGG-11 for testing: every width divided by ``ratio`` (given code)."""
    small_conv_arch = [(1, 1, 64 // ratio), (1, 64 // ratio, 128 // ratio),
                       (2, 128 // ratio, 256 // ratio), (2, 256 // ratio, 512 // ratio),
                       (2, 512 // ratio, 512 // ratio)]
    return vgg(small_conv_arch, fc_features // ratio, fc_hidden_units // ratio)
