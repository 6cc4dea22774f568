"""D2L 5.5 (卷积神经网络（LeNet）): LeNet-5 with sigmoid activations and max pooling."""
import torch
from torch import nn


class LeNet(nn.Module):
    """The book's LeNet for (batch, 1, 28, 28) images and 10 classes.

    ``self.conv`` = ``nn.Sequential(Conv2d(1, 6, 5), Sigmoid(), MaxPool2d(2, 2), Conv2d(6, 16, 5),
    Sigmoid(), MaxPool2d(2, 2))`` and ``self.fc`` = ``nn.Sequential(Linear(16*4*4, 120),
    Sigmoid(), Linear(120, 84), Sigmoid(), Linear(84, 10))``, with exactly these attribute
    names and indices (state_dict keys such as ``conv.0.weight`` and ``fc.4.bias``). Shapes:
    1@28x28 -> 6@24x24 -> 6@12x12 -> 16@8x8 -> 16@4x4 -> 256 -> 120 -> 84 -> 10;
    44,426 parameters. ``forward(img)`` flattens the conv output per example and returns the
    10 raw scores (no softmax).
    """

    def __init__(self):
        super().__init__()
        # BEGIN SOLUTION
        self.conv = nn.Sequential(
            nn.Conv2d(1, 6, 5),
            nn.Sigmoid(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5),
            nn.Sigmoid(),
            nn.MaxPool2d(2, 2),
        )
        self.fc = nn.Sequential(
            nn.Linear(16 * 4 * 4, 120),
            nn.Sigmoid(),
            nn.Linear(120, 84),
            nn.Sigmoid(),
            nn.Linear(84, 10),
        )
        # END SOLUTION

    def forward(self, img):
        # BEGIN SOLUTION
        feature = self.conv(img)
        return self.fc(feature.view(img.shape[0], -1))
        # END SOLUTION
