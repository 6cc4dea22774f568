"""D2L 5.9 (含并行连结的网络（GoogLeNet）): the Inception block and GoogLeNet.

``Inception`` is graded; ``googlenet`` (given) assembles the book's five stages b1-b5
(note: the book's b2 has no ReLU between its convolutions; kept as given).
"""
import torch
import torch.nn.functional as F
from torch import nn

from .layers import FlattenLayer
from .nin import GlobalAvgPool2d


class Inception(nn.Module):
    """Four parallel paths concatenated along the channels: c1 + c2[1] + c3[1] + c4 output channels.

    Attribute names as in the book: path 1 ``p1_1`` = Conv2d(in_c, c1, 1); path 2 ``p2_1`` =
    Conv2d(in_c, c2[0], 1) then ``p2_2`` = Conv2d(c2[0], c2[1], 3, padding=1); path 3
    ``p3_1`` = Conv2d(in_c, c3[0], 1) then ``p3_2`` = Conv2d(c3[0], c3[1], 5, padding=2);
    path 4 ``p4_1`` = MaxPool2d(3, stride=1, padding=1) then ``p4_2`` = Conv2d(in_c, c4, 1).
    Every convolution is followed by a ReLU; the paths are concatenated in the order 1, 2, 3,
    4 along dim 1. Height and width are unchanged.
    """

    def __init__(self, in_c, c1, c2, c3, c4):
        super().__init__()
        # BEGIN SOLUTION
        self.p1_1 = nn.Conv2d(in_c, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_c, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_c, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_c, c4, kernel_size=1)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)
        # END SOLUTION


def googlenet():
    """The book's GoogLeNet (b1-b5, flatten, Linear(1024, 10)); the book feeds it 96x96 inputs (given code)."""
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(nn.Conv2d(64, 64, kernel_size=1),
                       nn.Conv2d(64, 192, kernel_size=3, padding=1),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b3 = nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32),
                       Inception(256, 128, (128, 192), (32, 96), 64),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b4 = nn.Sequential(Inception(480, 192, (96, 208), (16, 48), 64),
                       Inception(512, 160, (112, 224), (24, 64), 64),
                       Inception(512, 128, (128, 256), (24, 64), 64),
                       Inception(512, 112, (144, 288), (32, 64), 64),
                       Inception(528, 256, (160, 320), (32, 128), 128),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b5 = nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128),
                       Inception(832, 384, (192, 384), (48, 128), 128),
                       GlobalAvgPool2d())
    return nn.Sequential(b1, b2, b3, b4, b5, FlattenLayer(), nn.Linear(1024, 10))
