"""Graders for ch10_nlp.translation (D2L 10.12): bleu, the attention encoder-decoder, the
masked loss, greedy translation, and training a small French-English translator."""
import math
import random

import pytest
import torch
from torch import nn

from d2lgrade import (
    assert_close, call_timeout, call_without, from_scratch, GradeFailure, hidden, ops, points,
    reference, tier)

MODULE = "ch10_nlp.translation"
ref = reference(MODULE)
NO_BLEU = ["nltk", "sacrebleu", "torchmetrics", "bleu_score", "sentence_bleu", "corpus_bleu", "torchtext"]

# From-scratch policy (issue 14): every call of bleu is traced in the child; no BLEU library
# (nltk, sacrebleu, torchmetrics: a foreign import while it runs is a violation), checked on
# the definition Python really uses (a second ``def bleu`` included).
from_scratch(MODULE, "bleu", allow=ops.ELEMENTARY, names=NO_BLEU)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _bleu(student, pred, label, k):
    return call_without(student.bleu, pred.split(), label.split(), k, forbidden=NO_BLEU, what="bleu")


def _independent_bleu(pred, label, k):
    """BLEU with the book's weights 1/2**n via nltk's sentence_bleu (or, without nltk, a
    counting oracle written independently of the reference)."""
    pred, label = pred.split(), label.split()
    try:
        from nltk.translate.bleu_score import sentence_bleu
    except ImportError:  # pragma: no cover - nltk is pinned in pyproject.toml
        from collections import Counter
        logs = 0.0
        for n in range(1, k + 1):
            p = Counter(zip(*[pred[i:] for i in range(n)]))
            r = Counter(zip(*[label[i:] for i in range(n)]))
            logs += 0.5 ** n * math.log(sum((p & r).values()) / sum(p.values()))
        return math.exp(min(0.0, 1 - len(label) / len(pred)) + logs)
    return sentence_bleu([label], pred, weights=[0.5 ** n for n in range(1, k + 1)])


@points(1)
def test_bleu_book_examples(student):
    """bleu is 1.000 for 'they are watching .' and 0.658 for 'they are russian .' vs 'they are canadian .' (k=2)."""
    b1 = _bleu(student, "they are watching .", "they are watching .", 2)
    b2 = _bleu(student, "they are russian .", "they are canadian .", 2)
    assert abs(b1 - 1.0) < 1e-9, f"bleu of an exact match is {b1}, expected 1.000"
    assert abs(b2 - 0.658037) < 1e-5, f"bleu('they are russian .', 'they are canadian .', 2) is {b2:.6f}, expected 0.658"


@points(1)
def test_bleu_brevity_penalty(student):
    """The book's prose example: 'A B' against 'A B C D E F' (k=2) has p1 = p2 = 1 and BLEU exp(1 - 6/2)."""
    b = _bleu(student, "A B", "A B C D E F", 2)
    assert abs(b - math.exp(-2)) < 1e-9, f"got {b:.6f}, expected exp(-2) = {math.exp(-2):.6f}"


@points(1)
def test_bleu_short_prediction(student):
    """A prediction shorter than the n-gram order (and an empty one) scores 0 instead of dividing by zero."""
    b = _bleu(student, "they", "they are watching .", 2)
    assert b == 0.0, f"bleu(['they'], ..., k=2) is {b}, expected 0.0"
    b = call_without(student.bleu, [], ["they"], 1, forbidden=NO_BLEU, what="bleu")
    assert b == 0.0, f"bleu([], ['they'], 1) is {b}, expected 0.0"


@hidden
@points(2)
def test_bleu_matches_independent_implementation(student):
    """Random token sequences agree with an independent BLEU with the same weights (where all precisions are positive)."""
    words = "a b c d e".split()
    checked = 0
    while checked < 30:
        label = " ".join(random.choices(words, k=random.randint(3, 9)))
        pred = " ".join(random.choices(words, k=random.randint(3, 9)))
        k = random.randint(1, 3)
        expected = _independent_bleu(pred, label, k)
        if expected == 0:
            continue
        assert abs(_bleu(student, pred, label, k) - expected) < 1e-9
        checked += 1


@hidden
@points(1)
def test_bleu_clipping_and_ngram_keys(student):
    """Repeated n-grams are clipped to their count in the label, and n-grams are compared token by token."""
    assert abs(_bleu(student, "the the the the", "the cat is on the mat", 1) - ref.bleu(
        "the the the the".split(), "the cat is on the mat".split(), 1)) < 1e-9
    b = call_without(student.bleu, ["ab", "c", "d"], ["a", "bc", "d"], 2, forbidden=NO_BLEU, what="bleu")
    assert b == 0.0


@points(1)
def test_encoder_book_shapes(student, submission):
    """Encoder(10, 8, 16, 2) on a (4, 7) input gives outputs (7, 4, 16) and state (2, 4, 16)."""
    enc = student.Encoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    output, state = enc(torch.zeros((4, 7), dtype=torch.long), None)
    assert tuple(output.shape) == (7, 4, 16) and tuple(state.shape) == (2, 4, 16), \
        f"got {tuple(output.shape)} and {tuple(state.shape)}, expected (7, 4, 16) and (2, 4, 16)"


def _pair(submission, student, V_in=12, V_out=9, E=6, H=8, L=2, A=5):
    enc = student.Encoder(V_in, E, H, L)
    dec = student.Decoder(V_out, E, H, L, A)
    r_enc, r_dec = ref.Encoder(V_in, E, H, L), ref.Decoder(V_out, E, H, L, A)
    for net, r, name in ((enc, r_enc, "Encoder"), (dec, r_dec, "Decoder")):
        state = submission.probe("state_dict", net)
        rs = r.state_dict()
        if set(state) != set(rs) or any(tuple(state[k].shape) != tuple(v.shape) for k, v in rs.items()):
            raise GradeFailure(f"{name} parameters: got {[(k, tuple(v.shape)) for k, v in state.items()]}, "
                               f"expected {[(k, tuple(v.shape)) for k, v in rs.items()]}")
        if name == "Decoder":  # sharper attention, so the context depends on the query
            state = {k: v * 8 if k.startswith("attention.") else v for k, v in state.items()}
            submission.probe("load_state_dict", net, state)
        r.load_state_dict(state)
    return enc, dec, r_enc, r_dec


@points(1)
def test_decoder_step_shapes(student, submission):
    """One decoder step (embed 6 != hidden 8) returns logits (batch, vocab) and a state like the encoder's."""
    enc, dec, _, _ = _pair(submission, student)
    outputs, state = enc(torch.randint(0, 12, (3, 5)), None)
    logits, new_state = dec(torch.tensor([1, 1, 1]), state, outputs)
    assert tuple(logits.shape) == (3, 9) and tuple(new_state.shape) == (2, 3, 8), \
        f"got {tuple(logits.shape)} and {tuple(new_state.shape)}, expected (3, 9) and (2, 3, 8)"


@hidden
@points(2)
def test_encoder_decoder_match_reference(student, submission):
    """With the same parameters, the encoder outputs and one decoder step agree with the reference."""
    enc, dec, r_enc, r_dec = _pair(submission, student)
    X = torch.randint(0, 12, (3, 5))
    outputs, state = enc(X, None)
    logits, new_state = dec(torch.tensor([1, 4, 2]), state, outputs)
    with torch.no_grad():
        r_out, r_state = r_enc(X, None)
        r_logits, r_new = r_dec(torch.tensor([1, 4, 2]), r_state, r_out)
    assert_close(outputs.detach(), r_out, what="encoder outputs", hidden=True, kind="reduction")
    assert_close(logits.detach(), r_logits, what="decoder logits", hidden=True, kind="reduction")
    assert_close(new_state.detach(), r_new, what="decoder state", hidden=True, kind="reduction")


def _padded_batch():
    X = torch.tensor([[5, 4, 2, 0, 0], [6, 7, 8, 3, 2], [3, 2, 0, 0, 0]])
    Y = torch.tensor([[4, 5, 6, 2, 0], [3, 2, 0, 0, 0], [7, 8, 2, 0, 0]])
    return X, Y


@points(1)
def test_batch_loss_counts_real_tokens(student, submission):
    """batch_loss is the mean cross-entropy over the real tokens up to each <eos> (padding excluded)."""
    enc, dec, r_enc, r_dec = _pair(submission, student)
    X, Y = _padded_batch()
    l = student.batch_loss(enc, dec, X, Y, submission.module("torch.nn").CrossEntropyLoss(reduction="none"))
    with torch.no_grad():
        expected = ref.batch_loss(r_enc, r_dec, X, Y, nn.CrossEntropyLoss(reduction="none"))
    assert_close(l.detach().reshape(()), expected, what="batch_loss on a padded batch", kind="reduction")


@hidden
@points(2)
def test_batch_loss_ignores_padding_and_backprops(student, submission):
    """Changing the padding tokens does not change the loss, and the loss has gradients for both networks."""
    enc, dec, r_enc, r_dec = _pair(submission, student)
    X, Y = _padded_batch()
    Y2 = Y.clone()
    Y2[Y2 == 0] = 7  # the tokens after <eos> must not count
    ce = submission.module("torch.nn").CrossEntropyLoss(reduction="none")
    l1 = student.batch_loss(enc, dec, X, Y, ce)
    l2 = student.batch_loss(enc, dec, X, Y2, ce)
    assert_close(l2.detach(), l1.detach(), what="the loss with other padding tokens", hidden=True, kind="reduction")
    with torch.no_grad():
        expected = ref.batch_loss(r_enc, r_dec, X, Y2, nn.CrossEntropyLoss(reduction="none"))
    assert_close(l2.detach().reshape(()), expected, what="batch_loss", hidden=True, kind="reduction")


def _read_course_data(student, data_dir, max_seq_len):
    """read_data on the course's fr-en-small.txt; the book's read_data(max_seq_len) (10.12)
    reads its fixed '../data/fr-en-small.txt', which the child resolves to the same file."""
    if len(student.read_data.signature()) == 1:
        return student.read_data(max_seq_len)
    return student.read_data(str(data_dir / "fr-en-small.txt"), max_seq_len)


def _train_translator(student, seed_child, path, max_seq_len=5, epochs=40, data_dir=None):
    seed_child(0)
    if data_dir is not None:  # the course's file: the book's read_data(max_seq_len) reads it too
        in_vocab, out_vocab, dataset = _read_course_data(student, data_dir, max_seq_len)
    else:
        in_vocab, out_vocab, dataset = student.read_data(str(path), max_seq_len)
    enc = student.Encoder(len(in_vocab.itos), 32, 32, 1)
    dec = student.Decoder(len(out_vocab.itos), 32, 32, 1, 10)
    history = student.train(enc, dec, dataset, 0.01, 8, epochs)
    return in_vocab, out_vocab, enc, dec, history


@points(3)
@call_timeout(90)
def test_translator_learns_generated_corpus(student, seed_child, fr_en_path, feedback):
    """Trained on the project's 40 templated French-English pairs, the translator scores mean BLEU >= 0.9 (k=2) on them."""
    in_vocab, out_vocab, enc, dec, history = _train_translator(student, seed_child, fr_en_path)
    scores = []
    for line in fr_en_path.read_text(encoding="utf-8").splitlines():
        fr, en = line.split("\t")
        pred = student.translate(enc, dec, fr, 5, in_vocab, out_vocab)
        scores.append(ref.bleu(list(pred), en.split(), 2))
    mean = sum(scores) / len(scores)
    feedback(f"mean BLEU {mean:.3f}; final training loss {history[-1]:.3f}")
    # reference: mean BLEU 1.000 (final loss 0.007) after 40 epochs; threshold with margin
    assert mean >= 0.9, f"mean BLEU on the training pairs is {mean:.3f}, expected at least 0.9"


@hidden
@points(1)
def test_translate_stops_at_eos(student, submission):
    """translate returns at most max_seq_len tokens, without '<eos>' or '<pad>', from an untrained model too."""
    Vocab = submission.module("ch10_nlp.vocab").Vocab  # the course's (the book rebinds the name)
    in_vocab = Vocab({"a": 1, "b": 1}, specials=["<pad>", "<bos>", "<eos>"])
    out_vocab = Vocab({"x": 1, "y": 1}, specials=["<pad>", "<bos>", "<eos>"])
    enc, dec = student.Encoder(5, 4, 4, 1), student.Decoder(5, 4, 4, 1, 3)
    state = submission.probe("state_dict", dec)
    state["out.bias"] = torch.tensor([0.0, 0.0, 50.0, 0.0, 0.0])  # <eos> first
    state["out.weight"] = torch.zeros_like(state["out.weight"])
    submission.probe("load_state_dict", dec, state)
    assert list(student.translate(enc, dec, "a b", 4, in_vocab, out_vocab)) == []
    state["out.bias"] = torch.tensor([0.0, 0.0, 0.0, 50.0, 0.0])  # always 'x'
    submission.probe("load_state_dict", dec, state)
    assert list(student.translate(enc, dec, "a b", 4, in_vocab, out_vocab)) == ["x"] * 4


@tier("data")
@points(1)
def test_fr_en_small_dataset_indices(student, data_dir):
    """read_data on the course's fr-en-small.txt (max_seq_len 7) gives the book's dataset[0]."""
    in_vocab, out_vocab, dataset = _read_course_data(student, data_dir, 7)
    x, y = dataset[0]
    assert x.tolist() == [5, 4, 45, 3, 2, 0, 0] and y.tolist() == [8, 4, 27, 3, 2, 0, 0], \
        f"dataset[0] is {x.tolist()}, {y.tolist()}; the book prints [5, 4, 45, 3, 2, 0, 0], [8, 4, 27, 3, 2, 0, 0]"


@tier("data")
@points(1)
@call_timeout(120)
def test_fr_en_small_translator(student, seed_child, data_dir, feedback):
    """Trained on fr-en-small.txt, the translator gives 'ils regardent .' -> 'they are watching .' (BLEU 1.000)."""
    in_vocab, out_vocab, enc, dec, history = _train_translator(student, seed_child, data_dir / "fr-en-small.txt",
                                                               max_seq_len=7, epochs=40, data_dir=data_dir)
    pred = student.translate(enc, dec, "ils regardent .", 7, in_vocab, out_vocab)
    feedback(f"predict: {' '.join(pred)}; final loss {history[-1]:.3f}")
    assert list(pred) == ["they", "are", "watching", "."], f"translated to {pred}"
