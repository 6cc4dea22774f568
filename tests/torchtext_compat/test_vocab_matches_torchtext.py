"""Chapter 10's own ``Vocab`` against real torchtext (the optional ``tox -e torchtext`` env).

That env pins the last pair that works together, torch 2.3.0 + torchtext 0.18.0, and does
not install d2lgrade (which pins torch 2.14.1): the reference ``vocab.py`` needs only the
standard library, so it is loaded from ``solutions/`` by path. torchtext 0.18 no longer has
the legacy ``Vocab(counter, min_freq, specials)`` the book calls; its
``build_vocab_from_iterator`` keeps the same order (specials first, then count descending,
ties alphabetical), which is what the course's ``Vocab`` promises.
"""
import collections
import importlib.util
import random
from pathlib import Path

import pytest

torchtext = pytest.importorskip("torchtext", reason="the torchtext env only (tox -e torchtext)")
torchtext.disable_torchtext_deprecation_warning()
from torchtext.vocab import build_vocab_from_iterator  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _course_vocab():
    spec = importlib.util.spec_from_file_location(
        "course_vocab", ROOT / "solutions" / "ch10_nlp" / "vocab.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("min_freq", [1, 2, 5])
def test_same_tokens_same_order(seed, min_freq):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)]
    sentences = [[rng.choice(words[: rng.randint(5, 60)]) for _ in range(rng.randint(1, 12))]
                 for _ in range(200)]
    specials = ["<unk>", "<pad>", "<bos>", "<eos>"]
    ours = _course_vocab().Vocab(collections.Counter(t for s in sentences for t in s),
                                 min_freq=min_freq, specials=specials)
    theirs = build_vocab_from_iterator(sentences, min_freq=min_freq, specials=specials)
    assert ours.itos == theirs.get_itos()
    theirs.set_default_index(theirs["<unk>"])
    probe = words + ["never-seen"]
    assert ours.lookup(probe) == theirs.lookup_indices(probe)
