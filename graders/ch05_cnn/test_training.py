"""Graders for ch05_cnn.training (D2L 5.5): evaluate_accuracy and train_ch5 with a device.

The unit tests use small nets built from torch modules in the student's process (not the
student's own layers), with known weights, so the expected figures are computed here.
Convergence uses the student's LeNet on the project's Fashion-MNIST-format digits.
"""
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from d2lgrade import (assert_close, assert_scalar_close, call_timeout, hidden, points, reference,
                      tier)

MODULE = "ch05_cnn.training"
ref = reference(MODULE)
lenet_ref = reference("ch05_cnn.lenet")


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture(scope="module")
def lenet(submission):
    return submission.module("ch05_cnn.lenet")


def _torch_net(submission, *, dropout=0.0, batchnorm=False, features=784):
    """A Sequential(Flatten, [Dropout], Linear(features, 10), [BatchNorm1d]) built in the child, and its local twin."""
    tnn = submission.module("torch.nn")
    parts, local = [tnn.Flatten()], [nn.Flatten()]
    if dropout:
        parts.append(tnn.Dropout(dropout))
        local.append(nn.Dropout(dropout))
    parts.append(tnn.Linear(features, 10))
    local.append(nn.Linear(features, 10))
    if batchnorm:
        parts.append(tnn.BatchNorm1d(10))
        local.append(nn.BatchNorm1d(10))
    remote = tnn.Sequential(*parts)
    twin = nn.Sequential(*local)
    state = twin.state_dict()
    if batchnorm:
        state = {k: v.clone() for k, v in state.items()}
        key = [k for k in state if k.endswith("running_mean")][0]
        state[key] = torch.randn(10)
        state[key.replace("mean", "var")] = torch.rand(10) + 0.5
        twin.load_state_dict(state)
    submission.probe("load_state_dict", remote, twin.state_dict())
    return remote, twin


def _batches(X, y, size):
    return [(X[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def _expected_accuracy(twin, batches):
    twin.eval()
    with torch.no_grad():
        correct = sum((twin(X).argmax(dim=1) == y).sum().item() for X, y in batches)
    return correct / sum(len(y) for _, y in batches)


@points(1)
def test_evaluate_accuracy_eval_mode_and_counts(student, submission, digits):
    """A net with dropout is evaluated in eval mode, over examples (uneven last batch), and left in train mode."""
    _, _, test_X, test_y = digits
    net, twin = _torch_net(submission, dropout=0.9)
    batches = _batches(test_X, test_y, 100)  # 100, 100, 97
    acc = student.evaluate_accuracy(batches, net)
    assert_scalar_close(acc, _expected_accuracy(twin, batches), what="evaluate_accuracy(test batches, net)")
    assert net.training is True, "the net must be back in training mode afterwards"


@hidden
@points(1)
def test_evaluate_accuracy_batchnorm_device(student, submission, digits):
    """Batch norm uses its moving statistics; an explicit CPU device works; the previous mode is restored."""
    train_X, train_y, _, _ = digits
    net, twin = _torch_net(submission, batchnorm=True)
    batches = _batches(train_X[:250], train_y[:250], 64)
    acc = student.evaluate_accuracy(batches, net, torch.device("cpu"))
    assert_scalar_close(acc, _expected_accuracy(twin, batches), what="evaluate_accuracy", hidden=True)
    submission.probe("set_mode", net, False)
    student.evaluate_accuracy(batches, net)
    assert net.training is False, "a net in eval mode must stay in eval mode"


def _replay_ch5(twin, train_batches, test_batches, lr, num_epochs):
    opt = torch.optim.SGD(twin.parameters(), lr=lr)
    history = []
    for _ in range(num_epochs):
        twin.train()
        losses, correct, n = [], 0, 0
        for X, y in train_batches:
            y_hat = twin(X)
            l = F.cross_entropy(y_hat, y)
            opt.zero_grad()
            l.backward()
            opt.step()
            losses.append(l.item())
            correct += (y_hat.argmax(dim=1) == y).sum().item()
            n += len(y)
        history.append((sum(losses) / len(losses), correct / n, _expected_accuracy(twin, test_batches)))
    return history


def _check_history(history, expected, hidden_=False):
    assert isinstance(history, (list, tuple)) and len(history) == len(expected), \
        f"train_ch5 must return one (train_loss, train_acc, test_acc) per epoch, got {history!r:.200}"
    for epoch, (got, exp) in enumerate(zip(history, expected), start=1):
        assert len(got) == 3, f"epoch {epoch}: expected (train_loss, train_acc, test_acc), got {got!r}"
        for name, g, e in zip(("train_loss", "train_acc", "test_acc"), got, exp):
            assert_scalar_close(g, e, what=f"epoch {epoch} {name}", hidden=hidden_, rtol=1e-4, atol=1e-5)


@points(1)
def test_train_ch5_history_per_epoch(student, submission, digits):
    """With lr = 0 every epoch reports the same mean batch loss, train and test accuracy (the loss count restarts each epoch)."""
    train_X, train_y, test_X, test_y = digits
    net, twin = _torch_net(submission)
    train_batches = _batches(train_X[:300], train_y[:300], 64)
    test_batches = _batches(test_X, test_y, 128)
    opt = submission.module("torch.optim").SGD(net.parameters(), lr=0.0)
    history = student.train_ch5(net, train_batches, test_batches, 64, opt, torch.device("cpu"), 3)
    _check_history(history, _replay_ch5(twin, train_batches, test_batches, 0.0, 3))


@hidden
@points(2)
def test_train_ch5_sgd_steps(student, submission, digits):
    """Two epochs of SGD (lr 0.5) give the same weights and figures as the reference loop, step for step."""
    train_X, train_y, test_X, test_y = digits
    net, twin = _torch_net(submission)
    train_batches = _batches(train_X[:400], train_y[:400], 50)
    test_batches = _batches(test_X, test_y, 100)
    opt = submission.module("torch.optim").SGD(net.parameters(), lr=0.5)
    history = student.train_ch5(net, train_batches, test_batches, 50, opt, torch.device("cpu"), 2)
    expected = _replay_ch5(twin, train_batches, test_batches, 0.5, 2)
    _check_history(history, expected, hidden_=True)
    state = submission.probe("state_dict", net)
    for k, v in twin.state_dict().items():
        assert_close(state[k], v, what=f"{k} after training", hidden=True, rtol=1e-4, atol=1e-5)


@hidden
@call_timeout(120)
@points(2)
def test_train_ch5_lenet_converges(student, submission, lenet, digits, feedback):
    """LeNet trained with train_ch5 (Adam, lr 0.002, batch 8, 6 epochs) reaches the expected test accuracy, measured here (a second run from fresh weights if the first one stalls)."""
    train_X, train_y, test_X, test_y = digits
    for attempt in (1, 2):
        if attempt == 2:
            # The sigmoid LeNet sometimes stalls at chance from its first weights (1 seed in
            # 100 for the reference, where one run was all it had): a broken train_ch5 fails
            # both runs, a correct one almost never does.
            submission.probe("seed", int(torch.randint(0, 2**31 - 1, ())))
        net = lenet.LeNet()
        order = torch.randperm(len(train_y))
        train_batches = _batches(train_X[order], train_y[order], 8)
        opt = submission.module("torch.optim").Adam(net.parameters(), lr=0.002)
        # The trainer's test_iter (its epoch lines) is a slice of the training set: the test
        # split is kept here, so fitting test_iter earns nothing (ARCHITECTURE, convergence tests).
        monitor = _batches(train_X[:32], train_y[:32], 32)
        history = student.train_ch5(net, train_batches, monitor, 8, opt, torch.device("cpu"), 6)
        submission.probe("set_mode", net, False)
        acc = (submission.probe("forward_no_grad", net, test_X).argmax(dim=1) == test_y).float().mean().item()
        feedback(f"LeNet test accuracy after 6 epochs (run {attempt}): {acc:.3f}")
        if acc > 0.8:
            break
    if isinstance(history, (list, tuple)) and all(isinstance(h, (list, tuple)) and len(h) == 3 for h in history):
        feedback.plot("LeNet trained with your train_ch5",
                      {"train accuracy": [h[1] for h in history],
                       "accuracy on test_iter (32 training images)": [h[2] for h in history]},
                      xlabel="epoch", ylabel="accuracy")
    # The reference reaches 0.912-0.973 here over 16 seeds (chance is about 0.1).
    assert acc > 0.8, "LeNet's accuracy on the held-back test images after train_ch5 is too low"


@tier("gpu")
@call_timeout(300)
@points(1)
def test_train_ch5_moves_net_and_data_to_cuda(student, submission, lenet, digits):
    """On CUDA, train_ch5 moves the net and every (CPU) batch to the device, and the net learns."""
    train_X, train_y, test_X, test_y = digits
    net = lenet.LeNet()
    opt = submission.module("torch.optim").Adam(net.parameters(), lr=0.002)
    order = torch.randperm(len(train_y))
    student.train_ch5(net, _batches(train_X[order], train_y[order], 8), _batches(train_X[:32], train_y[:32], 32), 8,
                      opt, torch.device("cuda"), 6)
    state = submission.probe("state_dict", net)
    assert all(v.device.type == "cuda" for v in state.values()), "the net's parameters are not on CUDA"
    submission.probe("set_mode", net, False)
    acc = (submission.probe("forward_no_grad", net, test_X.cuda()).argmax(dim=1).cpu() == test_y).float().mean()
    assert acc > 0.8, f"test accuracy {acc:.3f} after training on CUDA"


def _timed_train(student, submission, make_net, batches, device):
    """Seconds for one epoch of train_ch5, after a warm-up epoch on a copy of the data (train_ch5 syncs via .item())."""
    net = make_net()
    opt = submission.module("torch.optim").SGD(net.parameters(), lr=0.01)
    student.train_ch5(net, batches[:2], batches[:1], 0, opt, device, 1)  # warm-up (cuDNN, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    student.train_ch5(net, batches, batches[:1], 0, opt, device, 1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


@tier("gpu")
@call_timeout(300)
@points(1)
def test_cuda_faster_than_cpu(student, submission, lenet, feedback):
    """Training ResNet-18 (96x96, batch 32) on CUDA is at least 3x faster than on CPU; LeNet (batch 256) is not slower."""
    resnet = submission.module("ch05_cnn.resnet")
    X, y = torch.rand(32, 1, 96, 96), torch.randint(0, 10, (32,))
    batches = [(X, y)] * 6
    cpu = _timed_train(student, submission, resnet.resnet18, batches, torch.device("cpu"))
    gpu = _timed_train(student, submission, resnet.resnet18, batches, torch.device("cuda"))
    feedback(f"ResNet-18: CPU {cpu:.2f} s, CUDA {gpu:.2f} s ({cpu / gpu:.1f}x)")
    assert cpu / gpu >= 3.0, f"ResNet-18 on CUDA is only {cpu / gpu:.1f}x faster than on CPU"
    X, y = torch.rand(256, 1, 28, 28), torch.randint(0, 10, (256,))
    batches = [(X, y)] * 20
    cpu = _timed_train(student, submission, lenet.LeNet, batches, torch.device("cpu"))
    gpu = _timed_train(student, submission, lenet.LeNet, batches, torch.device("cuda"))
    feedback(f"LeNet: CPU {cpu:.2f} s, CUDA {gpu:.2f} s ({cpu / gpu:.1f}x)")
    assert cpu / gpu >= 1.0, f"LeNet on CUDA is slower than on CPU ({cpu / gpu:.2f}x)"
