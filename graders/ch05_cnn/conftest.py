"""Shared fixtures of the chapter-5 graders (trusted; they run in the grading process).

* ``digits``: the project's Fashion-MNIST-format set as tensors (train_X, train_y, test_X,
  test_y), read with torchvision in the parent.
* ``layers``: type names of the layers of a student ``nn.Sequential`` (or of an attribute).
* ``shape_table``: the book's "output shape" loop over ``named_children`` of a student net,
  run layer by layer in the child, returning ``[(name, shape), ...]``.
* ``same_as_reference``: load a student module's ``state_dict`` into the reference module and
  compare their outputs on the same input.
* ``one_step``: one SGD step on a student net with the cross-entropy gradient computed here;
  returns the loss before and after.
"""
import pytest
import torch
import torch.nn.functional as F

from d2lgrade import GradeFailure, assert_close


@pytest.fixture(scope="session")
def digits(fashion_mnist_root):
    import torchvision
    out = []
    for train in (True, False):
        ds = torchvision.datasets.FashionMNIST(str(fashion_mnist_root), train=train, download=False,
                                               transform=torchvision.transforms.ToTensor())
        out += list(next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds)))))
    return out


@pytest.fixture
def layers():
    def run(seq):
        return [m.remote_type.rsplit(".", 1)[-1] if hasattr(m, "remote_type") else type(m).__name__
                for m in seq]
    return run


@pytest.fixture
def shape_table(submission):
    def run(net, X):
        table = []
        for name, blk in net.named_children():
            X = submission.probe("forward_no_grad", blk, X)
            if not isinstance(X, torch.Tensor):
                raise GradeFailure(f"layer {name!r} did not return a tensor")
            table.append((name, tuple(X.shape)))
        return table
    return run


@pytest.fixture
def same_as_reference(submission):
    def run(net, ref_net, X, *, train=False, what="the output", hidden=True):
        __tracebackhide__ = True
        state = submission.probe("state_dict", net)
        ref_state = ref_net.state_dict()
        if set(state) != set(ref_state):
            raise GradeFailure(f"{what}: parameter/buffer names differ from the specification: "
                               f"got {sorted(state)}, expected {sorted(ref_state)}")
        for k, v in state.items():
            if tuple(v.shape) != tuple(ref_state[k].shape):
                raise GradeFailure(f"{what}: {k} has shape {tuple(v.shape)}, expected "
                                   f"{tuple(ref_state[k].shape)}")
        ref_net.load_state_dict(state)
        ref_net.train(train)
        submission.probe("set_mode", net, train)
        out = submission.probe("forward_no_grad", net, X)
        with torch.no_grad():
            expected = ref_net(X)
        assert_close(out, expected, what=what, hidden=hidden, kind="reduction")
        return out
    return run


@pytest.fixture
def one_step(submission):
    def run(net, X, y, lr, *, train=True):
        submission.probe("set_mode", net, train)
        logits = submission.probe("forward_no_grad", net, X)
        if not isinstance(logits, torch.Tensor) or logits.shape != (len(y), 10):
            raise GradeFailure(f"expected logits of shape {(len(y), 10)}, got "
                               f"{getattr(logits, 'shape', logits)}")
        z = logits.detach().clone().requires_grad_(True)
        loss0 = F.cross_entropy(z, y)
        loss0.backward()
        opt = submission.module("torch.optim").SGD(net.parameters(), lr=lr)
        opt.zero_grad()
        submission.probe("vjp", net, [X], [], z.grad)
        opt.step()
        after = submission.probe("forward_no_grad", net, X)
        return loss0.item(), F.cross_entropy(after, y).item()
    return run
