"""Graders for ch05_cnn.batch_norm (D2L 5.10): batch_norm, BatchNorm and BN-LeNet.

Momentum follows the book (weight of the old average): book 0.9 == nn.BatchNorm2d's 0.1.
"""
import pytest
import torch
from torch import nn

from d2lgrade import assert_close, call_timeout, call_without, from_scratch, hidden, ops, points, reference

MODULE = "ch05_cnn.batch_norm"
ref = reference(MODULE)
NO_BN = ["batch_norm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "instance_norm", "layer_norm",
         "group_norm", "native_batch_norm", "_batch_norm_impl_index", "cudnn_batch_norm"]

# From-scratch policies: every call (from the tests, BatchNorm and BN-LeNet) is traced in
# the child. batch_norm: elementary ops only (means, squares, sqrt). BatchNorm (all its
# methods) may build parameters and buffers but reach no normalisation kernel itself.
from_scratch(MODULE, "batch_norm", allow=ops.ELEMENTARY, names=NO_BN)
from_scratch(MODULE, "BatchNorm", deny=ops.NORMALIZATION, names=NO_BN)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _torch_bn(C, dims, gamma, beta, torch_momentum):
    bn = (nn.BatchNorm2d if dims == 4 else nn.BatchNorm1d)(C, eps=1e-5, momentum=torch_momentum)
    with torch.no_grad():
        bn.weight.copy_(gamma.reshape(-1))
        bn.bias.copy_(beta.reshape(-1))
    return bn


def _stats_shape(C, dims):
    return (1, C) if dims == 2 else (1, C, 1, 1)


def _check_train_step(student, X, momentum, hidden_):
    C, dims = X.shape[1], X.dim()
    shape = _stats_shape(C, dims)
    gamma, beta = torch.rand(shape) + 0.5, torch.randn(shape)
    mm, mv = torch.zeros(shape), torch.ones(shape)
    bn = _torch_bn(C, dims, gamma, beta, 1 - momentum)
    bn.train()
    for step in range(2):
        Xs = X * (step + 1) + step
        out = call_without(student.batch_norm, True, Xs, gamma, beta, mm.clone(), mv.clone(), 1e-5, momentum,
                           forbidden=NO_BN)
        assert isinstance(out, (tuple, list)) and len(out) == 3, "batch_norm must return (Y, moving_mean, moving_var)"
        Y, mm, mv = out
        with torch.no_grad():
            expected = bn(Xs)
        assert_close(Y, expected, what=f"Y in training mode (step {step + 1})", hidden=hidden_, kind="reduction")
        assert_close(mm, bn.running_mean.reshape(shape), what=f"moving_mean after step {step + 1}",
                     hidden=hidden_, kind="reduction")
        assert_close(mv, bn.running_var.reshape(shape), what=f"moving_var after step {step + 1}",
                     hidden=hidden_, kind="reduction")


@points(2)
def test_batch_norm_train_matches_nn_batchnorm2d(student):
    """4-D input, training mode: Y and the moving statistics equal nn.BatchNorm2d(momentum=0.1)'s after two steps."""
    _check_train_step(student, torch.randn(8, 3, 5, 5) * 2 + 1, 0.9, False)


@points(1)
def test_batch_norm_2d_input(student):
    """2-D input (batch, features), training mode: per-feature mean 0 and variance 1; matches nn.BatchNorm1d."""
    X = torch.randn(6, 4) * 3 - 2
    Y, _, _ = student.batch_norm(True, X, torch.ones(1, 4), torch.zeros(1, 4), torch.zeros(1, 4),
                                 torch.ones(1, 4), 1e-5, 0.9)
    assert Y.mean(dim=0).abs().max().item() < 1e-5, "the per-feature mean of Y is not 0"
    assert_close(Y.var(dim=0, unbiased=False), torch.ones(4), what="the per-feature variance of Y",
                 rtol=0.0, atol=1e-3)
    _check_train_step(student, X, 0.9, False)


@points(1)
def test_batch_norm_eval_uses_moving_statistics(student):
    """Prediction mode normalizes with moving_mean/moving_var and returns them unchanged."""
    X = torch.randn(4, 2, 3, 3)
    gamma, beta = torch.tensor([2.0, 0.5]).view(1, 2, 1, 1), torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)
    mm, mv = torch.tensor([0.5, -0.2]).view(1, 2, 1, 1), torch.tensor([4.0, 0.25]).view(1, 2, 1, 1)
    Y, mm2, mv2 = call_without(student.batch_norm, False, X, gamma, beta, mm, mv, 1e-5, 0.9, forbidden=NO_BN)
    assert_close(Y, gamma * (X - mm) / torch.sqrt(mv + 1e-5) + beta, what="Y in prediction mode")
    assert_close(mm2, mm, what="moving_mean after prediction")
    assert_close(mv2, mv, what="moving_var after prediction")


@hidden
@points(2)
def test_batch_norm_random(student):
    """Other shapes, odd sizes and momenta (0.7, 0.5) agree with nn.BatchNorm (momentum 1 - m)."""
    _check_train_step(student, torch.randn(5, 4, 3, 7) - 0.5, 0.7, True)
    _check_train_step(student, torch.randn(9, 6) * 0.3, 0.5, True)


def _bn_state(submission, layer):
    state = submission.probe("state_dict", layer)
    missing = {"gamma", "beta", "moving_mean", "moving_var"} - set(state)
    assert not missing, f"BatchNorm's state_dict lacks {sorted(missing)} (moving statistics must be buffers)"
    return state


@points(1)
def test_batchnorm_module_train_and_eval(student, submission):
    """BatchNorm(3, 4): gamma 1, beta 0, moving stats 0/1; training updates them like nn.BatchNorm2d; eval uses them."""
    layer = student.BatchNorm(3, 4)
    state = _bn_state(submission, layer)
    assert_close(state["gamma"], torch.ones(1, 3, 1, 1), what="initial gamma")
    assert_close(state["beta"], torch.zeros(1, 3, 1, 1), what="initial beta")
    assert_close(state["moving_mean"], torch.zeros(1, 3, 1, 1), what="initial moving_mean")
    assert_close(state["moving_var"], torch.ones(1, 3, 1, 1), what="initial moving_var")
    bn = nn.BatchNorm2d(3)
    for step in range(2):
        X = torch.randn(6, 3, 4, 4) * (step + 1) + 1
        assert_close(layer(X), bn(X).detach(), what=f"BatchNorm(3, 4)(X) in training mode, step {step + 1}",
                     kind="reduction")
    state = _bn_state(submission, layer)
    assert_close(state["moving_mean"].reshape(-1), bn.running_mean, what="moving_mean after two steps", kind="reduction")
    assert_close(state["moving_var"].reshape(-1), bn.running_var, what="moving_var after two steps", kind="reduction")
    submission.probe("set_mode", layer, False)
    bn.eval()
    X = torch.randn(2, 3, 4, 4)
    assert_close(layer(X), bn(X).detach(), what="BatchNorm(3, 4)(X) in eval mode", kind="reduction")
    after = _bn_state(submission, layer)
    assert_close(after["moving_mean"], state["moving_mean"], what="moving_mean after an eval-mode call")


@hidden
@points(1)
def test_batchnorm_module_2d(student, submission):
    """BatchNorm(5, 2) after a linear layer: training and eval outputs and statistics match nn.BatchNorm1d."""
    layer = student.BatchNorm(5, 2)
    bn = nn.BatchNorm1d(5)
    for step in range(3):
        X = torch.randn(7, 5) * 2 - step
        assert_close(layer(X), bn(X).detach(), what="BatchNorm(5, 2)(X) in training mode", hidden=True,
                     kind="reduction")
    state = _bn_state(submission, layer)
    assert tuple(state["gamma"].shape) == (1, 5), "gamma must have shape (1, num_features) for num_dims=2"
    assert_close(state["moving_var"].reshape(-1), bn.running_var, what="moving_var", hidden=True, kind="reduction")
    submission.probe("set_mode", layer, False)
    bn.eval()
    X = torch.randn(3, 5)
    assert_close(layer(X), bn(X).detach(), what="eval-mode output", hidden=True, kind="reduction")


@hidden
@call_timeout(120)
@points(2)
def test_bn_lenet_converges(student, submission, digits, feedback):
    """BN-LeNet (from-scratch BatchNorm) trained with train_ch5 (Adam 0.003, batch 32, 4 epochs) reaches the expected eval-mode test accuracy."""
    train_X, train_y, test_X, test_y = digits
    training = submission.module("ch05_cnn.training")
    net = student.bn_lenet()
    order = torch.randperm(len(train_y))
    batches = [(train_X[order[i:i + 32]], train_y[order[i:i + 32]]) for i in range(0, len(train_y), 32)]
    opt = submission.module("torch.optim").Adam(net.parameters(), lr=0.003)
    # test_iter is a slice of the training set; the test split is kept here (never sent).
    training.train_ch5(net, batches, [(train_X[:32], train_y[:32])], 32, opt, torch.device("cpu"), 4)
    submission.probe("set_mode", net, False)
    acc = (submission.probe("forward_no_grad", net, test_X).argmax(dim=1) == test_y).float().mean().item()
    feedback(f"BN-LeNet eval-mode test accuracy after 4 epochs: {acc:.3f}")
    # The reference reaches 0.855-0.997 here over 16 seeds (eval mode, moving statistics).
    assert acc > 0.75, "BN-LeNet's test accuracy is too low"
