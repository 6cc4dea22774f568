"""Graders for ch03_basics.mlp (D2L 3.8-3.10).

Convergence runs on the project's Fashion-MNIST-format set (``fashion_mnist_root``:
scikit-learn's digits at 28x28, 1500 training and 297 test images), read here with
torchvision and handed to the student's training function as a list of minibatches. The
trained parameters come back and the test accuracy is computed here, in the grading process.
"""
import pytest
import torch

from d2lgrade import assert_close, call_timeout, call_without, from_scratch, hidden, ops, points, reference

MODULE = "ch03_basics.mlp"
ref = reference(MODULE)

# relu by hand: elementary ops only (so leaky_relu(x, 0), threshold, hardtanh, softplus ... are out).
from_scratch(MODULE, "relu", allow=ops.ELEMENTARY,
             names=["relu", "relu_", "ReLU", "relu6", "ReLU6", "threshold", "Threshold", "hardtanh",
                    "Hardtanh", "leaky_relu", "LeakyReLU", "rrelu", "elu", "celu", "selu", "gelu",
                    "softplus"])
# The scratch trainer: through the student's init_mlp_params and mlp_net (so through relu),
# with the spec's nn.CrossEntropyLoss and a hand-written step; no torch.optim, no solver, no
# other library routine. It receives only the training batches (accuracy is measured here).
from_scratch(MODULE, "train_mlp", deny=ops.LIBRARY - ops.SOFTMAX - ops.CROSS_ENTROPY,
             names=["optim", "lstsq", "solve", "pinv", "pinverse", "inverse", "svd"],
             requires=["init_mlp_params", "mlp_net"])


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture(scope="module")
def vjp(submission):
    def run(fn, *args, wrt=(0,), grad_output=None):
        return submission.probe("vjp", fn.value(), list(args), list(wrt), grad_output)
    return run


@pytest.fixture(scope="module")
def digits(fashion_mnist_root):
    """(train_X, train_y, test_X, test_y) of the project's set, in file order."""
    import torchvision
    out = []
    for train in (True, False):
        ds = torchvision.datasets.FashionMNIST(str(fashion_mnist_root), train=train, download=False,
                                               transform=torchvision.transforms.ToTensor())
        out += list(next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds)))))
    return out


# ---------------------------------------------------------------- relu

@points(1)
def test_relu_book_example(student):
    """relu(tensor([-1., 2.])) is tensor([0., 2.]), without torch.relu / F.relu / nn.ReLU."""
    out = student.relu(torch.tensor([-1.0, 2.0]))
    assert_close(out, torch.tensor([0.0, 2.0]), what="relu(tensor([-1., 2.]))")


@hidden
@points(2)
def test_relu_random(student):
    """Random inputs of several shapes and dtypes match the reference; X is not modified."""
    for shape, dtype in (((5, 7), torch.float32), ((3, 4, 2), torch.float64), ((11,), torch.float32)):
        X = torch.randn(shape, dtype=dtype)
        X0 = X.clone()
        out = student.relu(X)
        assert_close(out, ref.relu(X0), what=f"relu on a {dtype} tensor of shape {shape}", hidden=True)
        assert_close(X, X0, what="X after relu(X)", hidden=True)


@hidden
@points(1)
def test_relu_gradient(student, vjp):
    """Gradients flow through relu: 1 where x > 0, 0 where x < 0."""
    X = torch.randn(6, 5, dtype=torch.float64)
    X[X.abs() < 1e-3] = 0.5  # keep away from the kink
    out, (grad,) = vjp(student.relu, X)
    assert grad is not None, "relu(X) does not depend on X through autograd"
    assert_close(grad, (X > 0).to(X.dtype), what="the gradient of relu", hidden=True)


# ---------------------------------------------------------------- activation_grads

@points(1)
def test_activation_grads_book_plot(student):
    """On arange(-8, 8, 0.1): sigmoid' peaks at 0.25, tanh' at 1, relu' is 0 then 1."""
    x = torch.arange(-8.0, 8.0, 0.1)
    grads = student.activation_grads(x)
    assert isinstance(grads, (tuple, list)) and len(grads) == 3, \
        "activation_grads should return (relu_grad, sigmoid_grad, tanh_grad)"
    relu_g, sig_g, tanh_g = grads
    assert_close(relu_g, (x > 0).float(), what="the ReLU derivative")
    assert abs(sig_g.max().item() - 0.25) < 1e-4, \
        f"the sigmoid derivative should peak at 0.25, got {sig_g.max().item():.6f}"
    assert abs(tanh_g.max().item() - 1.0) < 1e-4, \
        f"the tanh derivative should peak at 1, got {tanh_g.max().item():.6f}"
    i = int((x.abs()).argmin())
    assert int(sig_g.argmax()) == i and int(tanh_g.argmax()) == i, "the derivatives should peak at x = 0"


@hidden
@points(1)
def test_activation_grads_random(student):
    """Random inputs: the three derivatives match the reference and x is left untouched."""
    x = torch.randn(4, 6) * 3
    x0 = x.clone()
    grads = student.activation_grads(x)
    expected = ref.activation_grads(x0)
    assert isinstance(grads, (tuple, list)) and len(grads) == 3, "expected three gradients"
    for name, g, e in zip(("relu", "sigmoid", "tanh"), grads, expected):
        assert_close(g, e, what=f"the {name} derivative", hidden=True)
    assert_close(x, x0, what="x after the call", hidden=True)
    assert not x.requires_grad and x.grad is None, "x itself must not be changed (requires_grad or .grad)"


# ---------------------------------------------------------------- init_mlp_params / mlp_net

def _check_params(params, sizes):
    assert isinstance(params, (list, tuple)) and len(params) == 4, "expected [W1, b1, W2, b2]"
    names = ("W1", "b1", "W2", "b2")
    for name, p, shape in zip(names, params, sizes):
        assert isinstance(p, torch.Tensor) and tuple(p.shape) == shape, \
            f"{name} should have shape {shape}, got {getattr(p, 'shape', type(p).__name__)}"
        assert p.dtype == torch.float32, f"{name} should be float32, got {p.dtype}"
        assert p.requires_grad, f"{name} should require grad"


@points(1)
def test_init_mlp_params_book_sizes(student):
    """784 -> 256 -> 10: shapes, float32, requires_grad, zero biases, N(0, 0.01^2) weights."""
    params = student.init_mlp_params()
    _check_params(params, [(784, 256), (256,), (256, 10), (10,)])
    W1, b1, W2, b2 = params
    assert_close(b1.detach(), torch.zeros(256), what="b1", kind="exact")
    assert_close(b2.detach(), torch.zeros(10), what="b2", kind="exact")
    std = W1.detach().std().item()
    assert 0.009 < std < 0.011 and abs(W1.detach().mean().item()) < 0.001, \
        f"W1 should be drawn from N(0, 0.01^2); its std is {std:.4f}"


@hidden
@points(1)
def test_init_mlp_params_other_sizes(student):
    """Other sizes work; W2 is drawn from N(0, 0.01^2) and two calls differ."""
    params = student.init_mlp_params(300, 500, 7)
    _check_params(params, [(300, 500), (500,), (500, 7), (7,)])
    std = params[2].detach().std().item()
    assert 0.0085 < std < 0.0115, "W2 is not drawn from N(0, 0.01^2)"
    again = student.init_mlp_params(300, 500, 7)
    assert not torch.equal(params[0], again[0]), "two calls returned the same W1"


@points(1)
def test_mlp_net_shapes(student):
    """mlp_net on an image batch (4, 1, 28, 28) gives (4, 10) logits = relu(X W1 + b1) W2 + b2."""
    params = [torch.randn(784, 256) * 0.1, torch.randn(256), torch.randn(256, 10) * 0.1, torch.randn(10)]
    X = torch.rand(4, 1, 28, 28)
    expected = (X.reshape(4, 784) @ params[0] + params[1]).clamp(min=0) @ params[2] + params[3]
    assert_close(student.mlp_net(X, params), expected, what="mlp_net(X, params)", kind="reduction")


@hidden
@points(2)
def test_mlp_net_random(student, vjp):
    """Random sizes and inputs match the reference, and gradients flow back to X."""
    params = [torch.randn(12, 9, dtype=torch.float64), torch.randn(9, dtype=torch.float64),
              torch.randn(9, 3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)]
    X = torch.randn(5, 3, 4, dtype=torch.float64)
    out, (grad,) = vjp(student.mlp_net, X, params)
    leaf = X.clone().requires_grad_(True)
    expected = ref.mlp_net(leaf, params)
    expected.backward(torch.ones_like(expected))
    assert_close(out, expected.detach(), what="mlp_net(X, params)", hidden=True, kind="reduction")
    assert grad is not None, "mlp_net(X, params) does not depend on X through autograd"
    assert_close(grad, leaf.grad, what="the gradient with respect to X", hidden=True, kind="reduction")


# ---------------------------------------------------------------- training

def _batches(X, y, batch_size):
    order = torch.randperm(len(y))
    return [(X[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(y), batch_size)]


def _mlp_accuracy(params, X, y):
    W1, b1, W2, b2 = [p.detach() for p in params]
    with torch.no_grad():
        H = (X.reshape(len(X), -1) @ W1 + b1).clamp(min=0)
        return ((H @ W2 + b2).argmax(dim=1) == y).float().mean().item()


def _net_params(submission, net):
    params = submission.probe("parameters", net)
    shapes = [tuple(p.shape) for p in params]
    assert shapes == [(256, 784), (256,), (10, 256), (10,)], \
        f"expected Linear(784, 256) and Linear(256, 10) parameters, got shapes {shapes}"
    return params


def _net_accuracy(submission, net, X, y):
    W1, b1, W2, b2 = _net_params(submission, net)
    return _mlp_accuracy([W1.T, b1, W2.T, b2], X, y)


@call_timeout(60)
@points(1)
def test_train_mlp_learns(student, digits, feedback):
    """Five epochs (lr 0.1, batch 50) of the scratch MLP reach > 0.75 test accuracy, without torch.optim."""
    train_X, train_y, test_X, test_y = digits
    params = call_without(student.train_mlp, _batches(train_X, train_y, 50), num_epochs=5, lr=0.1,
                          forbidden=["optim"])
    _check_params(params, [(784, 256), (256,), (256, 10), (10,)])
    acc = _mlp_accuracy(params, test_X, test_y)
    feedback(f"test accuracy after 5 epochs: {acc:.3f}")
    # The reference reaches 0.899-0.946 over 20 seeds (chance is 0.1).
    assert acc > 0.75, f"test accuracy {acc:.3f} after 5 epochs; expected more than 0.75"


@hidden
@call_timeout(60)
@points(2)
def test_train_mlp_converges(student, digits, feedback):
    """Ten epochs (lr 0.1, batch 50) of the scratch MLP reach the expected test accuracy."""
    train_X, train_y, test_X, test_y = digits
    params = student.train_mlp(_batches(train_X, train_y, 50), num_epochs=10, lr=0.1)
    _check_params(params, [(784, 256), (256,), (256, 10), (10,)])
    acc = _mlp_accuracy(params, test_X, test_y)
    feedback(f"test accuracy after 10 epochs: {acc:.3f}")
    # The reference reaches 0.933-0.960 over 20 seeds.
    assert acc > 0.88, "the test accuracy after 10 epochs is too low"


@points(1)
def test_mlp_concise_structure(student, submission):
    """mlp_concise(): Linear(784, 256), ReLU, Linear(256, 10), all parameters from N(0, 0.01^2)."""
    net = student.mlp_concise()
    W1, b1, W2, b2 = _net_params(submission, net)
    assert 0.009 < W1.std().item() < 0.011, f"W1 should be drawn from N(0, 0.01^2); its std is {W1.std().item():.4f}"
    assert 0.006 < b1.std().item() < 0.014, \
        f"the biases are initialised from N(0, 0.01^2) too (the book's loop); b1's std is {b1.std().item():.4f}"
    X = torch.rand(3, 1, 28, 28)
    expected = (X.reshape(3, 784) @ W1.T + b1).clamp(min=0) @ W2.T + b2
    assert_close(net(X), expected, what="net(X) (logits: no softmax inside the net)", kind="reduction")


@hidden
@points(1)
def test_mlp_concise_other_sizes(student, submission):
    """Other sizes: the forward pass matches relu(X W1^T + b1) W2^T + b2 from its parameters."""
    net = student.mlp_concise(20, 30, 4)
    params = submission.probe("parameters", net)
    assert [tuple(p.shape) for p in params] == [(30, 20), (30,), (4, 30), (4,)], \
        "wrong parameter shapes for mlp_concise(20, 30, 4)"
    W1, b1, W2, b2 = params
    X = torch.randn(6, 4, 5)
    expected = (X.reshape(6, 20) @ W1.T + b1).clamp(min=0) @ W2.T + b2
    assert_close(net(X), expected, what="mlp_concise(20, 30, 4)(X)", hidden=True, kind="reduction")


@call_timeout(60)
@points(1)
def test_train_mlp_concise_learns(student, submission, digits, feedback):
    """Five epochs (lr 0.1, batch 50) of the concise MLP reach > 0.75 test accuracy."""
    train_X, train_y, test_X, test_y = digits
    net = student.train_mlp_concise(_batches(train_X, train_y, 50), num_epochs=5, lr=0.1)
    acc = _net_accuracy(submission, net, test_X, test_y)
    feedback(f"test accuracy after 5 epochs: {acc:.3f}")
    # The reference reaches 0.896-0.939 over 20 seeds.
    assert acc > 0.75, f"test accuracy {acc:.3f} after 5 epochs; expected more than 0.75"


@hidden
@call_timeout(60)
@points(2)
def test_train_mlp_concise_converges(student, submission, digits, feedback):
    """Ten epochs (lr 0.1, batch 50) of the concise MLP reach the expected test accuracy."""
    train_X, train_y, test_X, test_y = digits
    net = student.train_mlp_concise(_batches(train_X, train_y, 50), num_epochs=10, lr=0.1)
    acc = _net_accuracy(submission, net, test_X, test_y)
    feedback(f"test accuracy after 10 epochs: {acc:.3f}")
    # The reference reaches 0.933-0.963 over 20 seeds.
    assert acc > 0.88, "the test accuracy after 10 epochs is too low"
