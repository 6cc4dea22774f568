"""D2L 3.16 (实战Kaggle比赛：房价预测): house prices with a linear model and K-fold validation.

Data: Kaggle's "House Prices" ``train.csv`` (1460 rows: Id, 79 features, SalePrice) and
``test.csv`` (1459 rows, no SalePrice). Features are standardised, missing values set to 0
(the mean), and categorical columns one-hot encoded with a column for "missing". A linear
model is trained with Adam on the squared loss of the raw prices and judged by the
log-RMSE ``sqrt(mean((log y_hat - log y)^2))``.

Deviation from the book: the book's ``log_rmse`` computes ``sqrt(2 * MSELoss(...))`` (the
factor 2 undid MXNet's ``L2Loss`` 1/2, which PyTorch's ``MSELoss`` does not have), so its
printed RMSEs are sqrt(2) times the log-RMSE of its own formula: the book's 5-fold average
"valid rmse 0.241" is a true log-RMSE of about 0.17. Ours follows the formula.
"""
import pandas as pd
import torch
from torch import nn


def preprocess(train_data, test_data):
    """``(train_features, test_features, train_labels)`` as float32 tensors.

    ``train_data`` has an ``Id`` column first and ``SalePrice`` last; ``test_data`` has
    ``Id`` first and lacks ``SalePrice``. Steps (on the two feature tables stacked, train rows
    first, so both use the same statistics and the same columns):

    1. drop ``Id`` and ``SalePrice``;
    2. standardise every numeric column ``(x - mean) / std`` (pandas' ``std``, ddof 1;
       missing values are skipped), then replace missing numeric values by 0;
    3. ``pd.get_dummies(..., dummy_na=True)``: each non-numeric column becomes one 0/1
       column per category plus one for "missing", in pandas' column order (numeric columns
       first, in their order, then the dummies). Newer pandas returns bool dummies and
       string columns of dtype ``str``: select numeric columns by dtype (e.g.
       ``select_dtypes("number")``) and cast to float before building tensors.

    Shapes: (n_train, d), (n_test, d), and labels (n_train, 1) from ``SalePrice``. The book
    gets 354 columns on the Kaggle data (pandas-version dependent).
    """
    # BEGIN SOLUTION
    all_features = pd.concat((train_data.iloc[:, 1:-1], test_data.iloc[:, 1:]))
    numeric = all_features.select_dtypes(include="number").columns
    all_features[numeric] = all_features[numeric].apply(lambda x: (x - x.mean()) / x.std())
    all_features[numeric] = all_features[numeric].fillna(0)
    all_features = pd.get_dummies(all_features, dummy_na=True).astype(float)
    n_train = train_data.shape[0]
    values = all_features.values
    train_features = torch.tensor(values[:n_train], dtype=torch.float32)
    test_features = torch.tensor(values[n_train:], dtype=torch.float32)
    train_labels = torch.tensor(train_data.SalePrice.values, dtype=torch.float32).view(-1, 1)
    return train_features, test_features, train_labels
    # END SOLUTION


def get_net(feature_num):
    """``nn.Linear(feature_num, 1)`` with every parameter (weight and bias) drawn from
    N(0, 0.01^2)."""
    # BEGIN SOLUTION
    net = nn.Linear(feature_num, 1)
    for param in net.parameters():
        nn.init.normal_(param, mean=0, std=0.01)
    return net
    # END SOLUTION


def log_rmse(net, features, labels):
    """The log-RMSE ``sqrt(mean((log y_hat - log y)^2))`` of ``net`` on ``(features, labels)``.

    Predictions below 1 are clamped to 1 before the log (so it stays finite). Computed
    without recording gradients; returns a Python float. ``labels`` has shape (n, 1).
    This is the formula of the book's text; the book's code returns sqrt(2) times it.
    """
    # BEGIN SOLUTION
    with torch.no_grad():
        clipped_preds = torch.max(net(features), torch.tensor(1.0))
        mse = ((clipped_preds.log() - labels.view(clipped_preds.shape).log()) ** 2).mean()
        return torch.sqrt(mse).item()
    # END SOLUTION


def get_k_fold_data(k, i, X, y):
    """Split ``(X, y)`` for fold ``i`` of ``k``: ``(X_train, y_train, X_valid, y_valid)``.

    ``fold_size = X.shape[0] // k``; fold ``j`` is rows ``j * fold_size`` up to (not including)
    ``(j + 1) * fold_size``. Fold ``i`` is the validation set; the other folds, in order, are
    concatenated into the training set. Rows after ``k * fold_size`` are used by no fold.
    E.g. 11 rows, k = 5, i = 1: validation rows 2, 3; training rows 0, 1, 4, ..., 9.
    """
    # BEGIN SOLUTION
    assert k > 1
    fold_size = X.shape[0] // k
    X_train, y_train, X_valid, y_valid = None, None, None, None
    for j in range(k):
        idx = slice(j * fold_size, (j + 1) * fold_size)
        X_part, y_part = X[idx, :], y[idx]
        if j == i:
            X_valid, y_valid = X_part, y_part
        elif X_train is None:
            X_train, y_train = X_part, y_part
        else:
            X_train = torch.cat((X_train, X_part), dim=0)
            y_train = torch.cat((y_train, y_part), dim=0)
    return X_train, y_train, X_valid, y_valid
    # END SOLUTION


def train(net, train_features, train_labels, test_features, test_labels, num_epochs,
          learning_rate, weight_decay, batch_size):
    """Train ``net`` in place with Adam; return ``(train_ls, test_ls)``.

    ``torch.optim.Adam(net.parameters(), lr=learning_rate, weight_decay=weight_decay)`` on
    ``nn.MSELoss()`` of ``net(X)`` against ``y`` (the raw prices), minibatches of
    ``batch_size`` reshuffled every epoch. After each epoch append ``log_rmse`` on the whole
    training set to ``train_ls`` and, when ``test_labels`` is not None, on the test set to
    ``test_ls`` (else ``test_ls`` stays empty).
    """
    # BEGIN SOLUTION
    train_ls, test_ls = [], []
    loss = nn.MSELoss()
    dataset = torch.utils.data.TensorDataset(train_features, train_labels)
    train_iter = torch.utils.data.DataLoader(dataset, batch_size, shuffle=True)
    optimizer = torch.optim.Adam(params=net.parameters(), lr=learning_rate,
                                 weight_decay=weight_decay)
    net = net.float()
    for _ in range(num_epochs):
        for X, y in train_iter:
            l = loss(net(X.float()), y.float())
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
        train_ls.append(log_rmse(net, train_features, train_labels))
        if test_labels is not None:
            test_ls.append(log_rmse(net, test_features, test_labels))
    return train_ls, test_ls
    # END SOLUTION


def k_fold(k, X_train, y_train, num_epochs, learning_rate, weight_decay, batch_size):
    """K-fold cross-validation: ``(average final train log-RMSE, average final valid log-RMSE)``.

    For each fold ``i`` a fresh ``get_net(X_train.shape[1])`` is trained with ``train`` on
    ``get_k_fold_data(k, i, X_train, y_train)``, validating on fold ``i``; the last epoch's
    train and valid log-RMSE of each fold are averaged over the ``k`` folds (Python floats).
    Book (k = 5, 100 epochs, lr 5, weight decay 0, batch 64, Kaggle data): "avg valid rmse
    0.241" with its sqrt(2) factor, i.e. about 0.17 here.
    """
    # BEGIN SOLUTION
    train_l_sum, valid_l_sum = 0.0, 0.0
    for i in range(k):
        X_tr, y_tr, X_va, y_va = get_k_fold_data(k, i, X_train, y_train)
        net = get_net(X_train.shape[1])
        train_ls, valid_ls = train(net, X_tr, y_tr, X_va, y_va, num_epochs, learning_rate,
                                   weight_decay, batch_size)
        train_l_sum += train_ls[-1]
        valid_l_sum += valid_ls[-1]
    return train_l_sum / k, valid_l_sum / k
    # END SOLUTION
