"""D2L 10.11 (注意力机制) and the attention of 10.12: masked softmax and additive attention.

The book's attention (``attention_model`` + ``attention_forward``) scores every encoder time
step with a small MLP, takes a softmax over time and returns the weighted sum of the encoder
states. This version also takes ``valid_lens``: positions past a sequence's valid length
(padding) get weight 0, as in the English edition's ``masked_softmax``.
"""
import torch
from torch import nn
import torch.nn.functional as F


def masked_softmax(X, valid_lens=None):
    """Softmax over the last axis of ``X`` (..., T) that ignores positions ``>= valid_lens``.

    ``valid_lens``: None (no mask) or a 1-D tensor with one length per row of the leading
    axis (``X.shape[0]``), each in 1..T. Masked positions get probability exactly 0 and each
    row's valid positions sum to 1; masked scores are replaced by -1e6 before the softmax, so
    huge or ``inf`` values there do not matter. Same shape and dtype as ``X``.
    """
    # BEGIN SOLUTION
    if valid_lens is None:
        return F.softmax(X, dim=-1)
    T = X.shape[-1]
    lens = valid_lens.reshape((-1,) + (1,) * (X.dim() - 1)).to(X.device)
    pos = torch.arange(T, device=X.device).reshape((1,) * (X.dim() - 1) + (T,))
    mask = pos < lens
    X = torch.where(mask, X, torch.full_like(X, -1e6))
    return F.softmax(X, dim=-1)
    # END SOLUTION


def attention_model(input_size, attention_size):
    """The scoring MLP: ``Linear(input_size, attention_size, bias=False)``, ``Tanh``,
    ``Linear(attention_size, 1, bias=False)`` in an ``nn.Sequential`` (the book's)."""
    return nn.Sequential(nn.Linear(input_size, attention_size, bias=False), nn.Tanh(),
                         nn.Linear(attention_size, 1, bias=False))


def attention_forward(model, enc_states, dec_state, valid_lens=None):
    """Additive attention: the context vector of each batch element.

    ``enc_states`` (T, batch, h), ``dec_state`` (batch, h), ``valid_lens`` None or (batch,).
    The decoder state is paired with every encoder state (``[enc_t, dec]`` concatenated on
    the feature axis, encoder state first, as in the book), ``model`` scores each pair, the
    scores are normalised over time with ``masked_softmax`` and the result is
    ``sum_t alpha_t * enc_t`` of shape (batch, h). The book's shape example: T=10, batch=4,
    h=8 gives (4, 8).
    """
    # BEGIN SOLUTION
    dec_states = dec_state.unsqueeze(dim=0).expand_as(enc_states)
    e = model(torch.cat((enc_states, dec_states), dim=2)).squeeze(-1)  # (T, batch)
    alpha = masked_softmax(e.t(), valid_lens).t()  # over time, per batch element
    return (alpha.unsqueeze(-1) * enc_states).sum(dim=0)
    # END SOLUTION
