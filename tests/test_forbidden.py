"""Static forbidden-API detection on student source."""
from d2lgrade.scratch.forbidden import static_uses

SOURCE = '''
import torch
import torch.nn.functional as F
from torch import optim


def softmax(X):
    return F.softmax(X, dim=1)


def sneaky(X):
    return getattr(torch, "soft" "max")(X, 1)


def sgd(params, lr, batch_size):
    optim.SGD(params, lr).step()


def honest(X):
    """Row-wise softmax written by hand: torch.softmax and F.softmax are not allowed."""
    X_exp = (X - X.max(dim=1, keepdim=True).values).exp()
    return X_exp / X_exp.sum(dim=1, keepdim=True)
'''


def test_detects_aliased_and_string_uses():
    assert static_uses(SOURCE, "softmax", ["softmax"]) == ["F.softmax"]
    assert static_uses(SOURCE, "sneaky", ["softmax"]) == ["softmax"]
    assert "optim.SGD" in static_uses(SOURCE, "sgd", ["optim"])


def test_clean_code_and_unknown_functions_pass():
    assert static_uses(SOURCE, "honest", ["softmax"]) == []
    assert static_uses(SOURCE, "missing", ["softmax"]) == []
    assert static_uses("def f(:", "f", ["softmax"]) == []


def test_stub_message_is_not_a_use():
    """A stub's NotImplementedError text may name the API ("without F.dropout"); code may not."""
    stub = 'def dropout(X, p):\n    raise NotImplementedError("dropout: implement without F.dropout")\n'
    assert static_uses(stub, "dropout", ["dropout"]) == []
    cheat = 'def dropout(X, p):\n    raise NotImplementedError(F.dropout(X, p))\n'
    assert static_uses(cheat, "dropout", ["dropout"]) == ["F.dropout"]
