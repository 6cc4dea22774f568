"""Graders for ch03_basics.fashion_mnist (D2L 3.5).

The data is the project's Fashion-MNIST-format set (``fashion_mnist_root``: scikit-learn's
digits at 28x28, 1500 training and 297 test images), read through torchvision.
"""
import pytest
import torch

from d2lgrade import hidden, points, reference

MODULE = "ch03_basics.fashion_mnist"
ref = reference(MODULE)

TEXT_LABELS = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
               'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']
N_TRAIN, N_TEST = 1500, 297


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture(scope="module")
def reference_sets(fashion_mnist_root):
    """The two sets in file order, read in the grading process: (images, labels) each."""
    import torchvision
    out = []
    for train in (True, False):
        ds = torchvision.datasets.FashionMNIST(str(fashion_mnist_root), train=train, download=False,
                                               transform=torchvision.transforms.ToTensor())
        out.append(next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds)))))
    return out


@points(1)
def test_text_labels(student):
    """Labels 0..9 give the ten class names in order, and [9] gives ['ankle boot']."""
    got = student.get_fashion_mnist_labels(list(range(10)))
    assert got == TEXT_LABELS, f"expected {TEXT_LABELS}, got {got}"
    assert student.get_fashion_mnist_labels([9]) == ['ankle boot'], "label 9 is 'ankle boot'"


@hidden
@points(1)
def test_text_labels_random_tensor(student):
    """A random int64 label tensor gives the reference's list of names."""
    labels = torch.randint(0, 10, (40,))
    assert student.get_fashion_mnist_labels(labels) == ref.get_fashion_mnist_labels(labels), \
        "the names do not match the labels"


def _materialize(loader, what):
    batches = list(loader)
    for i, batch in enumerate(batches):
        assert isinstance(batch, (list, tuple)) and len(batch) == 2, \
            f"{what} should yield (X, y) pairs; item {i} is {type(batch).__name__}"
    return batches


def _check_batches(batches, batch_size, n, size, what):
    sizes = [len(y) for _, y in batches]
    expected = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    assert sizes == expected, f"{what}: expected batch sizes {expected}, got {sizes}"
    X, y = batches[0]
    assert X.shape == (batch_size, 1, size, size), \
        f"{what}: images should have shape {(batch_size, 1, size, size)}, got {tuple(X.shape)}"
    assert X.dtype == torch.float32, f"{what}: images should be float32 (ToTensor), got {X.dtype}"
    assert y.dtype == torch.int64 and y.shape == (batch_size,), \
        f"{what}: labels should be int64 of shape ({batch_size},), got {y.dtype} {tuple(y.shape)}"
    lo = min(float(X.min()) for X, _ in batches)
    hi = max(float(X.max()) for X, _ in batches)
    assert 0.0 <= lo and hi <= 1.0 and hi > 0.5, \
        f"{what}: pixel values should lie in [0, 1] (ToTensor scales by 1/255); got [{lo}, {hi}]"


@points(2)
def test_load_data_shapes_and_counts(student, fashion_mnist_root):
    """Batches of (256, 1, 28, 28) float32 in [0, 1] with int64 labels; 1500 + 297 examples."""
    loaders = student.load_data_fashion_mnist(256, root=str(fashion_mnist_root))
    assert isinstance(loaders, (tuple, list)) and len(loaders) == 2, \
        "load_data_fashion_mnist should return (train_iter, test_iter)"
    train_iter, test_iter = loaders
    _check_batches(_materialize(train_iter, "train_iter"), 256, N_TRAIN, 28, "train_iter")
    _check_batches(_materialize(test_iter, "test_iter"), 256, N_TEST, 28, "test_iter")


@points(1)
def test_load_data_resize(student, fashion_mnist_root):
    """resize=32 gives images of shape (batch, 1, 32, 32)."""
    train_iter, test_iter = student.load_data_fashion_mnist(100, resize=32, root=str(fashion_mnist_root))
    _check_batches(_materialize(test_iter, "test_iter"), 100, N_TEST, 32, "test_iter with resize=32")
    X, _ = next(iter(_materialize(train_iter, "train_iter")))
    assert X.shape == (100, 1, 32, 32), f"train_iter with resize=32: got images of shape {tuple(X.shape)}"


@hidden
@points(2)
def test_load_data_contents_and_order(student, fashion_mnist_root, reference_sets):
    """The test set comes in file order with the right pixels; the training set is shuffled each pass."""
    (train_X, train_y), (test_X, test_y) = reference_sets
    train_iter, test_iter = student.load_data_fashion_mnist(128, root=str(fashion_mnist_root))
    test_batches = _materialize(test_iter, "test_iter")
    X = torch.cat([X for X, _ in test_batches])
    y = torch.cat([y for _, y in test_batches])
    assert X.shape == test_X.shape and torch.equal(y, test_y), "the test labels differ from the file's"
    assert torch.allclose(X, test_X, atol=1e-6), "the test images differ from the file's (ToTensor)"
    orders = []
    for _ in range(2):
        batches = _materialize(train_iter, "train_iter")
        y = torch.cat([y for _, y in batches])
        assert len(y) == N_TRAIN, "the training set should have all its examples"
        assert torch.equal(torch.bincount(y, minlength=10), torch.bincount(train_y, minlength=10)), \
            "the training labels are not those of the file"
        s = torch.cat([X for X, _ in batches]).sum().item()
        assert abs(s - train_X.sum().item()) < 1e-3 * abs(train_X.sum().item()), \
            "the training images are not those of the file"
        orders.append(y)
    assert not torch.equal(orders[0], train_y), "the training set is in file order: shuffle it"
    assert not torch.equal(orders[0], orders[1]), "two passes over train_iter gave the same order"
