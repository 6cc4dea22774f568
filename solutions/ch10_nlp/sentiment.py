"""D2L 10.7 (文本情感分类：使用循环神经网络): tokenising, padding, a BiLSTM classifier, pretrained
embeddings and training.

The book reads IMDb (not available offline) and uses the legacy ``torchtext.vocab.Vocab``;
here the vocabulary is ``Vocab`` from ``vocab.py`` (``<unk>`` = 0, ``<pad>`` = 1, like the legacy
class). Deviations from the book's code: ``preprocess`` pads with the ``<pad>`` index (the book
pads with 0, which is ``<unk>``), and ``load_pretrained_embedding`` really counts the words it
cannot find (the book's ``oov_count += 0`` never counts) and returns the count.
"""
import collections

import torch
from torch import nn

from .vocab import Vocab


def tokenize(text):
    """Lower-cased tokens of a review, split on single spaces (the book's ``get_tokenized_imdb``)."""
    # BEGIN SOLUTION
    return [tok.lower() for tok in text.split(' ')]
    # END SOLUTION


def get_vocab(tokenized, min_freq=5):
    """``Vocab`` of the tokenised reviews with ``min_freq`` and the specials ``<unk>``, ``<pad>``."""
    counter = collections.Counter(tk for st in tokenized for tk in st)
    return Vocab(counter, min_freq=min_freq, specials=('<unk>', '<pad>'))


def preprocess(data, vocab, max_l=500):
    """``data``: list of ``(text, label)``. Returns ``(features, labels)``: int64 tensors
    (n, max_l) and (n,).

    Each text is tokenised with ``tokenize`` and mapped with ``vocab[token]`` (unknown words
    become ``<unk>``); a review longer than ``max_l`` keeps its first ``max_l`` tokens, a
    shorter one is padded at the end with ``vocab['<pad>']``.
    """
    # BEGIN SOLUTION
    pad_id = vocab['<pad>']

    def pad(x):
        return x[:max_l] if len(x) > max_l else x + [pad_id] * (max_l - len(x))
    features = torch.tensor([pad([vocab[w] for w in tokenize(text)]) for text, _ in data])
    labels = torch.tensor([score for _, score in data])
    return features, labels
    # END SOLUTION


class BiRNN(nn.Module):
    """Bidirectional LSTM classifier: ``BiRNN(vocab_size, embed_size, num_hiddens, num_layers)``.

    Attributes ``embedding`` (``nn.Embedding(vocab_size, embed_size)``), ``encoder``
    (``nn.LSTM(embed_size, num_hiddens, num_layers, bidirectional=True)``, time-major) and
    ``decoder`` (``nn.Linear(4 * num_hiddens, 2)``). ``forward(inputs)``: token ids (batch, L)
    -> logits (batch, 2); the decoder reads the concatenation of the LSTM outputs at the first
    and at the last time step. The book takes the vocabulary object; this version its size.
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers):
        super().__init__()
        # BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.encoder = nn.LSTM(input_size=embed_size, hidden_size=num_hiddens,
                               num_layers=num_layers, bidirectional=True)
        self.decoder = nn.Linear(4 * num_hiddens, 2)
        # END SOLUTION

    def forward(self, inputs):
        # BEGIN SOLUTION
        embeddings = self.embedding(inputs.permute(1, 0))   # (L, batch, embed)
        outputs, _ = self.encoder(embeddings)               # (L, batch, 2 * hidden)
        encoding = torch.cat((outputs[0], outputs[-1]), -1)
        return self.decoder(encoding)
        # END SOLUTION


def load_pretrained_embedding(words, pretrained):
    """Rows of pretrained vectors for the tokens ``words``.

    ``pretrained`` has ``stoi`` (dict token -> row) and ``vectors`` (N, d). Returns
    ``(embed, oov_count)``: a float32 tensor (len(words), d) with the pretrained vector of each
    word found in ``stoi`` and zeros for the others, and the number of words not found.
    """
    # BEGIN SOLUTION
    embed = torch.zeros(len(words), pretrained.vectors[0].shape[0])
    oov_count = 0
    for i, word in enumerate(words):
        try:
            embed[i, :] = pretrained.vectors[pretrained.stoi[word]]
        except KeyError:
            oov_count += 1
    return embed, oov_count
    # END SOLUTION


def evaluate_accuracy(data_iter, net):
    """Accuracy of ``net`` on ``(X, y)`` batches, in evaluation mode (restores training mode)."""
    was_training = net.training
    net.eval()
    correct, n = 0, 0
    with torch.no_grad():
        for X, y in data_iter:
            correct += (net(X).argmax(dim=1) == y).sum().item()
            n += y.shape[0]
    net.train(was_training)
    return correct / n


def train(net, train_iter, lr, num_epochs):
    """Adam (``lr``) on the parameters that require grad, cross-entropy, ``num_epochs`` epochs.

    Frozen parameters (``requires_grad=False``, e.g. a pretrained embedding) are not given to
    the optimizer and do not change. Returns the mean batch loss of each epoch.
    """
    # BEGIN SOLUTION
    optimizer = torch.optim.Adam(filter(lambda p: p.requires_grad, net.parameters()), lr=lr)
    loss = nn.CrossEntropyLoss()
    net.train()
    history = []
    for _ in range(num_epochs):
        l_sum, n = 0.0, 0
        for X, y in train_iter:
            l = loss(net(X), y)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
            l_sum += l.item()
            n += 1
        history.append(l_sum / n)
    return history
    # END SOLUTION


def predict_sentiment(net, vocab, sentence):
    """'positive' or 'negative' for a list of tokens (label 1 is positive), in evaluation mode."""
    net.eval()
    with torch.no_grad():
        x = torch.tensor([vocab[w] for w in sentence]).view(1, -1)
        label = torch.argmax(net(x), dim=1)
    return 'positive' if label.item() == 1 else 'negative'
