"""Graders for ch10_nlp.vocab: the course's replacement for the legacy torchtext Vocab."""
import collections

import pytest

from d2lgrade import hidden, points, reference

MODULE = "ch10_nlp.vocab"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_vocab_order_and_min_freq(student, submission):
    """Specials first, then tokens by count (ties alphabetical); tokens under min_freq are left out."""
    counter = {"b": 3, "a": 3, "c": 5, "d": 1, "e": 2}
    v = student.Vocab(counter, min_freq=2, specials=("<unk>", "<pad>"))
    itos = list(v.itos)
    assert itos == ["<unk>", "<pad>", "c", "a", "b", "e"], f"itos is {itos}"
    assert submission.probe("length", v) == 6 and v["a"] == 3 and v["<pad>"] == 1, "len/lookup do not match itos"


@points(1)
def test_vocab_unknown_tokens(student):
    """An unknown token maps to '<unk>' when it is a special."""
    v = student.Vocab(collections.Counter("x y y z".split()))
    assert v["never-seen"] == 0 and v.lookup(["y", "q"]) == [v["y"], 0]


@hidden
@points(2)
def test_vocab_random_counters(student):
    """On random counters and other specials the table equals the reference's."""
    import random
    words = [f"w{i}" for i in range(40)]
    for specials, min_freq in [(("<pad>", "<bos>", "<eos>"), 1), (("<unk>",), 3)]:
        counter = collections.Counter(random.choice(words) for _ in range(300))
        v = student.Vocab(counter, min_freq=min_freq, specials=specials)
        r = ref.Vocab(counter, min_freq=min_freq, specials=specials)
        assert list(v.itos) == r.itos and dict(v.stoi) == r.stoi
