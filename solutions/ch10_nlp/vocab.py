"""The course's own vocabulary, in place of the legacy ``torchtext.vocab.Vocab`` (D2L 10.7, 10.12).

The book builds vocabularies with ``torchtext.vocab.Vocab(counter, min_freq=..., specials=...)``
(the legacy API, removed from torchtext 0.12; torchtext itself stopped at 0.18, which cannot be
imported with the torch used here). ``Vocab`` keeps that class's behaviour, so the book's
indices (e.g. the ``fr-en-small.txt`` example of 10.12) come out the same.
"""
import collections


class Vocab:
    """A token <-> index table.

    ``Vocab(counter, min_freq=1, specials=('<unk>', '<pad>'))``: ``counter`` maps tokens to
    counts (a ``collections.Counter`` or a dict). ``itos`` is the list of specials in the
    given order, then every other token whose count is at least ``min_freq``, most frequent
    first, ties in alphabetical order (the legacy torchtext order). ``stoi`` is the inverse
    dict. ``len(vocab)`` is ``len(itos)``. ``vocab[token]`` is ``stoi[token]``, or, for a
    token not in the table, the index of ``'<unk>'`` when it is one of the specials
    (otherwise ``KeyError``). ``lookup(tokens)`` maps a list of tokens to a list of indices.
    """

    def __init__(self, counter, min_freq=1, specials=('<unk>', '<pad>')):
        # BEGIN SOLUTION
        self.itos = list(specials)
        words = sorted(((w, c) for w, c in counter.items() if w not in specials), key=lambda wc: wc[0])
        words.sort(key=lambda wc: wc[1], reverse=True)  # stable: alphabetical within a count
        self.itos += [w for w, c in words if c >= max(min_freq, 1)]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        # END SOLUTION

    def __len__(self):
        return len(self.itos)

    def __getitem__(self, token):
        # BEGIN SOLUTION
        if token in self.stoi:
            return self.stoi[token]
        if '<unk>' in self.stoi:
            return self.stoi['<unk>']
        raise KeyError(f"{token!r} is not in the vocabulary, which has no '<unk>'")
        # END SOLUTION

    def lookup(self, tokens):
        return [self[t] for t in tokens]


def count_tokens(sentences):
    """A ``collections.Counter`` of the tokens of a list of token lists."""
    return collections.Counter(tk for st in sentences for tk in st)
