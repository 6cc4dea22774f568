"""Graders for ch05_cnn.conv_layer (D2L 5.1): corr2d, Conv2D, learning the edge kernel."""
import pytest
import torch

from d2lgrade import assert_close, from_scratch, hidden, ops, points, reference

MODULE = "ch05_cnn.conv_layer"
ref = reference(MODULE)
NO_CONV = ["conv2d", "conv1d", "conv3d", "conv", "convolution", "_convolution", "unfold", "fold",
           "Conv2d", "conv_transpose2d", "im2col", "correlate", "correlate2d", "convolve"]


def _corr2d_stand_in(X, K):
    """The grader's corr2d, standing in for a wrong one inside the student's Conv2D,
    learn_kernel and chapter 5.3 functions (issue 19). Float32 like the spec and
    differentiable; windows by strides, so its forward and backward use only ops the
    dependents' own policies allow (a library convolution's backward would run in them)."""
    X, K = X.float(), K.float()
    h, w = K.shape
    rows, cols = X.shape[0] - h + 1, X.shape[1] - w + 1
    s0, s1 = X.stride()
    windows = X.as_strided((rows, cols, h, w), (s0, s1, s0, s1), X.storage_offset())
    return (windows * K).sum(dim=(2, 3))


# From-scratch policies: every call of these, from any test and from the student's other
# functions, is traced in the child (elementary ops only: no convolution kernel, im2col, fft).
from_scratch(MODULE, "corr2d", allow=ops.ELEMENTARY, names=NO_CONV, substitute=_corr2d_stand_in)
from_scratch(MODULE, "Conv2D", allow=ops.ELEMENTARY, names=NO_CONV)
from_scratch(MODULE, "learn_kernel", deny=ops.LIBRARY, names=NO_CONV + ["optim"], requires=["Conv2D"])


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _edge_image():
    X = torch.ones(6, 8)
    X[:, 2:6] = 0
    return X


@points(1)
def test_corr2d_book_example(student):
    """corr2d([[0,1,2],[3,4,5],[6,7,8]], [[0,1],[2,3]]) is [[19, 25], [37, 43]] (float), without conv routines."""
    X = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    K = torch.tensor([[0, 1], [2, 3]])
    Y = student.corr2d(X, K)
    assert_close(Y, torch.tensor([[19.0, 25.0], [37.0, 43.0]]), what="corr2d(X, K)", kind="exact")


@points(1)
def test_corr2d_edge_detection(student):
    """The book's edge image with K = [[1, -1]] gives 1 at white->black and -1 at black->white edges."""
    expected = torch.zeros(6, 7)
    expected[:, 1], expected[:, 5] = 1.0, -1.0
    Y = student.corr2d(_edge_image(), torch.tensor([[1.0, -1.0]]))
    assert_close(Y, expected, what="corr2d(edge image, [[1, -1]])", kind="exact")


@hidden
@points(2)
def test_corr2d_random_shapes(student):
    """Odd and non-square inputs and kernels (including a kernel as large as the input) agree with the reference."""
    for xs, ks in [((7, 5), (3, 2)), ((4, 9), (1, 4)), ((5, 5), (5, 5)), ((6, 3), (2, 1))]:
        X, K = torch.randn(xs), torch.randn(ks)
        Y = student.corr2d(X, K)
        assert_close(Y, ref.corr2d(X, K), what=f"corr2d on {xs} with kernel {ks}", hidden=True,
                     kind="reduction")


@hidden
@points(1)
def test_corr2d_gradients(student, submission):
    """Gradients flow to both X and K, and equal the reference's."""
    X, K = torch.randn(5, 6), torch.randn(2, 3)
    g = torch.randn(4, 4)
    out, (gX, gK) = submission.probe("vjp", student.corr2d.value(), [X, K], [0, 1], g)
    Xl, Kl = X.clone().requires_grad_(True), K.clone().requires_grad_(True)
    ref.corr2d(Xl, Kl).backward(g)
    assert gX is not None and gK is not None, "corr2d must keep the autograd graph to X and K"
    assert_close(gX, Xl.grad, what="the gradient w.r.t. X", hidden=True, kind="reduction")
    assert_close(gK, Kl.grad, what="the gradient w.r.t. K", hidden=True, kind="reduction")


def _conv_params(submission, layer, kernel_size):
    params = submission.probe("named_parameters", layer)
    assert isinstance(params, dict) and set(params) == {"weight", "bias"}, \
        f"expected the parameters weight and bias, got {sorted(params) if isinstance(params, dict) else params}"
    assert tuple(params["weight"].shape) == tuple(kernel_size) and tuple(params["bias"].shape) == (1,), \
        (f"expected weight {tuple(kernel_size)} and bias (1,), got {tuple(params['weight'].shape)} "
         f"and {tuple(params['bias'].shape)}")
    return params["weight"], params["bias"]


@points(1)
def test_conv2d_layer_forward(student, submission):
    """Conv2D((1, 2)) has weight (1, 2) and bias (1,), and computes corr2d(x, weight) + bias."""
    layer = student.Conv2D(kernel_size=(1, 2))
    w, b = _conv_params(submission, layer, (1, 2))
    X = _edge_image()
    assert_close(layer(X), ref.corr2d(X, w) + b, what="Conv2D((1, 2))(X)", kind="reduction")


@hidden
@points(1)
def test_conv2d_layer_random(student, submission):
    """Another kernel size on a random input: forward agrees with corr2d(x, weight) + bias; init is random normal."""
    layer = student.Conv2D((3, 2))
    w, b = _conv_params(submission, layer, (3, 2))
    X = torch.randn(7, 6)
    assert_close(layer(X), ref.corr2d(X, w) + b, what="Conv2D((3, 2))(X)", hidden=True, kind="reduction")
    ws = torch.stack([_conv_params(submission, student.Conv2D((4, 4)), (4, 4))[0] for _ in range(3)])
    assert ws.std() > 0.5, "the weights are not drawn from the standard normal distribution"


@points(1)
def test_learn_kernel_edge(student, submission):
    """Learning from the book's edge image (40 steps, lr 0.01) gives a weight near [[1, -1]] and a bias near 0."""
    X = _edge_image()
    Y = ref.corr2d(X, torch.tensor([[1.0, -1.0]]))
    layer = student.learn_kernel(X, Y, (1, 2), 40, 0.01)
    w, b = _conv_params(submission, layer, (1, 2))
    assert_close(w, torch.tensor([[1.0, -1.0]]), what="the learned weight", rtol=0.0, atol=0.1)
    assert abs(b.item()) < 0.05, f"the learned bias is {b.item():.4f}, expected about 0 (within 0.05)"


@hidden
@points(2)
def test_learn_kernel_random_target(student, submission):
    """A random 2x2 target kernel is recovered from a random 8x8 image (plain gradient descent, zeroed gradients)."""
    X = torch.randn(8, 8)
    K = torch.randn(2, 2)
    Y = ref.corr2d(X, K) + 0.5
    layer = student.learn_kernel(X, Y, (2, 2), 150, 0.004)
    w, b = _conv_params(submission, layer, (2, 2))
    assert_close(w, K, what="the learned weight", hidden=True, rtol=0.0, atol=0.05)
    assert_close(b, torch.tensor([0.5]), what="the learned bias", hidden=True, rtol=0.0, atol=0.05)
