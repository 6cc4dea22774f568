"""D2L 4.5 (读取和存储): saving and loading tensors and models.

Every function takes the file's ``path`` (a string): write and read only there. Use
``torch.save`` and ``torch.load``; save a model's ``state_dict()``, not the model object
(loading a whole pickled model needs its class and arbitrary code;
``torch.load(path, weights_only=True)`` — the default since torch 2.6 — reads a state_dict
but refuses a pickled module).
"""
import torch
from torch import nn


class MLP(nn.Module):
    """The book's small model for this section (given): ``hidden = nn.Linear(3, 2)``, ReLU,
    ``output = nn.Linear(2, 1)``. Its state_dict has ``hidden.weight`` (2, 3),
    ``hidden.bias`` (2,), ``output.weight`` (1, 2) and ``output.bias`` (1,)."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 2)
        self.act = nn.ReLU()
        self.output = nn.Linear(2, 1)

    def forward(self, x):
        return self.output(self.act(self.hidden(x)))


def save_and_load(obj, path):
    """Save ``obj`` (a tensor, a list of tensors or a dict of str -> tensor) to ``path``, read it back.

    Returns what ``torch.load`` read: a new object equal to ``obj`` (same type, same keys or
    order, exactly the same tensor values). E.g. ``x = torch.ones(3)`` comes back as
    ``tensor([1., 1., 1.])``; ``[x, torch.zeros(4)]`` as a list of the two;
    ``{'x': x, 'y': y}`` as that dict. The file stays at ``path``.
    """
    # BEGIN SOLUTION
    torch.save(obj, path)
    return torch.load(path)
    # END SOLUTION


def save_state_dict(net, path):
    """Save ``net.state_dict()`` to ``path`` (parameters *and* buffers, e.g. BatchNorm's
    running statistics). Not the module object itself. Returns nothing."""
    # BEGIN SOLUTION
    torch.save(net.state_dict(), path)
    # END SOLUTION


def load_state_dict(net, path):
    """Load the state_dict saved at ``path`` into ``net`` (in place) and return ``net``.

    Strict loading: a file whose keys or shapes do not match ``net`` must raise an error
    (``load_state_dict``'s default ``strict=True``), never be half-loaded silently.
    """
    # BEGIN SOLUTION
    net.load_state_dict(torch.load(path))
    return net
    # END SOLUTION


def rebuild_mlp(path):
    """A new ``MLP()`` with the state_dict saved at ``path`` (from another ``MLP``) loaded.

    Its outputs are identical (``==``, not just close) to those of the saved net on any
    input: ``net2 = MLP(); net2.load_state_dict(torch.load(PATH)); net2(X) == net(X)``.
    """
    # BEGIN SOLUTION
    net2 = MLP()
    net2.load_state_dict(torch.load(path))
    return net2
    # END SOLUTION
