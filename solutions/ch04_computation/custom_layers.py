"""D2L 4.4 (自定义层): layers without and with parameters.

``CenteredLayer`` has no parameters; ``MyDense`` keeps its weights in an
``nn.ParameterList`` and ``MyDictDense`` in an ``nn.ParameterDict``, so they are registered
(and trained, saved and moved with the module) like any other parameter.
"""
import torch
from torch import nn


class CenteredLayer(nn.Module):
    """Subtract the mean of all entries of the input: ``forward(x) = x - x.mean()``.

    No parameters. The gradient flows through the mean too (do not detach it or turn it
    into a Python number). The input is not modified.
    ``CenteredLayer()(torch.tensor([1., 2., 3., 4., 5.]))`` is ``[-2., -1., 0., 1., 2.]``;
    after ``nn.Linear(8, 128)`` the output of a (4, 8) batch has mean 0 (up to rounding).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def forward(self, x):
        # BEGIN SOLUTION
        return x - x.mean()
        # END SOLUTION


class MyDense(nn.Module):
    """A dense layer whose weights live in an ``nn.ParameterList`` called ``params``.

    ``params`` holds three (4, 4) parameters drawn from ``torch.randn``, then a (4, 1)
    one from ``torch.randn`` is appended: parameters ``params.0`` ... ``params.3``.
    ``forward(x)`` multiplies ``x`` (shape (n, 4)) by each of them in order with
    ``torch.mm``: ``x @ params[0] @ params[1] @ params[2] @ params[3]``, shape (n, 1).

    The book defines this class as ``MyDense`` but later uses it as ``MyListDense`` (a
    NameError); ``MyListDense`` is given below as a second name for the same class.
    """

    def __init__(self):
        # BEGIN SOLUTION
        super().__init__()
        self.params = nn.ParameterList([nn.Parameter(torch.randn(4, 4)) for i in range(3)])
        self.params.append(nn.Parameter(torch.randn(4, 1)))
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        for i in range(len(self.params)):
            x = torch.mm(x, self.params[i])
        return x
        # END SOLUTION


MyListDense = MyDense


class MyDictDense(nn.Module):
    """A dense layer whose weights live in an ``nn.ParameterDict`` called ``params``.

    ``params`` starts with ``linear1`` (4, 4) and ``linear2`` (4, 1), both from
    ``torch.randn``; then ``update`` adds ``linear3`` (4, 2). Parameters:
    ``params.linear1``, ``params.linear2``, ``params.linear3``.
    ``forward(x, choice='linear1') = torch.mm(x, params[choice])``: for x of shape (n, 4) the
    output has shape (n, 4), (n, 1) or (n, 2) for the three choices.
    """

    def __init__(self):
        # BEGIN SOLUTION
        super().__init__()
        self.params = nn.ParameterDict({
            'linear1': nn.Parameter(torch.randn(4, 4)),
            'linear2': nn.Parameter(torch.randn(4, 1)),
        })
        self.params.update({'linear3': nn.Parameter(torch.randn(4, 2))})
        # END SOLUTION

    def forward(self, x, choice='linear1'):
        # BEGIN SOLUTION
        return torch.mm(x, self.params[choice])
        # END SOLUTION
