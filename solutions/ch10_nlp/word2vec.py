"""D2L 10.3 (word2vec的实现): skip-gram with negative sampling.

The data pipeline (vocabulary with a minimum count, subsampling, centre words and their
contexts, negative words, padded batches), the model (two embeddings and ``skip_gram``) and
the masked sigmoid binary cross-entropy loss. Randomness comes from Python's ``random``
module (seed it for repeatable results), as in the book. Deviation from the book:
``SigmoidBinaryCrossEntropyLoss`` also works without a mask (the book calls ``mask.float()``
unconditionally and crashes on its own default ``mask=None``).
"""
import collections
import math
import random

import torch
from torch import nn
import torch.nn.functional as F


def read_ptb(path):
    """The sentences of a PTB text file as token lists (one sentence a line, split on blanks)."""
    with open(path, encoding='utf-8') as f:
        return [st.split() for st in f.readlines()]


def build_vocab(raw_dataset, min_count=5):
    """Index the tokens that occur at least ``min_count`` times.

    Returns ``(idx_to_token, token_to_idx, counter, dataset)``: the kept tokens in the order
    of their first occurrence, the inverse dict, a dict token -> count of the kept tokens only,
    and the sentences as lists of indices with the rarer tokens dropped. On the book's
    ``ptb.train.txt`` (42068 sentences) 887100 tokens remain.
    """
    # BEGIN SOLUTION
    counter = collections.Counter(tk for st in raw_dataset for tk in st)
    counter = dict(filter(lambda x: x[1] >= min_count, counter.items()))
    idx_to_token = list(counter)
    token_to_idx = {tk: idx for idx, tk in enumerate(idx_to_token)}
    dataset = [[token_to_idx[tk] for tk in st if tk in token_to_idx] for st in raw_dataset]
    return idx_to_token, token_to_idx, counter, dataset
    # END SOLUTION


def discard_probability(count, num_tokens, t=1e-4):
    """P(drop one occurrence of a word) = ``max(1 - sqrt(t / f), 0)`` with ``f = count / num_tokens``.

    Words with ``f <= t`` are never dropped; "the" on the book's PTB (count 50770 of 887100
    tokens) is dropped with probability ~0.958. Returns a Python float.
    """
    # BEGIN SOLUTION
    return max(1.0 - math.sqrt(t / (count / num_tokens)), 0.0)
    # END SOLUTION


def subsample(dataset, idx_to_token, counter, t=1e-4):
    """Drop each token occurrence independently with ``discard_probability`` of its word.

    ``num_tokens`` is the total number of tokens in ``dataset``. Draw one
    ``random.uniform(0, 1)`` per occurrence (drop when it is below the probability). Returns
    new sentences (index lists, order kept); the input is not changed.
    """
    # BEGIN SOLUTION
    num_tokens = sum(len(st) for st in dataset)

    def discard(idx):
        return random.uniform(0, 1) < discard_probability(counter[idx_to_token[idx]], num_tokens, t)
    return [[tk for tk in st if not discard(tk)] for st in dataset]
    # END SOLUTION


def get_centers_and_contexts(dataset, max_window_size):
    """Every token of every sentence with at least 2 tokens is a centre word.

    For each centre a window size is drawn with ``random.randint(1, max_window_size)``; its
    contexts are the tokens at most that far away in the same sentence, in sentence order,
    without the centre itself. Returns ``(centers, contexts)``: a flat list of centre indices
    and the aligned list of context lists. The book's ``[list(range(7)), list(range(7, 10))]``
    with window 2 gives 10 centres 0..9 (centre 0 has contexts [1] or [1, 2]).
    """
    # BEGIN SOLUTION
    centers, contexts = [], []
    for st in dataset:
        if len(st) < 2:
            continue
        centers += st
        for center_i in range(len(st)):
            window_size = random.randint(1, max_window_size)
            indices = list(range(max(0, center_i - window_size),
                                 min(len(st), center_i + 1 + window_size)))
            indices.remove(center_i)
            contexts.append([st[idx] for idx in indices])
    return centers, contexts
    # END SOLUTION


def negative_sampling_weights(idx_to_token, counter):
    """The sampling weight of each index: ``count ** 0.75`` (word2vec's choice), as a list."""
    # BEGIN SOLUTION
    return [counter[w] ** 0.75 for w in idx_to_token]
    # END SOLUTION


def get_negatives(all_contexts, sampling_weights, K):
    """``K`` noise words per context word, for each centre.

    Noise words are drawn with probability proportional to ``sampling_weights`` (with
    ``random.choices``; the book draws them from a buffer of 100000 at a time); a draw that is
    one of the centre's own context words is rejected and drawn again. Returns a list with one
    list of ``len(contexts) * K`` indices per centre.
    """
    # BEGIN SOLUTION
    all_negatives, neg_candidates, i = [], [], 0
    population = list(range(len(sampling_weights)))
    for contexts in all_contexts:
        negatives = []
        context_set = set(contexts)
        while len(negatives) < len(contexts) * K:
            if i == len(neg_candidates):
                i, neg_candidates = 0, random.choices(population, sampling_weights, k=int(1e5))
            neg, i = neg_candidates[i], i + 1
            if neg not in context_set:
                negatives.append(neg)
        all_negatives.append(negatives)
    return all_negatives
    # END SOLUTION


class MyDataset(torch.utils.data.Dataset):
    """(centre, contexts, negatives) triples, as in the book."""

    def __init__(self, centers, contexts, negatives):
        assert len(centers) == len(contexts) == len(negatives)
        self.centers, self.contexts, self.negatives = centers, contexts, negatives

    def __getitem__(self, index):
        return self.centers[index], self.contexts[index], self.negatives[index]

    def __len__(self):
        return len(self.centers)


def batchify(data):
    """The ``collate_fn``: a list of (centre, contexts, negatives) -> four int64 tensors.

    ``max_len`` is the largest ``len(contexts) + len(negatives)`` of the batch. Returns
    ``centers`` (B, 1), ``contexts_negatives`` (B, max_len) (contexts, then negatives, then 0 as
    padding), ``masks`` (B, max_len) (1 on the real entries, 0 on padding) and ``labels`` (B,
    max_len) (1 on the contexts, 0 elsewhere).
    """
    # BEGIN SOLUTION
    max_len = max(len(c) + len(n) for _, c, n in data)
    centers, contexts_negatives, masks, labels = [], [], [], []
    for center, context, negative in data:
        cur_len = len(context) + len(negative)
        centers += [center]
        contexts_negatives += [list(context) + list(negative) + [0] * (max_len - cur_len)]
        masks += [[1] * cur_len + [0] * (max_len - cur_len)]
        labels += [[1] * len(context) + [0] * (max_len - len(context))]
    return (torch.tensor(centers).view(-1, 1), torch.tensor(contexts_negatives),
            torch.tensor(masks), torch.tensor(labels))
    # END SOLUTION


def skip_gram(center, contexts_and_negatives, embed_v, embed_u):
    """Scores of a batch: ``center`` (B, 1) through ``embed_v`` (the centre embedding),
    ``contexts_and_negatives`` (B, L) through ``embed_u`` (the context embedding), and the
    inner products as one batched matrix product: (B, 1, d) x (B, d, L) -> (B, 1, L)."""
    # BEGIN SOLUTION
    v = embed_v(center)
    u = embed_u(contexts_and_negatives)
    return torch.bmm(v, u.permute(0, 2, 1))
    # END SOLUTION


class SigmoidBinaryCrossEntropyLoss(nn.Module):
    """``forward(inputs, targets, mask=None)``: inputs (B, L) logits, targets (B, L) 0/1, mask
    (B, L) 0/1 or None -> (B,) the per-row mean over all L entries of the element-wise
    ``binary_cross_entropy_with_logits`` weighted by the mask (masked entries contribute 0;
    the mean still divides by L). Integer targets and masks are accepted. The book's example
    (``pred = [[1.5, 0.3, -1, 2], [1.1, -0.6, 2.2, 0.4]]``, ``label = [[1, 0, 0, 0], [1, 1, 0,
    0]]``, ``mask = [[1, 1, 1, 1], [1, 1, 1, 0]]``), rescaled by ``L / mask.sum(dim=1)``, gives
    ``[0.8740, 1.2100]``.
    """

    def forward(self, inputs, targets, mask=None):
        # BEGIN SOLUTION
        inputs, targets = inputs.float(), targets.float()
        weight = None if mask is None else mask.float()
        res = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none", weight=weight)
        return res.mean(dim=1)
        # END SOLUTION


def load_data(dataset, counter, idx_to_token, batch_size, max_window_size, K):
    """Centres, contexts and negatives of ``dataset`` in a shuffled ``DataLoader`` with ``batchify``."""
    all_centers, all_contexts = get_centers_and_contexts(dataset, max_window_size)
    all_negatives = get_negatives(all_contexts, negative_sampling_weights(idx_to_token, counter), K)
    return torch.utils.data.DataLoader(MyDataset(all_centers, all_contexts, all_negatives),
                                       batch_size, shuffle=True, collate_fn=batchify)


def train(net, data_iter, lr, num_epochs):
    """Train ``net = nn.Sequential(embed_v, embed_u)`` with Adam and the masked loss.

    Each batch's loss is ``(loss(pred, label, mask) * L / mask.sum(dim=1)).mean()`` (the mean
    over the real entries of each row, then over rows). Returns the mean batch loss of each
    epoch, as a list of floats.
    """
    # BEGIN SOLUTION
    loss = SigmoidBinaryCrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    history = []
    for _ in range(num_epochs):
        l_sum, n = 0.0, 0
        for center, context_negative, mask, label in data_iter:
            pred = skip_gram(center, context_negative, net[0], net[1])
            l = (loss(pred.view(label.shape), label, mask) *
                 mask.shape[1] / mask.float().sum(dim=1)).mean()
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
            l_sum += l.item()
            n += 1
        history.append(l_sum / n)
    return history
    # END SOLUTION
