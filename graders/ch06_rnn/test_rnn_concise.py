"""Graders for ch06_rnn.rnn_concise (D2L 6.5): RNNModel on nn.RNN/nn.GRU/nn.LSTM, prediction and
training with Adam.

The recurrent layers are torch's own, built in the student's process; known weights are loaded
into the student's model and into a reference model here, so outputs, predictions and whole
training runs can be compared.
"""
import pytest
import torch
from torch import nn

from d2lgrade import (GradeFailure, assert_close, assert_scalar_close, call_timeout, hidden, points,
                      reference, tier)

MODULE = "ch06_rnn.rnn_concise"
ref = reference(MODULE)
LAYERS = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}


def _ppl_list(out):
    """The per-epoch perplexities from train_and_predict_rnn_pytorch, or a clear failure."""
    __tracebackhide__ = True
    if not (isinstance(out, list) and out and all(isinstance(p, float) for p in out)):
        raise GradeFailure("train_and_predict_rnn_pytorch must return the list of per-epoch perplexities")
    return out


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture
def twins(student, submission):
    """``twins(kind, V, H, bidirectional=False, hh=0.5)``: the student's RNNModel on a torch
    layer and a reference RNNModel with the same weights, uniform in [-0.5, 0.5] (recurrent
    weights in [-hh, hh])."""
    tnn = submission.module("torch.nn")

    def run(kind, V, H, bidirectional=False, hh=0.5):
        __tracebackhide__ = True
        model = student.RNNModel(getattr(tnn, kind)(V, H, bidirectional=bidirectional), V)
        twin = ref.RNNModel(LAYERS[kind](V, H, bidirectional=bidirectional), V)
        with torch.no_grad():
            for name, p in twin.named_parameters():
                r = hh if "weight_hh" in name else 0.5
                p.uniform_(-r, r)
        state = submission.probe("state_dict", model)
        expected = twin.state_dict()
        if not isinstance(state, dict) or set(state) != set(expected):
            raise GradeFailure(f"RNNModel's parameters are {sorted(state) if isinstance(state, dict) else state}, "
                               f"expected {sorted(expected)} (attributes rnn and dense)")
        for k, v in expected.items():
            if tuple(state[k].shape) != tuple(v.shape):
                raise GradeFailure(f"RNNModel: {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
        submission.probe("load_state_dict", model, expected)
        return model, twin
    return run


def _check_forward(model, twin, X, state, what, hidden_):
    __tracebackhide__ = True
    out = model(X, state)
    if not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[0], torch.Tensor):
        raise GradeFailure(f"{what}: forward must return (output, state)")
    with torch.no_grad():
        exp_out, exp_state = twin(X, state)
    assert_close(out[0], exp_out, what=f"{what}: the output", hidden=hidden_, kind="reduction")
    got_state = out[1] if isinstance(out[1], tuple) else (out[1],)
    exp_state = exp_state if isinstance(exp_state, tuple) else (exp_state,)
    if len(got_state) != len(exp_state):
        raise GradeFailure(f"{what}: the state has {len(got_state)} part(s), expected {len(exp_state)}")
    for g, e in zip(got_state, exp_state):
        assert_close(g, e, what=f"{what}: the state", hidden=hidden_, kind="reduction")
    return out


@points(1)
def test_rnnmodel_forward(twins):
    """RNNModel(nn.RNN(20, 16), 20) on a (2, 5) float minibatch: output (10, 20) time-major, state (1, 2, 16)."""
    model, twin = twins("RNN", 20, 16)
    X = torch.randint(0, 20, (2, 5)).float()
    out = _check_forward(model, twin, X, None, "RNNModel(nn.RNN(20, 16), 20)(X, None)", False)
    assert tuple(out[0].shape) == (10, 20), f"output shape {tuple(out[0].shape)}, expected (10, 20)"


@hidden
@points(2)
def test_rnnmodel_lstm_gru_bidirectional(twins):
    """nn.LSTM with an (h, c) state, and a bidirectional nn.GRU (dense layer on 2 x hidden): outputs and states agree."""
    model, twin = twins("LSTM", 11, 8)
    X = torch.randint(0, 11, (3, 4)).float()
    state = (torch.randn(1, 3, 8), torch.randn(1, 3, 8))
    _check_forward(model, twin, X, state, "RNNModel on nn.LSTM", True)
    model, twin = twins("GRU", 11, 6, bidirectional=True)
    _check_forward(model, twin, torch.randint(0, 11, (4, 3)), None, "RNNModel on a bidirectional nn.GRU", True)


@hidden
@points(1)
def test_rnnmodel_keeps_state(twins):
    """After forward, model.state is the returned state."""
    model, twin = twins("RNN", 9, 5)
    out = model(torch.randint(0, 9, (2, 3)).float(), torch.randn(1, 2, 5))
    assert isinstance(model.state, torch.Tensor), "model.state must hold the last state"
    assert_close(model.state, out[1], what="model.state", hidden=True, kind="exact")


def _vocab(V):
    idx_to_char = [chr(0x4e00 + i) for i in range(V)]
    return idx_to_char, {c: i for i, c in enumerate(idx_to_char)}


@points(1)
def test_predict_rnn_pytorch_length_and_prefix(student, twins):
    """predict_rnn_pytorch(prefix of 2, 10, ...) returns the prefix and then 10 characters of the vocabulary."""
    model, _ = twins("RNN", 15, 12)
    idx_to_char, char_to_idx = _vocab(15)
    prefix = idx_to_char[3] + idx_to_char[7]
    text = student.predict_rnn_pytorch(prefix, 10, model, 15, torch.device("cpu"), idx_to_char, char_to_idx)
    assert isinstance(text, str) and len(text) == 12 and text.startswith(prefix), \
        f"expected the prefix and 10 more characters, got {text!r}"
    assert set(text) <= set(idx_to_char), "the result has characters outside the vocabulary"


@hidden
@points(2)
def test_predict_rnn_pytorch_matches_reference(student, twins):
    """With known weights (nn.RNN, nn.LSTM, nn.GRU) the generated text equals the reference's."""
    idx_to_char, char_to_idx = _vocab(17)
    # Strong recurrent weights, so the text depends on the whole prefix and the carried state.
    for kind, prefix, n in (("RNN", "一丁七", 12), ("LSTM", "万丈", 9), ("GRU", "三上", 10)):
        model, twin = twins(kind, 17, 10, hh=2.0)
        text = student.predict_rnn_pytorch(prefix, n, model, 17, None, idx_to_char, char_to_idx)
        expected = ref.predict_rnn_pytorch(prefix, n, twin, 17, None, idx_to_char, char_to_idx)
        assert text == expected, f"{kind}: the generated text differs from the specification"


def _check_ppl(ppl, expected, what):
    __tracebackhide__ = True
    if not isinstance(ppl, list) or len(ppl) != len(expected):
        raise GradeFailure(f"{what}: expected a list of {len(expected)} perplexities, got {ppl!r:.200}")
    for e, (g, x) in enumerate(zip(ppl, expected), start=1):
        assert_scalar_close(g, x, what=f"{what}: the perplexity of epoch {e}", hidden=True, rtol=1e-4, atol=1e-5)


@points(1)
@call_timeout(60)
def test_train_pytorch_returns_perplexities(student, twins, lyrics_corpus):
    """Two epochs on the project's corpus return 2 perplexities, each >= 1 and below the vocabulary size."""
    corpus, char_to_idx, idx_to_char, V = lyrics_corpus
    model, _ = twins("RNN", V, 32)
    ppl = _ppl_list(student.train_and_predict_rnn_pytorch(model, 32, V, None, corpus, idx_to_char, char_to_idx, 2, 10,
                                                          1e-2, 0.01, 4, 1, 5, [idx_to_char[0]]))
    assert isinstance(ppl, list) and len(ppl) == 2, f"expected 2 perplexities, got {ppl!r:.200}"
    assert all(isinstance(p, float) and 1.0 <= p < V for p in ppl), f"perplexities {ppl} are not in [1, {V})"


@hidden
@points(2)
@call_timeout(60)
def test_train_pytorch_matches_reference(student, submission, twins):
    """Known weights, 3 epochs of Adam with clipping: per-epoch perplexities and trained weights agree step by step."""
    V, H = 12, 10
    corpus = torch.randint(0, V, (160,)).tolist()
    idx_to_char, char_to_idx = _vocab(V)
    for kind in ("RNN", "LSTM"):
        model, twin = twins(kind, V, H)
        ppl = _ppl_list(student.train_and_predict_rnn_pytorch(model, H, V, None, corpus, idx_to_char, char_to_idx, 3, 6,
                                                              0.01, 0.5, 3, 10**6, 1, []))
        expected = ref.train_and_predict_rnn_pytorch(twin, H, V, None, corpus, idx_to_char, char_to_idx, 3, 6,
                                                     0.01, 0.5, 3, 10**6, 1, [])
        _check_ppl(ppl, expected, kind)
        state = submission.probe("state_dict", model)
        for k, v in twin.state_dict().items():
            assert_close(state[k], v, what=f"{kind}: {k} after training", hidden=True, rtol=1e-3, atol=1e-5)


@hidden
@points(2)
@call_timeout(60)
def test_train_pytorch_converges_and_memorises(student, submission, lyrics_corpus, memorised, feedback):
    """nn.RNN with 64 hidden units, 6 epochs of Adam (lr 0.01): the perplexity falls and a prefix is completed."""
    corpus, char_to_idx, idx_to_char, V = lyrics_corpus
    model = student.RNNModel(submission.module("torch.nn").RNN(V, 64), V)
    ppl = _ppl_list(student.train_and_predict_rnn_pytorch(model, 64, V, None, corpus, idx_to_char, char_to_idx, 6, 10,
                                                          1e-2, 0.01, 4, 10**6, 1, []))
    feedback(f"perplexity after 6 epochs: {ppl[-1]:.3f} (first epoch {ppl[0]:.2f})")
    # The reference: 10.3-14.0 after epoch 1, 1.00-1.01 from epoch 4 on (seeds 0-2, 0.3 s).
    assert ppl[-1] < 1.5, "the perplexity after 6 epochs is too high"
    text = student.predict_rnn_pytorch("融化", 20, model, V, None, idx_to_char, char_to_idx)
    assert memorised(text, "融化", 20), "the trained model does not continue the prefix with the memorised lyrics"


@tier("gpu")
@points(1)
@call_timeout(120)
def test_train_pytorch_on_cuda(student, submission, lyrics_corpus):
    """With device cuda the model is moved to the GPU, trains, and predicts on the GPU."""
    corpus, char_to_idx, idx_to_char, V = lyrics_corpus
    cuda = torch.device("cuda")
    model = student.RNNModel(submission.module("torch.nn").LSTM(V, 64), V)
    ppl = _ppl_list(student.train_and_predict_rnn_pytorch(model, 64, V, cuda, corpus, idx_to_char, char_to_idx, 8, 10,
                                                          1e-2, 0.01, 4, 4, 5, ["想要"]))
    state = submission.probe("state_dict", model)
    assert all(v.device.type == "cuda" for v in state.values()), "the model's parameters are not on CUDA"
    assert ppl[-1] < 1.5, f"perplexity {ppl[-1]:.3f} after 8 epochs on CUDA"
    text = student.predict_rnn_pytorch("想要", 5, model, V, cuda, idx_to_char, char_to_idx)
    assert isinstance(text, str) and len(text) == 7, f"prediction on CUDA gave {text!r}"
