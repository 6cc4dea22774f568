"""D2L 10.12 (机器翻译): an attention GRU encoder-decoder, greedy translation and BLEU.

French is the input and English the output, each with its own vocabulary (``Vocab`` from
``vocab.py`` with the specials ``<pad>``, ``<bos>``, ``<eos>`` at 0, 1, 2). Deviations from the
book's code, each on purpose: the decoder's GRU takes ``embed_size + num_hiddens`` inputs (the
book writes ``2 * embed_size``, which only works when the two are equal); ``translate`` puts
both networks in evaluation mode (the book leaves dropout on); ``batch_loss`` counts every real
token including ``<eos>`` and no ``<pad>`` (the book's mask also counts the first ``<pad>``);
``bleu`` keys n-grams by tuples (the book's ``''.join`` makes ``['ab', 'c']`` equal
``['a', 'bc']``) and returns 0 instead of dividing by zero for short predictions.
"""
import collections
import io
import math

import torch
from torch import nn

from .attention import attention_forward, attention_model
from .vocab import Vocab

PAD, BOS, EOS = '<pad>', '<bos>', '<eos>'


def process_one_seq(seq_tokens, all_tokens, all_seqs, max_seq_len):
    """Append a sentence's tokens to ``all_tokens`` and the sentence, with ``<eos>`` and
    ``<pad>`` up to ``max_seq_len``, to ``all_seqs``."""
    all_tokens.extend(seq_tokens)
    seq_tokens += [EOS] + [PAD] * (max_seq_len - len(seq_tokens) - 1)
    all_seqs.append(seq_tokens)


def build_data(all_tokens, all_seqs):
    vocab = Vocab(collections.Counter(all_tokens), specials=[PAD, BOS, EOS])
    indices = [vocab.lookup(seq) for seq in all_seqs]
    return vocab, torch.tensor(indices)


def read_data(path, max_seq_len):
    """Read tab-separated ``french<TAB>english`` lines; pairs longer than ``max_seq_len - 1``
    tokens are skipped. Returns ``in_vocab, out_vocab, TensorDataset(in_data, out_data)``."""
    in_tokens, out_tokens, in_seqs, out_seqs = [], [], [], []
    with io.open(path, encoding='utf-8') as f:
        lines = f.readlines()
    for line in lines:
        if not line.strip():
            continue
        in_seq, out_seq = line.rstrip().split('\t')
        in_seq_tokens, out_seq_tokens = in_seq.split(' '), out_seq.split(' ')
        if max(len(in_seq_tokens), len(out_seq_tokens)) > max_seq_len - 1:
            continue
        process_one_seq(in_seq_tokens, in_tokens, in_seqs, max_seq_len)
        process_one_seq(out_seq_tokens, out_tokens, out_seqs, max_seq_len)
    in_vocab, in_data = build_data(in_tokens, in_seqs)
    out_vocab, out_data = build_data(out_tokens, out_seqs)
    return in_vocab, out_vocab, torch.utils.data.TensorDataset(in_data, out_data)


class Encoder(nn.Module):
    """``Encoder(vocab_size, embed_size, num_hiddens, num_layers, drop_prob=0)``: attributes
    ``embedding`` (``nn.Embedding``) and ``rnn`` (``nn.GRU(embed_size, num_hiddens, num_layers,
    dropout=drop_prob)``, time-major). ``forward(inputs, state)``: token ids (batch, T) ->
    ``(outputs (T, batch, num_hiddens), state (num_layers, batch, num_hiddens))``.
    ``begin_state()`` returns None (a zero state). The book's example: ``Encoder(10, 8, 16, 2)``
    on a (4, 7) input gives outputs (7, 4, 16) and state (2, 4, 16).
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, drop_prob=0, **kwargs):
        super().__init__(**kwargs)
        # BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size, num_hiddens, num_layers, dropout=drop_prob)
        # END SOLUTION

    def forward(self, inputs, state):
        # BEGIN SOLUTION
        embedding = self.embedding(inputs.long()).permute(1, 0, 2)  # (T, batch, embed)
        return self.rnn(embedding, state)
        # END SOLUTION

    def begin_state(self):
        return None


class Decoder(nn.Module):
    """``Decoder(vocab_size, embed_size, num_hiddens, num_layers, attention_size, drop_prob=0)``:
    attributes ``embedding``, ``attention`` (``attention_model(2 * num_hiddens,
    attention_size)``), ``rnn`` (``nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers,
    dropout=drop_prob)``) and ``out`` (``nn.Linear(num_hiddens, vocab_size)``).

    ``forward(cur_input, state, enc_states)``: one time step. ``cur_input`` (batch,) token ids,
    ``state`` (num_layers, batch, num_hiddens), ``enc_states`` (T, batch, num_hiddens). The
    context is ``attention_forward(self.attention, enc_states, state[-1])`` (the top layer's
    state); the GRU input is ``[embedding(cur_input), context]`` (embedding first). Returns
    ``(logits (batch, vocab_size), new state)``. ``begin_state(enc_state)`` returns the
    encoder's final state.
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, attention_size, drop_prob=0):
        super().__init__()
        # BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.attention = attention_model(2 * num_hiddens, attention_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=drop_prob)
        self.out = nn.Linear(num_hiddens, vocab_size)
        # END SOLUTION

    def forward(self, cur_input, state, enc_states):
        # BEGIN SOLUTION
        c = attention_forward(self.attention, enc_states, state[-1])
        input_and_c = torch.cat((self.embedding(cur_input.long()), c), dim=1)
        output, state = self.rnn(input_and_c.unsqueeze(0), state)
        return self.out(output).squeeze(dim=0), state
        # END SOLUTION

    def begin_state(self, enc_state):
        return enc_state


def batch_loss(encoder, decoder, X, Y, loss, bos=1, eos=2):
    """The average per-token loss of a batch, with teacher forcing.

    ``X`` (batch, T_in) and ``Y`` (batch, T_out) are padded token ids; ``loss`` is an
    unreduced loss such as ``nn.CrossEntropyLoss(reduction='none')``. The encoder runs from
    ``begin_state()``; the decoder starts from ``decoder.begin_state(enc_state)`` with the
    input ``bos`` for every sequence and is then fed the true previous token. The token losses
    are summed over every real token of ``Y`` up to and including its first ``eos`` (padding
    after it does not count) and divided by the number of those tokens. Returns a 0-dim tensor
    that back-propagates into both networks.
    """
    # BEGIN SOLUTION
    batch_size = X.shape[0]
    enc_outputs, enc_state = encoder(X, encoder.begin_state())
    dec_state = decoder.begin_state(enc_state)
    dec_input = torch.tensor([bos] * batch_size)
    mask = torch.ones(batch_size)
    num_tokens = 0
    l = torch.tensor(0.0)
    for y in Y.permute(1, 0):
        dec_output, dec_state = decoder(dec_input, dec_state, enc_outputs)
        l = l + (mask * loss(dec_output, y)).sum()
        num_tokens += mask.sum()
        mask = mask * (y != eos).float()
        dec_input = y
    return l / num_tokens
    # END SOLUTION


def train(encoder, decoder, dataset, lr, batch_size, num_epochs, bos=1, eos=2):
    """Adam on both networks with ``batch_loss``; returns the mean loss of each epoch."""
    enc_optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    dec_optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss(reduction='none')
    data_iter = torch.utils.data.DataLoader(dataset, batch_size, shuffle=True)
    encoder.train()
    decoder.train()
    history = []
    for _ in range(num_epochs):
        l_sum, n = 0.0, 0
        for X, Y in data_iter:
            enc_optimizer.zero_grad()
            dec_optimizer.zero_grad()
            l = batch_loss(encoder, decoder, X, Y, loss, bos, eos)
            l.backward()
            enc_optimizer.step()
            dec_optimizer.step()
            l_sum += l.item()
            n += 1
        history.append(l_sum / n)
    return history


def translate(encoder, decoder, input_seq, max_seq_len, in_vocab, out_vocab):
    """Greedy translation of one space-separated sentence; returns the output tokens.

    The input is tokenised by spaces, ``<eos>`` is appended and it is padded with ``<pad>`` to
    ``max_seq_len``; both networks are put in evaluation mode; decoding starts from ``<bos>``
    and takes the most probable token at each step, for at most ``max_seq_len`` steps. The
    result stops before the first ``<eos>`` (which is not included).
    """
    # BEGIN SOLUTION
    encoder.eval()
    decoder.eval()
    in_tokens = input_seq.split(' ')
    in_tokens += [EOS] + [PAD] * (max_seq_len - len(in_tokens) - 1)
    enc_input = torch.tensor([in_vocab.lookup(in_tokens)])
    with torch.no_grad():
        enc_output, enc_state = encoder(enc_input, encoder.begin_state())
        dec_input = torch.tensor([out_vocab[BOS]])
        dec_state = decoder.begin_state(enc_state)
        output_tokens = []
        for _ in range(max_seq_len):
            dec_output, dec_state = decoder(dec_input, dec_state, enc_output)
            pred = dec_output.argmax(dim=1)
            pred_token = out_vocab.itos[int(pred.item())]
            if pred_token == EOS:
                break
            output_tokens.append(pred_token)
            dec_input = pred
    return output_tokens
    # END SOLUTION


def bleu(pred_tokens, label_tokens, k):
    """BLEU by the book's formula: ``exp(min(0, 1 - len_label / len_pred)) * prod_{n=1..k}
    p_n ** (1 / 2 ** n)``.

    ``p_n`` is the clipped n-gram precision: the number of the prediction's n-grams that match
    an n-gram of the label (each label n-gram matches at most as often as it occurs there),
    divided by the number of n-grams in the prediction. A prediction with no n-grams of some
    order n <= k (shorter than n) or no matches has ``p_n = 0`` and a BLEU of 0.0, as has an
    empty prediction; no division by zero. Returns a Python float. The book's examples:
    ``bleu('they are watching .', 'they are watching .', 2) == 1.0`` and ``'they are russian
    .'`` against ``'they are canadian .'`` gives 0.658 (k=2). Do not call a library BLEU.
    """
    # BEGIN SOLUTION
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    if len_pred == 0:
        return 0.0
    score = math.exp(min(0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        total = len_pred - n + 1
        if total <= 0:
            return 0.0
        num_matches, label_subs = 0, collections.defaultdict(int)
        for i in range(len_label - n + 1):
            label_subs[tuple(label_tokens[i: i + n])] += 1
        for i in range(total):
            gram = tuple(pred_tokens[i: i + n])
            if label_subs[gram] > 0:
                num_matches += 1
                label_subs[gram] -= 1
        if num_matches == 0:
            return 0.0
        score *= math.pow(num_matches / total, math.pow(0.5, n))
    return score
    # END SOLUTION
