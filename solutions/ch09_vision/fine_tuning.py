"""D2L 9.2 (微调): fine-tuning a pretrained network with a new output layer.

The book fine-tunes an ImageNet-pretrained ResNet-18 on the hotdog data set: copy every
layer except the output layer, put a new randomly initialised output layer for the target
classes, and train everything, the new layer with a 10x larger learning rate. Pretrained
ImageNet weights cannot be downloaded here, so the graders pre-train the small ``SmallNet``
below on a synthetic source task and fine-tune it on a small two-class target task; the
functions work the same on torchvision's ``resnet18`` (whose output layer is also ``fc``).
"""
import time

import torch
from torch import nn


class SmallNet(nn.Module):
    """A small CNN with the same layout as torchvision's ResNets (given code): ``features``
    (two conv-BN-ReLU stages, global average pooling, flatten) and an output layer ``fc``
    (``nn.Linear(32, num_classes)``). Inputs are (batch, 3, H, W) images."""

    def __init__(self, num_classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.fc(self.features(x))


def evaluate_accuracy(data_iter, net, device=None):
    """Fraction of correct predictions over ``data_iter`` in eval mode (given code)."""
    device = device or next(net.parameters()).device
    was_training = net.training
    net.eval()
    correct, n = 0, 0
    with torch.no_grad():
        for X, y in data_iter:
            correct += (net(X.to(device)).argmax(dim=1) == y.to(device)).sum().item()
            n += y.shape[0]
    net.train(was_training)
    return correct / n


def train(train_iter, test_iter, net, loss, optimizer, device, num_epochs):
    """The book's ``train`` (9.1, given code), with the loss averaged over the batches of each
    epoch (the book's ``batch_count`` is not reset between epochs). Returns the list of
    ``(train_loss, train_acc, test_acc)`` per epoch."""
    net = net.to(device)
    history = []
    for epoch in range(num_epochs):
        net.train()
        l_sum, acc_sum, n, batches, start = 0.0, 0.0, 0, 0, time.time()
        for X, y in train_iter:
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
            l_sum += l.item()
            acc_sum += (y_hat.argmax(dim=1) == y).sum().item()
            n += y.shape[0]
            batches += 1
        test_acc = evaluate_accuracy(test_iter, net, device)
        history.append((l_sum / batches, acc_sum / n, test_acc))
        print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f, time %.1f sec'
              % (epoch + 1, l_sum / batches, acc_sum / n, test_acc, time.time() - start))
    return history


def replace_output_layer(net, num_classes):
    """Replace ``net.fc`` by a new ``nn.Linear(net.fc.in_features, num_classes)`` (randomly
    initialised, PyTorch's default initialisation), keeping every other layer and its
    pretrained values. Returns ``net`` (changed in place). Book: ResNet-18's
    ``Linear(in_features=512, out_features=1000, bias=True)`` becomes
    ``Linear(in_features=512, out_features=2, bias=True)``."""
    # BEGIN SOLUTION
    net.fc = nn.Linear(net.fc.in_features, num_classes)
    return net
    # END SOLUTION


def finetune_optimizer(net, lr, weight_decay=0.001):
    """``torch.optim.SGD`` with two parameter groups, in this order: every parameter of
    ``net`` except those of ``net.fc`` (in ``net.parameters()`` order) with learning rate
    ``lr``, then ``net.fc``'s parameters with ``10 * lr``. Both groups use ``weight_decay``."""
    # BEGIN SOLUTION
    output_ids = {id(p) for p in net.fc.parameters()}
    feature_params = [p for p in net.parameters() if id(p) not in output_ids]
    return torch.optim.SGD([{'params': feature_params},
                            {'params': net.fc.parameters(), 'lr': lr * 10}],
                           lr=lr, weight_decay=weight_decay)
    # END SOLUTION
