"""D2L 3.11 (模型选择、欠拟合和过拟合): polynomial fitting, underfitting and overfitting.

The book's data: ``y = 1.2 x - 3.4 x^2 + 5.6 x^3 + 5 + eps`` with ``x ~ N(0, 1)`` and noise
``eps ~ N(0, 0.01^2)``, 100 training and 100 test samples. A linear model on the features
``[x, x^2, x^3]`` recovers the weights (a "normal" fit); on ``x`` alone it underfits (large
training loss); trained on only 2 samples it overfits (low training loss, high test loss).
No plotting here: the training function returns the losses and the learned weights.
"""
import torch
from torch import nn

TRUE_W = [1.2, -3.4, 5.6]
TRUE_B = 5.0


def make_poly_data(n_train=100, n_test=100, true_w=TRUE_W, true_b=TRUE_B):
    """Given: the book's data set. Returns ``(features, poly, labels)`` with ``features``
    (n, 1) from N(0, 1), ``poly = poly_features(features)`` (n, 3) and labels (n,); the
    first ``n_train`` rows are for training, the rest for testing."""
    features = torch.randn((n_train + n_test, 1))
    poly = poly_features(features)
    labels = poly @ torch.tensor(true_w, dtype=torch.float32) + true_b
    labels = labels + torch.normal(0.0, 0.01, size=labels.shape)
    return features, poly, labels


def poly_features(features):
    """``[x, x^2, x^3]`` for a column ``features`` of shape (n, 1): returns (n, 3).

    Same dtype as ``features``. For the book's first rows ``[[-1.0613], [-0.8386]]`` it is
    ``[[-1.0613, 1.1264, -1.1954], [-0.8386, 0.7032, -0.5897]]``.
    """
    # BEGIN SOLUTION
    return torch.cat((features, features ** 2, features ** 3), 1)
    # END SOLUTION


def fit_and_plot(train_features, test_features, train_labels, test_labels, num_epochs=100, lr=0.01):
    """Fit ``nn.Linear(train_features.shape[-1], 1)`` (default init) and report the losses.

    Minibatch SGD (``torch.optim.SGD(lr=lr)``) on ``nn.MSELoss()`` with
    ``batch_size = min(10, number of training samples)``, reshuffled every epoch, for
    ``num_epochs`` epochs. Labels have shape (n,); compare ``net(X)`` (n, 1) with
    ``y.view(-1, 1)`` (comparing (n, 1) with (n,) would broadcast to (n, n)). After each
    epoch append the MSE over the whole training set and over the whole test set (as
    Python floats) to ``train_ls`` and ``test_ls``.

    Returns ``(train_ls, test_ls, weight, bias)`` with ``weight`` of shape (1, d) and
    ``bias`` of shape (1,) (detached tensors). Book (100 epochs, lr 0.01): the cubic
    features reach train/test loss ~1e-4 and weights ~[1.2, -3.4, 5.6], bias ~5; the
    linear feature alone ends with train loss ~250; cubic features on 2 samples end with a
    small train loss and a test loss ~170.
    """
    # BEGIN SOLUTION
    net = nn.Linear(train_features.shape[-1], 1)
    loss = nn.MSELoss()
    batch_size = min(10, train_labels.shape[0])
    dataset = torch.utils.data.TensorDataset(train_features, train_labels)
    train_iter = torch.utils.data.DataLoader(dataset, batch_size, shuffle=True)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    train_ls, test_ls = [], []
    for _ in range(num_epochs):
        for X, y in train_iter:
            l = loss(net(X), y.view(-1, 1))
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
        with torch.no_grad():
            train_ls.append(loss(net(train_features), train_labels.view(-1, 1)).item())
            test_ls.append(loss(net(test_features), test_labels.view(-1, 1)).item())
    return train_ls, test_ls, net.weight.detach().clone(), net.bias.detach().clone()
    # END SOLUTION
