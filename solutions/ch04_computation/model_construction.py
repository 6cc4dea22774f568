"""D2L 4.1 (模型构造): building models by subclassing ``nn.Module``.

``MLP`` defines its layers in ``__init__`` and its computation in ``forward``;
``MySequential`` is a small version of ``nn.Sequential``; ``FancyMLP`` mixes a constant
(non-trainable) weight, a reused layer and Python control flow; ``NestMLP`` and
``nested_net`` nest modules inside modules.
"""
from collections import OrderedDict

import torch
from torch import nn


class MLP(nn.Module):
    """A multilayer perceptron with one hidden layer.

    Submodules (the attribute names matter, they name the parameters):
    ``hidden = nn.Linear(784, 256)``, ``act = nn.ReLU()``, ``output = nn.Linear(256, 10)``.
    ``forward(x) = output(act(hidden(x)))``: an input of shape (n, 784) gives (n, 10).
    Parameters: ``hidden.weight`` (256, 784), ``hidden.bias`` (256,), ``output.weight``
    (10, 256), ``output.bias`` (10,). Extra keyword arguments go to ``nn.Module``.
    """

    def __init__(self, **kwargs):
        # BEGIN SOLUTION
        super().__init__(**kwargs)
        self.hidden = nn.Linear(784, 256)
        self.act = nn.ReLU()
        self.output = nn.Linear(256, 10)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        a = self.act(self.hidden(x))
        return self.output(a)
        # END SOLUTION


class MySequential(nn.Module):
    """A minimal ``nn.Sequential``: applies its modules one after the other, in order.

    ``MySequential(m0, m1, ...)`` registers the modules under the names ``'0'``, ``'1'``,
    ...; ``MySequential(OrderedDict([(name, module), ...]))`` (a single ``OrderedDict``
    argument) registers them under the given names. Register them with ``add_module`` so
    their parameters are named like ``nn.Sequential``'s (``0.weight``, ``hidden.bias``).
    ``forward`` passes the input through every module in the order they were given.

    The book imports ``OrderedDict`` inside the class body, where ``__init__`` cannot see
    it (a NameError); it is imported at module level here.
    """

    def __init__(self, *args):
        # BEGIN SOLUTION
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)
        # END SOLUTION

    def forward(self, input):
        # BEGIN SOLUTION
        for module in self._modules.values():
            input = module(input)
        return input
        # END SOLUTION


def my_sequential_from_pairs(pairs):
    """Given: ``MySequential(OrderedDict(pairs))`` for a list of ``(name, module)`` pairs.

    A convenience for building the ``OrderedDict`` form where the modules live (the graders
    use it); nothing to implement here.
    """
    return MySequential(OrderedDict(pairs))


class FancyMLP(nn.Module):
    """A model with a constant weight, a reused layer and Python control flow.

    - ``rand_weight``: a (20, 20) tensor from ``torch.rand``, drawn once in ``__init__``.
      It is a constant: not an ``nn.Parameter``, never trained and with
      ``requires_grad=False``. Register it with
      ``self.register_buffer("rand_weight", ..., persistent=False)`` so that it moves with
      the module (``.to(device)``) while staying out of the parameters and the
      ``state_dict``. (The book stores a plain tensor attribute, which ``.to(device)`` leaves
      behind: the model then fails on a GPU. Reading ``net.rand_weight`` works either way.)
    - ``linear = nn.Linear(20, 20)``, the only parameters (``linear.weight``,
      ``linear.bias``).

    ``forward(x)`` for x of shape (n, 20): ``x = linear(x)``; ``x = relu(x @ rand_weight + 1)``;
    ``x = linear(x)`` (the same layer again: its parameters are shared); then, while the
    Frobenius norm of ``x`` is greater than 1, halve ``x``; if the norm is then below 0.8,
    multiply ``x`` by 10. Returns ``x.sum()``, a scalar tensor that keeps the graph.
    """

    def __init__(self, **kwargs):
        # BEGIN SOLUTION
        super().__init__(**kwargs)
        self.register_buffer("rand_weight", torch.rand(20, 20), persistent=False)
        self.linear = nn.Linear(20, 20)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        x = self.linear(x)
        x = nn.functional.relu(torch.mm(x, self.rand_weight) + 1)
        x = self.linear(x)
        while x.norm().item() > 1:
            x = x / 2
        if x.norm().item() < 0.8:
            x = x * 10
        return x.sum()
        # END SOLUTION


class NestMLP(nn.Module):
    """A module that holds a whole ``nn.Sequential``.

    ``net = nn.Sequential(nn.Linear(40, 30), nn.ReLU())`` (parameters ``net.0.weight``
    (30, 40) and ``net.0.bias`` (30,)); ``forward(x) = net(x)``: (n, 40) -> (n, 30).
    """

    def __init__(self, **kwargs):
        # BEGIN SOLUTION
        super().__init__(**kwargs)
        self.net = nn.Sequential(nn.Linear(40, 30), nn.ReLU())
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        return self.net(x)
        # END SOLUTION


def nested_net():
    """The book's nested model: ``nn.Sequential(NestMLP(), nn.Linear(30, 20), FancyMLP())``.

    An input of shape (n, 40) gives a scalar. Parameter names: ``0.net.0.weight``,
    ``0.net.0.bias``, ``1.weight``, ``1.bias``, ``2.linear.weight``, ``2.linear.bias``.
    """
    # BEGIN SOLUTION
    return nn.Sequential(NestMLP(), nn.Linear(30, 20), FancyMLP())
    # END SOLUTION
