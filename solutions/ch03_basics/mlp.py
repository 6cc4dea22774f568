"""D2L 3.8-3.10 (多层感知机, 从零开始实现, 简洁实现): multilayer perceptrons.

A hidden layer ``H = phi(X W1 + b1)`` followed by an output layer ``O = H W2 + b2``; without
the nonlinearity ``phi`` the two affine layers collapse into one. The book's network has
784 inputs, 256 hidden units with ReLU and 10 outputs (Fashion-MNIST), trained with
``nn.CrossEntropyLoss`` and minibatch SGD.

Training data arrive as a list (or any iterable) of minibatches ``(X, y)`` with ``X`` of
shape (batch, 1, 28, 28) and ``y`` of shape (batch,) (class indices).
"""
import torch
from torch import nn
from torch.nn import init


def relu(X):
    """ReLU(x) = max(x, 0), elementwise, written without ``torch.relu``/``F.relu``/``nn.ReLU``.

    Same shape and dtype as ``X``; ``X`` is not modified. The book's example:
    ``relu(tensor([-1., 2.]))`` is ``tensor([0., 2.])``. The book writes it as
    ``torch.max(input=X, other=torch.tensor(0.0))``.
    """
    # BEGIN SOLUTION
    return torch.max(input=X, other=torch.zeros((), dtype=X.dtype, device=X.device))
    # END SOLUTION


def activation_grads(x):
    """Derivatives of ReLU, sigmoid and tanh at every entry of ``x``, computed with autograd.

    Returns a tuple ``(relu_grad, sigmoid_grad, tanh_grad)`` of tensors shaped like ``x``.
    Use ``torch.relu``/``torch.sigmoid``/``torch.tanh`` here (the ReLU derivative is taken
    as 0 at 0, as PyTorch does). The three gradients must not leak into each other: the
    book plots them one after another on the same ``x`` and must call ``x.grad.zero_()``
    in between, because gradients accumulate. ``x`` itself is not modified (work on a
    detached copy that requires grad).

    Known answers on ``x = arange(-8, 8, 0.1)``: the sigmoid derivative peaks at 0.25 at
    x = 0 (sigmoid' = s (1 - s)), the tanh derivative peaks at 1 (tanh' = 1 - tanh^2), and
    the ReLU derivative is 0 for negative and 1 for positive inputs.
    """
    # BEGIN SOLUTION
    leaf = x.detach().clone().requires_grad_(True)
    grads = []
    for fn in (torch.relu, torch.sigmoid, torch.tanh):
        if leaf.grad is not None:
            leaf.grad.zero_()
        fn(leaf).sum().backward()
        grads.append(leaf.grad.clone())
    return tuple(grads)
    # END SOLUTION


def init_mlp_params(num_inputs=784, num_hiddens=256, num_outputs=10):
    """The scratch MLP's parameters ``[W1, b1, W2, b2]``, all float32 leaves that require grad.

    ``W1`` (num_inputs, num_hiddens) and ``W2`` (num_hiddens, num_outputs) are drawn from
    N(0, 0.01**2); ``b1`` (num_hiddens,) and ``b2`` (num_outputs,) are zeros.
    """
    # BEGIN SOLUTION
    W1 = torch.normal(0.0, 0.01, size=(num_inputs, num_hiddens), dtype=torch.float32)
    b1 = torch.zeros(num_hiddens, dtype=torch.float32)
    W2 = torch.normal(0.0, 0.01, size=(num_hiddens, num_outputs), dtype=torch.float32)
    b2 = torch.zeros(num_outputs, dtype=torch.float32)
    params = [W1, b1, W2, b2]
    for p in params:
        p.requires_grad_(True)
    return params
    # END SOLUTION


def mlp_net(X, params):
    """The scratch MLP: ``relu(X W1 + b1) W2 + b2`` with ``params = [W1, b1, W2, b2]``.

    ``X`` is first reshaped to (-1, num_inputs) where ``num_inputs = W1.shape[0]``, so image
    batches (batch, 1, 28, 28) work. Uses this module's ``relu``. Returns the raw scores
    (logits), shape (batch, num_outputs); no softmax.
    """
    # BEGIN SOLUTION
    W1, b1, W2, b2 = params
    X = X.reshape(-1, W1.shape[0])
    H = relu(torch.matmul(X, W1) + b1)
    return torch.matmul(H, W2) + b2
    # END SOLUTION


def train_mlp(train_iter, num_epochs=5, lr=0.5, num_hiddens=256, num_inputs=784, num_outputs=10):
    """Train a fresh scratch MLP (``init_mlp_params``, ``mlp_net``) and return its params.

    For each epoch and each minibatch ``(X, y)``: ``nn.CrossEntropyLoss()`` (the batch mean)
    of ``mlp_net(X, params)`` against ``y``, back-propagate, then a plain SGD step written by
    hand, ``param -= lr * param.grad`` (in place, under ``no_grad``), and zero the
    gradients. ``torch.optim`` is not allowed here. Returns ``[W1, b1, W2, b2]``.

    Deviation from the book: the book uses ``lr = 100`` with ``d2l.sgd``, which divides
    the (already averaged) gradient by the batch size 256 again, i.e. an effective step of
    about 0.39; here the step is ``lr`` times the mean gradient (default 0.5, as in 3.10).
    The book reaches about 0.85 test accuracy on Fashion-MNIST after 5 epochs.
    """
    # BEGIN SOLUTION
    params = init_mlp_params(num_inputs, num_hiddens, num_outputs)
    loss = nn.CrossEntropyLoss()
    for _ in range(num_epochs):
        for X, y in train_iter:
            l = loss(mlp_net(X, params), y)
            l.backward()
            with torch.no_grad():
                for p in params:
                    p -= lr * p.grad
                    p.grad.zero_()
    return params
    # END SOLUTION


def mlp_concise(num_inputs=784, num_hiddens=256, num_outputs=10):
    """``nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_hiddens), nn.ReLU(),
    nn.Linear(num_hiddens, num_outputs))``.

    As in the book, every parameter (weights and biases) is initialised from N(0, 0.01**2)
    with ``init.normal_``. Returns logits.
    """
    # BEGIN SOLUTION
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(num_inputs, num_hiddens),
        nn.ReLU(),
        nn.Linear(num_hiddens, num_outputs),
    )
    for param in net.parameters():
        init.normal_(param, mean=0.0, std=0.01)
    return net
    # END SOLUTION


def train_mlp_concise(train_iter, num_epochs=5, lr=0.5, num_hiddens=256):
    """Train a fresh ``mlp_concise(784, num_hiddens, 10)`` with ``nn.CrossEntropyLoss`` and
    ``torch.optim.SGD(lr=lr)``; return the trained net. The book uses lr 0.5 and reaches
    about 0.82-0.84 test accuracy on Fashion-MNIST after 5 epochs.
    """
    # BEGIN SOLUTION
    net = mlp_concise(784, num_hiddens, 10)
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(num_epochs):
        for X, y in train_iter:
            l = loss(net(X), y)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
    return net
    # END SOLUTION
