"""D2L 3.3 (线性回归的简洁实现): linear regression with ``torch.nn`` and ``torch.optim``.

The same model as 3.2, now built from library parts: ``torch.utils.data`` reads the data,
``nn.Linear`` is the model, ``nn.MSELoss`` the loss and ``optim.SGD`` the optimizer.
"""
import torch
import torch.utils.data as Data
from torch import nn, optim
from torch.nn import init


def linreg_net(num_inputs):
    """``nn.Sequential(nn.Linear(num_inputs, 1))`` with the book's initialisation.

    The weight (shape (1, num_inputs)) is drawn from N(0, 0.01**2), i.e. mean 0 and standard
    deviation 0.01 (careful: ``init.normal_(w, 0.01)`` would set the *mean*); the bias
    (shape (1,)) is 0. The parameter names are therefore ``0.weight`` and ``0.bias``.
    """
    # BEGIN SOLUTION
    net = nn.Sequential(nn.Linear(num_inputs, 1))
    init.normal_(net[0].weight, mean=0.0, std=0.01)
    init.constant_(net[0].bias, val=0.0)
    return net
    # END SOLUTION


def train_linreg_concise(features, labels, num_epochs=3, lr=0.03, batch_size=10):
    """Train ``linreg_net`` on ``(features, labels)`` and return the trained net.

    ``features`` is (n, d), ``labels`` is (n,). Read shuffled minibatches with
    ``Data.DataLoader(Data.TensorDataset(features, labels), batch_size, shuffle=True)``; use
    ``nn.MSELoss()`` and ``optim.SGD(net.parameters(), lr=lr)``. Compare the (batch, 1)
    output with ``y.view(-1, 1)``: an (batch,) target would broadcast to (batch, batch).
    With the book's data and settings (3 epochs, ``lr = 0.03``, batch 10) the weight is
    within about 1e-3 of ``[2, -3.4]`` and the bias of 4.2.
    """
    # BEGIN SOLUTION
    net = linreg_net(features.shape[1])
    loader = Data.DataLoader(Data.TensorDataset(features, labels), batch_size, shuffle=True)
    loss = nn.MSELoss()
    optimizer = optim.SGD(net.parameters(), lr=lr)
    for _ in range(num_epochs):
        for X, y in loader:
            l = loss(net(X), y.view(-1, 1))
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
    return net
    # END SOLUTION
