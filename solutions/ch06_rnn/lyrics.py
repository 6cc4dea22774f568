"""D2L 6.3 (语言模型数据集（周杰伦专辑歌词）): a character-level corpus and its two samplers.

``load_data_jay_lyrics`` reads a text (the book's ``jaychou_lyrics.txt.zip`` or any UTF-8
text file) into character indices. ``data_iter_random`` and ``data_iter_consecutive`` cut the
index sequence into minibatches of ``(X, Y)`` where ``Y`` is ``X`` shifted by one position
(the next character is the label).
"""
import os
import random
import zipfile
from pathlib import Path

import torch


def load_data_jay_lyrics(path=None, num_chars=10000):
    """Read a character corpus; return ``(corpus_indices, char_to_idx, idx_to_char, vocab_size)``.

    When ``path`` is None it reads the book's file, ``jaychou_lyrics.txt.zip`` in the course data
    folder: ``$D2L_DATA_DIR`` when set, else ``../data`` as in the book's notebooks (so the
    book's ``d2l.load_data_jay_lyrics()`` works).

    ``path`` is a UTF-8 text file, or a ``.zip`` holding the text file whose name is the zip's
    name minus its ``.zip`` suffix (``jaychou_lyrics.txt.zip`` holds ``jaychou_lyrics.txt``). Every
    ``'\\n'`` and every ``'\\r'`` becomes one space (a zip member is decoded from its bytes,
    so a ``'\\r\\n'`` there gives two spaces), then only the first ``num_chars`` characters are
    kept (all of them when ``num_chars`` is None).

    * ``idx_to_char``: list of the distinct characters **in order of first appearance** (the
      book uses ``list(set(...))``, whose order changes from run to run);
    * ``char_to_idx``: dict character -> its index in ``idx_to_char``;
    * ``corpus_indices``: list of ints, one per kept character;
    * ``vocab_size``: ``len(idx_to_char)``.

    Book facts for the real file: the first 40 characters are
    ``'想要有直升机 想要和你飞到宇宙去 想要和你融化在一起 融化在宇宙里 我每天每天每'`` and the
    first 10,000 characters have 1,027 distinct ones (``vocab_size`` 1027).
    """
    # BEGIN SOLUTION
    if path is None:
        path = Path(os.environ.get("D2L_DATA_DIR") or "../data") / "jaychou_lyrics.txt.zip"
    path = Path(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zin:
            with zin.open(path.name[:-len(".zip")]) as f:
                corpus_chars = f.read().decode("utf-8")
    else:
        corpus_chars = path.read_text(encoding="utf-8")
    corpus_chars = corpus_chars.replace("\n", " ").replace("\r", " ")
    if num_chars is not None:
        corpus_chars = corpus_chars[0:num_chars]
    idx_to_char = list(dict.fromkeys(corpus_chars))
    char_to_idx = {char: i for i, char in enumerate(idx_to_char)}
    corpus_indices = [char_to_idx[char] for char in corpus_chars]
    return corpus_indices, char_to_idx, idx_to_char, len(idx_to_char)
    # END SOLUTION


def data_iter_random(corpus_indices, batch_size, num_steps, device=None):
    """Random sampling: yield ``(X, Y)`` float32 tensors of shape (batch_size, num_steps) on ``device`` (CPU if None).

    The sequence is cut into ``num_examples = (len(corpus_indices) - 1) // num_steps``
    non-overlapping examples; example ``j`` is ``corpus_indices[j * num_steps: (j + 1) *
    num_steps]`` and its labels start one position later. The example numbers
    ``list(range(num_examples))`` are shuffled with ``random.shuffle`` (so ``random.seed``
    reproduces the order) and taken ``batch_size`` at a time, in that order, for
    ``num_examples // batch_size`` minibatches; each example is used at most once per epoch.
    Book example: ``list(range(30))`` with batch 2 and 6 steps gives 2 minibatches whose rows
    are runs of 6 starting at distinct multiples of 6 below 24, with ``Y = X + 1``.
    """
    # BEGIN SOLUTION
    num_examples = (len(corpus_indices) - 1) // num_steps
    epoch_size = num_examples // batch_size
    example_indices = list(range(num_examples))
    random.shuffle(example_indices)
    if device is None:
        device = torch.device("cpu")

    def _data(pos):
        return corpus_indices[pos: pos + num_steps]

    for i in range(epoch_size):
        batch_indices = example_indices[i * batch_size: (i + 1) * batch_size]
        X = [_data(j * num_steps) for j in batch_indices]
        Y = [_data(j * num_steps + 1) for j in batch_indices]
        yield (torch.tensor(X, dtype=torch.float32, device=device),
               torch.tensor(Y, dtype=torch.float32, device=device))
    # END SOLUTION


def data_iter_consecutive(corpus_indices, batch_size, num_steps, device=None):
    """Consecutive sampling: yield ``(X, Y)`` float32 tensors of shape (batch_size, num_steps) on ``device`` (CPU if None).

    The first ``batch_size * batch_len`` indices (``batch_len = len // batch_size``) are laid
    out as ``batch_size`` rows of ``batch_len`` consecutive indices (row ``r`` starts at
    ``r * batch_len``). Minibatch ``i`` (``i < (batch_len - 1) // num_steps``) is the column
    block ``[:, i * num_steps: (i + 1) * num_steps]`` and ``Y`` the same block one column
    later, so row ``r`` of one minibatch continues row ``r`` of the previous one. The book's
    example: ``list(range(30))`` with batch 2 and 6 steps gives
    ``X = [[0..5], [15..20]]``, ``Y = [[1..6], [16..21]]`` and then
    ``X = [[6..11], [21..26]]``, ``Y = [[7..12], [22..27]]``.
    """
    # BEGIN SOLUTION
    if device is None:
        device = torch.device("cpu")
    corpus = torch.tensor(corpus_indices, dtype=torch.float32, device=device)
    batch_len = len(corpus) // batch_size
    indices = corpus[0: batch_size * batch_len].view(batch_size, batch_len)
    epoch_size = (batch_len - 1) // num_steps
    for i in range(epoch_size):
        i = i * num_steps
        yield indices[:, i: i + num_steps], indices[:, i + 1: i + num_steps + 1]
    # END SOLUTION
