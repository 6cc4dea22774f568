"""Graders for ch06_rnn.lyrics (D2L 6.3): the corpus loader and the two samplers.

The loader is graded on small texts written here, on the project's fixture corpus (a text
file and a zip) and, in the data tier, on the book's ``jaychou_lyrics.txt.zip``.
"""
import random
import zipfile

import pytest
import torch

from d2lgrade import GradeFailure, assert_close, hidden, points, reference, tier

MODULE = "ch06_rnn.lyrics"
ref = reference(MODULE)
BOOK_FIRST_40 = "想要有直升机 想要和你飞到宇宙去 想要和你融化在一起 融化在宇宙里 我每天每天每"


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _check_corpus(got, expected, what, hidden_=False):
    """Compare a loader's 4-tuple with the expected one, part by part."""
    __tracebackhide__ = True
    if not isinstance(got, (tuple, list)) or len(got) != 4:
        raise GradeFailure(f"{what}: expected (corpus_indices, char_to_idx, idx_to_char, vocab_size), "
                           f"got {type(got).__name__}")
    names = ("corpus_indices", "char_to_idx", "idx_to_char", "vocab_size")
    for name, g, e in zip(names, got, expected):
        if name == "char_to_idx":
            ok = isinstance(g, dict) and g == e
        elif name == "vocab_size":
            ok = isinstance(g, int) and g == e
        else:
            ok = isinstance(g, (list, tuple)) and list(g) == list(e)
        if not ok:
            if hidden_:
                raise GradeFailure(f"{what}: {name} is not as specified")
            raise GradeFailure(f"{what}: {name} is {g!r:.300}, expected {e!r:.300}")


@points(1)
def test_load_small_text(student, tmp_path):
    """A two-line text: newlines become spaces, characters are numbered in order of first appearance."""
    path = tmp_path / "two_lines.txt"
    path.write_text("想要有直升机\n想要和你飞到宇宙去\n", encoding="utf-8")
    chars = "想要有直升机 和你飞到宇宙去"
    idx_to_char = list(chars)
    char_to_idx = {c: i for i, c in enumerate(idx_to_char)}
    indices = [char_to_idx[c] for c in "想要有直升机 想要和你飞到宇宙去 "]
    _check_corpus(student.load_data_jay_lyrics(str(path)), (indices, char_to_idx, idx_to_char, 14),
                  "load_data_jay_lyrics(two_lines.txt)")


@points(1)
def test_load_fixture_text_and_zip(student, lyrics_files, lyrics_corpus):
    """The project's corpus reads the same from lyrics.txt and from lyrics.txt.zip (615 characters, vocab 32)."""
    for kind in ("txt", "zip"):
        got = student.load_data_jay_lyrics(str(lyrics_files[kind]), None)
        _check_corpus(got, lyrics_corpus, f"load_data_jay_lyrics(lyrics.{kind}, None)")


@hidden
@points(1)
def test_load_num_chars_and_carriage_returns(student, tmp_path, lyrics_files):
    """Only the first num_chars characters are kept (after replacing newlines); '\\r' is a space too."""
    got = student.load_data_jay_lyrics(str(lyrics_files["zip"]), 50)
    _check_corpus(got, ref.load_data_jay_lyrics(lyrics_files["zip"], 50), "num_chars=50", hidden_=True)
    path = tmp_path / "crlf.txt.zip"
    with zipfile.ZipFile(path, "w") as z:  # bytes in a zip: no newline translation on reading
        z.writestr("crlf.txt", "风吹过山谷\r\n星光落满天\r\n风".encode("utf-8"))
    got = student.load_data_jay_lyrics(str(path), 13)
    _check_corpus(got, ref.load_data_jay_lyrics(path, 13), "a zipped text with \\r\\n", hidden_=True)


@tier("data")
@points(1)
def test_real_lyrics_book_facts(student, data_dir):
    """The book's jaychou_lyrics.txt.zip: 10,000 characters kept, vocab_size 1027, the book's first 40; 60-some thousand in all."""
    path = data_dir / "jaychou_lyrics.txt.zip"
    if not path.exists():
        pytest.skip(f"data tier not run: {path} is missing")
    indices, char_to_idx, idx_to_char, vocab_size = student.load_data_jay_lyrics(str(path))
    assert vocab_size == 1027, f"vocab_size is {vocab_size}, the book says 1027"
    assert len(indices) == 10000, f"{len(indices)} characters kept, expected the first 10000"
    first = "".join(idx_to_char[i] for i in indices[:40])
    assert first == BOOK_FIRST_40, f"the first 40 characters are {first!r}, the book prints {BOOK_FIRST_40!r}"
    assert all(char_to_idx[c] == i for i, c in enumerate(idx_to_char)), "char_to_idx and idx_to_char disagree"
    whole = student.load_data_jay_lyrics(str(path), None)[0]
    assert 60000 <= len(whole) < 70000, f"the whole file has {len(whole)} characters; the book says 60-some thousand"


@tier("data")
@points(1)
def test_real_lyrics_default_path(student, data_dir):
    """load_data_jay_lyrics() without arguments reads the book's file from the course data folder (as d2lzh's does)."""
    if not (data_dir / "jaychou_lyrics.txt.zip").exists():
        pytest.skip(f"data tier not run: {data_dir / 'jaychou_lyrics.txt.zip'} is missing")
    indices, _, idx_to_char, vocab_size = student.load_data_jay_lyrics()
    assert vocab_size == 1027 and len(indices) == 10000, \
        f"load_data_jay_lyrics() gave vocab_size {vocab_size} and {len(indices)} characters; expected 1027 and 10000"
    first = "".join(idx_to_char[i] for i in indices[:40])
    assert first == BOOK_FIRST_40, f"the first 40 characters are {first!r}, the book prints {BOOK_FIRST_40!r}"


# -- samplers -------------------------------------------------------------------------------

def _batches(gen, what):
    """All (X, Y) minibatches of a student's sampler, checked to be pairs of tensors."""
    __tracebackhide__ = True
    items = list(gen)
    for k, item in enumerate(items):
        if not (isinstance(item, (tuple, list)) and len(item) == 2
                and all(isinstance(t, torch.Tensor) for t in item)):
            raise GradeFailure(f"{what}: minibatch {k} is not a pair (X, Y) of tensors")
    return items


def _check_shapes(batches, n, batch_size, num_steps, what):
    __tracebackhide__ = True
    if len(batches) != n:
        raise GradeFailure(f"{what}: {len(batches)} minibatches, expected {n}")
    for k, (X, Y) in enumerate(batches):
        for name, T in (("X", X), ("Y", Y)):
            if tuple(T.shape) != (batch_size, num_steps) or T.dtype != torch.float32 or T.device.type != "cpu":
                raise GradeFailure(f"{what}: minibatch {k} {name} is {T.dtype} {tuple(T.shape)} on "
                                   f"{T.device}, expected float32 {(batch_size, num_steps)} on cpu")


def _check_random_rows(batches, corpus, num_steps, what):
    """Each row is an example starting at a multiple of num_steps, its labels one later; starts are distinct."""
    __tracebackhide__ = True
    c = torch.tensor(corpus, dtype=torch.float32)
    num_examples = (len(corpus) - 1) // num_steps
    starts = []
    for k, (X, Y) in enumerate(batches):
        for r in range(X.shape[0]):
            matches = [j for j in range(num_examples) if torch.equal(X[r], c[j * num_steps:(j + 1) * num_steps])]
            if not matches:
                raise GradeFailure(f"{what}: minibatch {k} row {r} of X is not an example "
                                   f"corpus[j * num_steps: (j + 1) * num_steps]")
            j = matches[0]
            if not torch.equal(Y[r], c[j * num_steps + 1:(j + 1) * num_steps + 1]):
                raise GradeFailure(f"{what}: minibatch {k} row {r}: Y is not X shifted by one position "
                                   f"in the corpus")
            starts.append(j)
    if len(set(starts)) != len(starts):
        raise GradeFailure(f"{what}: an example is used more than once in one epoch")
    return starts


@points(1)
def test_data_iter_random_book_example(student):
    """range(30), batch 2, 6 steps: 2 minibatches of distinct examples starting at 0, 6, 12 or 18, with Y = X + 1."""
    batches = _batches(student.data_iter_random(list(range(30)), 2, 6), "data_iter_random(range(30), 2, 6)")
    _check_shapes(batches, 2, 2, 6, "data_iter_random(range(30), 2, 6)")
    starts = _check_random_rows(batches, list(range(30)), 6, "data_iter_random(range(30), 2, 6)")
    assert set(starts) <= {0, 1, 2, 3}, "examples must start at 0, 6, 12 or 18"


@hidden
@points(2)
def test_data_iter_random_properties(student):
    """On a random corpus: shapes, examples at multiples of num_steps, labels shifted by one, no example twice, shuffled."""
    corpus = torch.randint(0, 50, (103,)).tolist()
    orders = set()
    for _ in range(6):
        batches = _batches(student.data_iter_random(corpus, 3, 5), "data_iter_random")
        _check_shapes(batches, 6, 3, 5, "data_iter_random(103 indices, 3, 5)")
        orders.add(tuple(_check_random_rows(batches, corpus, 5, "data_iter_random")))
    assert len(orders) > 1, "six epochs gave the same order: the examples are not shuffled"


@hidden
@points(1)
def test_data_iter_random_seeded_order(student, submission):
    """With random.seed(s) the minibatches are those of random.shuffle over the example numbers, in order."""
    corpus = torch.randint(0, 30, (200,)).tolist()
    for batch_size, num_steps in ((4, 7), (3, 10)):
        s = random.randrange(2**31)
        submission.probe("seed", s)
        got = _batches(student.data_iter_random(corpus, batch_size, num_steps), "data_iter_random")
        random.seed(s)
        expected = list(ref.data_iter_random(corpus, batch_size, num_steps))
        assert len(got) == len(expected), "wrong number of minibatches"
        for (X, Y), (eX, eY) in zip(got, expected):
            assert_close(X, eX, what="X", hidden=True, kind="exact")
            assert_close(Y, eY, what="Y", hidden=True, kind="exact")


@points(1)
def test_data_iter_consecutive_book_example(student):
    """range(30), batch 2, 6 steps: the book's two minibatches, exactly."""
    batches = _batches(student.data_iter_consecutive(list(range(30)), 2, 6), "data_iter_consecutive")
    _check_shapes(batches, 2, 2, 6, "data_iter_consecutive(range(30), 2, 6)")
    r = lambda a, b: list(range(a, b))  # noqa: E731
    expected = [([r(0, 6), r(15, 21)], [r(1, 7), r(16, 22)]), ([r(6, 12), r(21, 27)], [r(7, 13), r(22, 28)])]
    for k, ((X, Y), (eX, eY)) in enumerate(zip(batches, expected)):
        assert_close(X, torch.tensor(eX, dtype=torch.float32), what=f"minibatch {k} X", kind="exact")
        assert_close(Y, torch.tensor(eY, dtype=torch.float32), what=f"minibatch {k} Y", kind="exact")


@hidden
@points(2)
def test_data_iter_consecutive_random_corpus(student):
    """Random corpora and sizes (lengths not multiples of the batch size) agree with the reference."""
    for length, batch_size, num_steps in ((97, 3, 5), (200, 4, 7), (61, 2, 10), (50, 1, 6)):
        corpus = torch.randint(0, 40, (length,)).tolist()
        got = _batches(student.data_iter_consecutive(corpus, batch_size, num_steps), "data_iter_consecutive")
        expected = list(ref.data_iter_consecutive(corpus, batch_size, num_steps))
        _check_shapes(got, len(expected), batch_size, num_steps, "data_iter_consecutive")
        for (X, Y), (eX, eY) in zip(got, expected):
            assert_close(X, eX, what="X", hidden=True, kind="exact")
            assert_close(Y, eY, what="Y", hidden=True, kind="exact")


@hidden
@points(1)
def test_data_iter_consecutive_continuity(student):
    """Rows continue the same rows of the previous minibatch, labels are inputs shifted by one, each position is an input once."""
    corpus = torch.randperm(300).tolist()  # distinct values: positions are unambiguous
    batches = _batches(student.data_iter_consecutive(corpus, 5, 8), "data_iter_consecutive")
    assert len(batches) >= 2, "too few minibatches"
    where = {v: i for i, v in enumerate(corpus)}
    for k, (X, Y) in enumerate(batches):
        pos = [[where[int(v)] for v in row] for row in X.tolist()]
        assert all(b - a == 1 for row in pos for a, b in zip(row, row[1:])), \
            "a row of X is not a run of consecutive positions"
        assert all(where[int(y)] == p + 1 for prow, yrow in zip(pos, Y.tolist()) for p, y in zip(prow, yrow)), \
            "Y is not X shifted by one position"
        if k:
            prev = batches[k - 1][0]
            assert all(where[int(a)] + 1 == where[int(b)] for a, b in zip(prev[:, -1].tolist(), X[:, 0].tolist())), \
                "a minibatch does not continue the previous one row by row"
    used = [int(v) for X, _ in batches for v in X.reshape(-1).tolist()]
    assert len(used) == len(set(used)) == 5 * ((300 // 5 - 1) // 8) * 8, \
        "each position must be an input exactly once per epoch (as many minibatches as fit)"
