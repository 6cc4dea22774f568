"""Graders for ch10_nlp.beam_search (D2L 10.10): greedy search and beam search."""
import itertools
import math

import pytest
import torch

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch10_nlp.beam_search"
ref = reference(MODULE)
A, B, C, EOS = 0, 1, 2, 3
# The book's Fig. 10.9 / 10.10 conditional probabilities over {A, B, C, <eos>}.
BOOK_TABLE = {(): [.5, .2, .2, .1], (A,): [.1, .4, .3, .2], (A, B): [.2, .2, .4, .2],
              (A, B, C): [.2, .2, .2, .6], (A, C): [.1, .6, .2, .1], (A, C, B): [.2, .2, .2, .6]}
DEFAULT = [.25, .25, .25, .25]


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _random_table(vocab, depth, eos):
    """A random LM over prefixes up to ``depth`` (deterministic under the test's seed)."""
    table = {}
    for L in range(depth):
        for prefix in itertools.product(range(vocab), repeat=L):
            if eos in prefix:
                continue
            p = torch.rand(vocab) ** 3 + 0.01
            table[prefix] = (p / p.sum()).tolist()
    return table


def _exhaustive(table, default, eos, max_len, alpha):
    lm = ref.TableLM(table, default)
    best, best_score = None, -math.inf
    for L in range(1, max_len + 1):
        for seq in itertools.product(range(len(default)), repeat=L):
            if eos in seq[:-1] or (L < max_len and seq[-1] != eos):
                continue
            score = math.log(ref.sequence_probability(lm, list(seq))) / L ** alpha
            if score > best_score:
                best, best_score = list(seq), score
    return best, best_score


@points(1)
def test_greedy_book_example(student):
    """Greedy search on the book's table gives A B C <eos> with probability 0.048."""
    lm = student.TableLM(BOOK_TABLE, DEFAULT)
    seq, prob = student.greedy_search(lm, EOS, 10)
    assert list(seq) == [A, B, C, EOS], f"greedy search gave {seq}, expected [0, 1, 2, 3] (A B C <eos>)"
    assert abs(prob - 0.048) < 1e-9, f"its probability is {prob}, expected 0.048"


@points(1)
def test_beam_book_example(student):
    """A beam of 2 on the book's table finds A C B <eos> (probability 0.054 > 0.048)."""
    lm = student.TableLM(BOOK_TABLE, DEFAULT)
    seq, score = student.beam_search(lm, EOS, 2, 10, 0.75)
    assert list(seq) == [A, C, B, EOS], f"beam search gave {seq}, expected [0, 2, 1, 3] (A C B <eos>)"
    assert abs(score - math.log(0.054) / 4 ** 0.75) < 1e-9, \
        f"its score is {score}, expected log(0.054) / 4 ** 0.75 = {math.log(0.054) / 4 ** 0.75:.6f}"


@hidden
@points(2)
def test_greedy_random_tables(student):
    """Greedy search agrees with the reference on random models (sequence and probability)."""
    for _ in range(3):
        table = _random_table(4, 5, 3)
        lm = student.TableLM(table, DEFAULT)
        seq, prob = student.greedy_search(lm, 3, 5)
        eseq, eprob = ref.greedy_search(ref.TableLM(table, DEFAULT), 3, 5)
        assert list(seq) == eseq and abs(prob - eprob) < 1e-9


@hidden
@points(2)
def test_beam_random_tables(student):
    """Beam search agrees with the reference on random models for beam sizes 1-3 and two alphas."""
    for k, alpha in [(1, 0.75), (2, 0.75), (3, 0.0), (3, 1.0)]:
        table = _random_table(4, 5, 3)
        seq, score = student.beam_search(student.TableLM(table, DEFAULT), 3, k, 5, alpha)
        eseq, escore = ref.beam_search(ref.TableLM(table, DEFAULT), 3, k, 5, alpha)
        assert list(seq) == eseq and abs(score - escore) < 1e-9


@hidden
@points(1)
def test_wide_beam_is_exhaustive(student):
    """A beam as wide as every hypothesis finds the exhaustive search's best sequence."""
    table = _random_table(3, 4, 2)
    seq, score = student.beam_search(student.TableLM(table, [1 / 3] * 3), 2, 100, 4, 0.75)
    eseq, escore = _exhaustive(table, [1 / 3] * 3, 2, 4, 0.75)
    assert list(seq) == eseq and abs(score - escore) < 1e-9
