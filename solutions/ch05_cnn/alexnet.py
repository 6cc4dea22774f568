"""D2L 5.6 (深度卷积神经网络（AlexNet）): AlexNet for one-channel 224x224 images, 10 classes."""
import torch
from torch import nn


class AlexNet(nn.Module):
    """The book's AlexNet, with the attribute names ``conv`` and ``fc`` (two ``nn.Sequential``).

    ``conv``: Conv2d(1, 96, 11, 4), ReLU, MaxPool2d(3, 2), Conv2d(96, 256, 5, 1, 2), ReLU,
    MaxPool2d(3, 2), Conv2d(256, 384, 3, 1, 1), ReLU, Conv2d(384, 384, 3, 1, 1), ReLU,
    Conv2d(384, 256, 3, 1, 1), ReLU, MaxPool2d(3, 2).
    ``fc``: Linear(256*5*5, 4096), ReLU, Dropout(0.5), Linear(4096, 4096), ReLU, Dropout(0.5),
    Linear(4096, 10). For a 1x224x224 input the conv part gives 256@5x5 (6400 features);
    46,764,746 parameters in all. ``forward`` (given) flattens per example.
    """

    def __init__(self):
        super().__init__()
        # BEGIN SOLUTION
        self.conv = nn.Sequential(
            nn.Conv2d(1, 96, 11, 4),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, 1, 2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(384, 384, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, 1, 1),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
        )
        self.fc = nn.Sequential(
            nn.Linear(256 * 5 * 5, 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, 10),
        )
        # END SOLUTION

    def forward(self, img):
        feature = self.conv(img)
        return self.fc(feature.view(img.shape[0], -1))
