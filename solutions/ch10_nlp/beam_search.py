"""D2L 10.10 (束搜索): greedy search and beam search over a conditional distribution.

A "language model" here is any object with ``lm(prefix) -> list of probabilities`` over the
output vocabulary, where ``prefix`` is a tuple of token ids already emitted; ``TableLM`` (given
code) is the book's hand-made example. Sequences end with the token ``eos`` or at ``max_len``
tokens; the ``eos`` token counts in a sequence's length.
"""
import math


class TableLM:
    """Conditional probabilities from a table: ``table[prefix]`` for a known prefix, else ``default``."""

    def __init__(self, table, default):
        self.table = {tuple(k): list(v) for k, v in table.items()}
        self.default = list(default)

    def __call__(self, prefix):
        return self.table.get(tuple(prefix), self.default)


def sequence_probability(lm, seq):
    """P(seq) = prod_t P(y_t | y_<t) (a plain product of the model's conditional probabilities)."""
    p = 1.0
    for t, y in enumerate(seq):
        p *= lm(tuple(seq[:t]))[y]
    return p


def greedy_search(lm, eos, max_len):
    """Greedy decoding: at each step take the most probable token (the lowest id on ties).

    Returns ``(seq, prob)``: the token ids (ending with ``eos`` unless ``max_len`` was reached)
    and the sequence's probability. In the book's example (Fig. 10.9) greedy search gives
    A B C <eos> with probability 0.5 * 0.4 * 0.4 * 0.6 = 0.048.
    """
    # BEGIN SOLUTION
    seq, prob = [], 1.0
    while len(seq) < max_len:
        probs = lm(tuple(seq))
        y = max(range(len(probs)), key=lambda i: (probs[i], -i))
        seq.append(y)
        prob *= probs[y]
        if y == eos:
            break
    return seq, prob
    # END SOLUTION


def beam_search(lm, eos, beam_size, max_len, alpha=0.75):
    """Beam search of width ``beam_size``; returns ``(seq, score)`` of the best candidate.

    Step 1 keeps the ``beam_size`` most probable tokens. At every later step each live
    hypothesis is extended by every token and the ``beam_size`` most probable extensions (by
    their log-probability) are kept; an extension that ends with ``eos`` becomes a finished
    candidate and stops growing (it still takes one of the ``beam_size`` places of that step).
    Live hypotheses that reach ``max_len`` tokens are candidates too. The final score of a
    candidate of length L is ``log P(seq) / L ** alpha`` and the highest score wins (ties: the
    candidate found first). With ``beam_size=1`` this is greedy search; in the book's example a
    beam of 2 finds A C B <eos> (probability 0.054), which beats greedy's 0.048.
    """
    # BEGIN SOLUTION
    live = [((), 0.0)]
    candidates = []
    for _ in range(max_len):
        extensions = []
        for seq, logp in live:
            probs = lm(seq)
            for y, p in enumerate(probs):
                if p > 0:
                    extensions.append((seq + (y,), logp + math.log(p)))
        extensions.sort(key=lambda e: -e[1])  # stable: earlier hypotheses win ties
        live = []
        for seq, logp in extensions[:beam_size]:
            if seq[-1] == eos:
                candidates.append((seq, logp))
            else:
                live.append((seq, logp))
        if not live:
            break
    candidates += live
    best_seq, best_score = None, -math.inf
    for seq, logp in candidates:
        score = logp / len(seq) ** alpha
        if score > best_score:
            best_seq, best_score = seq, score
    return list(best_seq), best_score
    # END SOLUTION
