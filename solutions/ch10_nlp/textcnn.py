"""D2L 10.8 (文本情感分类：使用卷积神经网络（textCNN）): 1-D cross-correlation and textCNN.

``corr1d`` is the loop itself: do not call ``torch.nn.functional.conv1d`` (or any other
convolution routine) there. ``TextCNN`` uses ``nn.Conv1d`` as the book does.
"""
import torch
from torch import nn
import torch.nn.functional as F


def corr1d(X, K):
    """One-dimensional cross-correlation of a 1-D input ``X`` (n,) with a kernel ``K`` (w,).

    Returns a float32 tensor of shape (n - w + 1,) with ``Y[i] = (X[i:i + w] * K).sum()``
    (no kernel flip), also for integer inputs. The book's example: ``X = [0, 1, ..., 6]``,
    ``K = [1, 2]`` gives ``[2., 5., 8., 11., 14., 17.]``. Gradients flow to ``X`` and ``K``.
    """
    # BEGIN SOLUTION
    w = K.shape[0]
    Y = torch.zeros((X.shape[0] - w + 1))
    for i in range(Y.shape[0]):
        Y[i] = (X[i: i + w] * K).sum()
    return Y
    # END SOLUTION


def corr1d_multi_in(X, K):
    """Multi-channel 1-D cross-correlation: ``X`` (c, n), ``K`` (c, w) -> (n - w + 1,).

    The per-channel ``corr1d`` results are summed over channels. The book's example (three
    channels, kernels ``[[1, 2], [3, 4], [-1, -3]]``) gives ``[2., 8., 14., 20., 26., 32.]``.
    """
    # BEGIN SOLUTION
    return torch.stack([corr1d(x, k) for x, k in zip(X, K)]).sum(dim=0)
    # END SOLUTION


class GlobalMaxPool1d(nn.Module):
    """Max-over-time pooling: (batch, channels, length) -> (batch, channels, 1)."""

    def forward(self, x):
        # BEGIN SOLUTION
        return F.max_pool1d(x, kernel_size=x.shape[2])
        # END SOLUTION


class TextCNN(nn.Module):
    """textCNN for two classes.

    ``__init__(vocab_size, embed_size, kernel_sizes, num_channels)`` makes, with these names:
    ``embedding`` and ``constant_embedding`` (two ``nn.Embedding(vocab_size, embed_size)``; the
    second one is meant to stay frozen), ``dropout`` (``nn.Dropout(0.5)``), ``decoder``
    (``nn.Linear(sum(num_channels), 2)``), ``pool`` (a ``GlobalMaxPool1d``) and ``convs`` (an
    ``nn.ModuleList`` of ``nn.Conv1d(2 * embed_size, c, k)`` for each pair of
    ``num_channels``/``kernel_sizes``). The book takes the vocabulary object; this version
    takes its size.

    ``forward(inputs)``: token ids (batch, length) -> logits (batch, 2). The two embeddings are
    concatenated on the feature axis, the result is put channels-first, each convolution is
    followed by ReLU and max-over-time pooling, the pooled vectors are concatenated, and
    dropout and the decoder give the logits.
    """

    def __init__(self, vocab_size, embed_size, kernel_sizes, num_channels):
        super().__init__()
        # BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.constant_embedding = nn.Embedding(vocab_size, embed_size)
        self.dropout = nn.Dropout(0.5)
        self.decoder = nn.Linear(sum(num_channels), 2)
        self.pool = GlobalMaxPool1d()
        self.convs = nn.ModuleList()
        for c, k in zip(num_channels, kernel_sizes):
            self.convs.append(nn.Conv1d(in_channels=2 * embed_size, out_channels=c, kernel_size=k))
        # END SOLUTION

    def forward(self, inputs):
        # BEGIN SOLUTION
        embeddings = torch.cat((self.embedding(inputs), self.constant_embedding(inputs)), dim=2)
        embeddings = embeddings.permute(0, 2, 1)
        encoding = torch.cat([self.pool(F.relu(conv(embeddings))).squeeze(-1) for conv in self.convs], dim=1)
        return self.decoder(self.dropout(encoding))
        # END SOLUTION
