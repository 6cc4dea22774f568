"""The ``seed`` and ``returning`` probes (added for chapter 6): replaying a student's random
choices in the parent, and giving a student's trainer known initial parameters; and
``attr_item``, one row of a table that stays in the child."""
import random

import pytest
import torch

from d2lgrade.isolation.handle import Submission

CODE = '''
import random, torch

def shuffled(n):
    order = list(range(n))
    random.shuffle(order)
    return order

def draw():
    return torch.rand(3)

class Table:
    def __init__(self, n):
        self.itos = [f"w{i}" for i in range(n)]
        self.vectors = torch.arange(n * 4.0).reshape(n, 4)

def train(get_params, n):
    params = get_params(n, "ignored", device=None)
    params[0].data += 1
    return params, get_params(n)
'''


@pytest.fixture(params=["process", "none"])
def sub(request, tmp_path):
    (tmp_path / "chx98_replay").mkdir()
    (tmp_path / "chx98_replay" / "__init__.py").write_text("")
    (tmp_path / "chx98_replay" / "m.py").write_text(CODE)
    s = Submission(str(tmp_path), request.param, call_timeout=10)
    yield s
    s.close()


def test_seed_replays_random_shuffle_and_torch(sub):
    m = sub.module("chx98_replay.m")
    sub.probe("seed", 1234)
    got, drawn = m.shuffled(20), m.draw()
    random.seed(1234)
    expected = list(range(20))
    random.shuffle(expected)
    assert got == expected
    torch.manual_seed(1234)
    assert torch.equal(drawn, torch.rand(3))


def test_returning_gives_fresh_copies_whatever_the_arguments(sub):
    m = sub.module("chx98_replay.m")
    p0 = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2))])
    fn = sub.probe("returning", p0)
    trained, fresh = m.train(fn, 3)
    assert torch.equal(list(trained)[0], torch.full((2,), 2.0))
    assert torch.equal(list(fresh)[0], torch.ones(2))  # a new copy, untouched by the first
    assert torch.equal(p0[0].detach(), torch.ones(2))   # the grader's own value is never changed


def test_attr_item_reads_one_row_in_the_child(sub):
    table = sub.module("chx98_replay.m").Table(1000)
    assert sub.probe("attr_item", table, "itos", 7) == "w7"
    row = sub.probe("attr_item", table, "vectors", 3)
    assert torch.equal(row, torch.arange(12.0, 16.0))
