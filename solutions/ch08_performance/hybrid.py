"""D2L 8.1 (命令式和符号式混合编程), the PyTorch way: TorchScript.

The book skips this section for PyTorch ("PyTorch only uses imperative programming"). Its
PyTorch counterpart is TorchScript: ``torch.jit.script`` compiles a module (control flow
included) into a program that no longer needs Python, ``torch.jit.trace`` records the
operations of one example run (and so freezes whatever branch that run took), and
``torch.jit.save`` / ``torch.jit.load`` store and run the compiled program without the
module's Python class.
"""
import torch
from torch import nn


def fancy_func(a, b, c, d):
    """The book's imperative example: (a + b) + (c + d). ``fancy_func(1, 2, 3, 4)`` is 10."""
    # BEGIN SOLUTION
    e = a + b
    f = c + d
    return e + f
    # END SOLUTION


class HybridNet(nn.Module):
    """The book's MLP (given code): 512 -> 256 -> ReLU -> 128 -> ReLU -> 2."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                                 nn.Linear(128, 2))

    def forward(self, x):
        return self.net(x)


class GatedNet(nn.Module):
    """A net with data-dependent control flow (given code): rows of ``x`` with a positive sum
    go through ``pos``, the others through ``neg``; the result is scaled by ``self.scale``."""

    def __init__(self, n_in=8, n_out=3):
        super().__init__()
        self.pos = nn.Linear(n_in, n_out)
        self.neg = nn.Linear(n_in, n_out)
        self.scale = 2.0

    def forward(self, x):
        if bool(x.sum() > 0):
            return self.pos(x) * self.scale
        return self.neg(x) - self.scale


def to_torchscript(net):
    """A TorchScript version of ``net`` (an ``nn.Module``) that computes the same outputs as
    the eager module for every input, data-dependent branches included.

    Use scripting, not tracing: a trace records the branch of its example input only.
    The result is a ``torch.jit.ScriptModule``; ``net`` itself is not changed.
    """
    # BEGIN SOLUTION
    return torch.jit.script(net)
    # END SOLUTION


def save_scripted(net, path):
    """Compile ``net`` with TorchScript (as ``to_torchscript``) and save the program to ``path``
    with ``torch.jit.save``, so that ``torch.jit.load(path)`` runs it in a process that does
    not have ``net``'s Python class. Returns nothing."""
    # BEGIN SOLUTION
    torch.jit.save(to_torchscript(net), path)
    # END SOLUTION
