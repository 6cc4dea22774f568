"""D2L 4.2 (模型参数的访问、初始化和共享): accessing, initializing and sharing parameters.

The book's running model is ``nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))``
(``make_net`` below, given). Its parameters are named ``0.weight`` (3, 4), ``0.bias`` (3,),
``2.weight`` (1, 3) and ``2.bias`` (1,). Functions that change a net's parameters change
them in place and return the same net.
"""
import torch
from torch import nn
from torch.nn import init


def make_net():
    """The book's model: ``nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))``."""
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))


class MyModel(nn.Module):
    """Only ``nn.Parameter`` attributes are registered as parameters.

    ``weight1 = nn.Parameter(torch.rand(20, 20))`` is a parameter; ``weight2 =
    torch.rand(20, 20)`` is a plain tensor attribute and is not. ``named_parameters()``
    lists ``weight1`` only. ``forward(x)`` returns ``x @ weight1 + x @ weight2`` for x of
    shape (n, 20) (the book's ``forward`` is empty; this one lets both be used).
    """

    def __init__(self, **kwargs):
        # BEGIN SOLUTION
        super().__init__(**kwargs)
        self.weight1 = nn.Parameter(torch.rand(20, 20))
        self.weight2 = torch.rand(20, 20)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        return torch.mm(x, self.weight1) + torch.mm(x, self.weight2)
        # END SOLUTION


def first_weight_grad(net, X):
    """The gradient of ``net(X).sum()`` with respect to ``net[0].weight``.

    Clear any gradient left in the net's parameters first (``net.zero_grad()``), so two
    calls give the same answer, then back-propagate ``Y = net(X).sum()`` and return
    ``net[0].weight.grad``. For the book's net and X of shape (n, 4) the result has shape
    (3, 4); a hidden unit whose ReLU is inactive for every example has a zero row.
    """
    # BEGIN SOLUTION
    net.zero_grad()
    Y = net(X).sum()
    Y.backward()
    return net[0].weight.grad
    # END SOLUTION


def init_normal_zero_bias(net, std=0.01):
    """Every parameter whose name contains ``weight`` from N(0, std**2), every ``bias`` 0.

    Use ``net.named_parameters()`` with ``init.normal_`` and ``init.constant_``. For the book's
    net the biases become ``0.bias = [0., 0., 0.]`` and ``2.bias = [0.]``. Returns ``net``.
    """
    # BEGIN SOLUTION
    for name, param in net.named_parameters():
        if 'weight' in name:
            init.normal_(param, mean=0, std=std)
        if 'bias' in name:
            init.constant_(param, val=0)
    return net
    # END SOLUTION


def add_to_biases(net, value=1.0):
    """Add ``value`` to every bias of ``net`` in place, through ``param.data`` (no autograd).

    After ``init_normal_zero_bias`` the book's net has ``0.bias = [1., 1., 1.]`` and
    ``2.bias = [1.]``. Weights are left alone. Returns ``net``.
    """
    # BEGIN SOLUTION
    for name, param in net.named_parameters():
        if 'bias' in name:
            param.data += value
    return net
    # END SOLUTION


def init_weight_(tensor):
    """The book's custom initializer, in place: U(-10, 10), then zero every |entry| < 5.

    Under ``torch.no_grad()`` (so it also works on a parameter that requires grad): fill
    ``tensor`` from the uniform distribution on [-10, 10], then multiply it by the mask
    ``|tensor| >= 5``. Every entry ends up 0 or with absolute value in [5, 10]; about half
    are 0. Modifies ``tensor`` itself and returns it (the book's returns None: the grader
    accepts both).
    """
    # BEGIN SOLUTION
    with torch.no_grad():
        tensor.uniform_(-10, 10)
        tensor *= (tensor.abs() >= 5).float()
    return tensor
    # END SOLUTION


def shared_net(weight=3.0):
    """Two uses of one ``nn.Linear(1, 1, bias=False)`` layer: ``nn.Sequential(linear, linear)``.

    The single weight is set to ``weight`` with ``init.constant_``. Both positions hold the
    same module, so the net has exactly one parameter (``0.weight``) and its gradient
    accumulates over both uses. Book example (weight 3, x = ones(1, 1)):
    ``y = net(x).sum() = 9`` and after ``y.backward()`` the weight's gradient is 3 + 3 = 6.
    """
    # BEGIN SOLUTION
    linear = nn.Linear(1, 1, bias=False)
    init.constant_(linear.weight, val=weight)
    return nn.Sequential(linear, linear)
    # END SOLUTION
