"""Graders for ch06_rnn.gru (D2L 6.7): GRU parameters, state and cell from scratch.

The cell follows the book's formula ``(R * H) W_hh``, not its code's ``R * (H W_hh)``; a public
test with hand-built parameters tells the two apart. Training uses the student's own
``rnn_scratch.train_and_predict_rnn`` and ``predict_rnn`` (as the book does).
"""
import pytest
import torch

from d2lgrade import (GradeFailure, assert_close, call_timeout, call_without, from_scratch, hidden, ops,
                      points, reference)

MODULE = "ch06_rnn.gru"
ref = reference(MODULE)
onehot = reference("ch06_rnn.rnn_scratch").to_onehot
NO_RECURRENT = ["RNN", "RNNCell", "GRU", "GRUCell", "LSTM", "LSTMCell", "RNNBase", "rnn_tanh",
                "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "gru", "gru_cell", "lstm", "lstm_cell"]

# From-scratch policy: every call of the cell (from the tests, and from the student's
# predict_rnn and train_and_predict_rnn, whose policies live in conftest.py) is traced in the
# child: elementary ops plus the book's sigmoid and tanh; no recurrent module or kernel.
# get_params and init_gru_state only create tensors: no library routine to avoid, no policy.
from_scratch(MODULE, "gru", allow=ops.ELEMENTARY | {"aten.sigmoid", "aten.tanh"},
             names=[n for n in NO_RECURRENT if n != "gru"])


def _run_result(out):
    """(params, perplexities) from a scratch trainer, or a clear failure."""
    __tracebackhide__ = True
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], list) and out[1]
            and all(isinstance(p, float) for p in out[1])):
        raise GradeFailure("train_and_predict_rnn must return (params, list of per-epoch perplexities)")
    return out


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _shapes(V, H):
    return [(V, H), (H, H), (H,)] * 3 + [(H, V), (V,)]


def _params(V, H, scale):
    return [torch.randn(s) * scale for s in _shapes(V, H)]


def _run(student, inputs, state, params, what):
    __tracebackhide__ = True
    out = call_without(student.gru, inputs, state, params, forbidden=NO_RECURRENT)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], list)
            and len(out[0]) == len(inputs) and isinstance(out[1], tuple) and len(out[1]) == 1):
        raise GradeFailure(f"{what}: gru must return (list of {len(inputs)} outputs, (H,))")
    return out


def _student_params(plist, n, what):
    __tracebackhide__ = True
    if "ParameterList" not in getattr(plist, "remote_type", type(plist).__name__):
        raise GradeFailure(f"{what} must return an nn.ParameterList")
    params = list(plist)
    if len(params) != n:
        raise GradeFailure(f"{what}: expected {n} parameters, got {len(params)}")
    return params


@points(1)
def test_gru_get_params_shapes(student, get_params_of):
    """get_params(1027, 256): 11 trainable float32 parameters [W_xz, W_hz, b_z, W_xr, ..., W_hq, b_q] with the book's shapes."""
    params = _student_params(get_params_of(student, 1027, 256), 11, "get_params(1027, 256)")
    for i, (p, shape) in enumerate(zip(params, _shapes(1027, 256))):
        assert tuple(p.shape) == shape, f"parameter {i} has shape {tuple(p.shape)}, expected {shape}"
        assert p.dtype == torch.float32 and p.requires_grad, f"parameter {i} must be float32 and require grad"


@hidden
@points(1)
def test_gru_get_params_initialization(student, get_params_of):
    """Weights ~ N(0, 0.01^2), biases zeros."""
    params = _student_params(get_params_of(student, 30, 200), 11, "get_params(30, 200)")
    for i, p in enumerate(params):
        if p.dim() == 2:
            assert 0.009 < p.std().item() < 0.011, f"weight {i} does not have standard deviation 0.01"
        else:
            assert torch.count_nonzero(p) == 0, f"bias {i} is not zeros"


@points(1)
def test_init_gru_state(student):
    """init_gru_state(2, 256, cpu) is a tuple holding one zero tensor (2, 256)."""
    state = student.init_gru_state(2, 256, torch.device("cpu"))
    assert isinstance(state, tuple) and len(state) == 1, "the state must be a tuple (H,)"
    assert_close(state[0], torch.zeros(2, 256), what="H", kind="exact")


@hidden
@points(1)
def test_init_gru_state_other_sizes(student):
    """Other sizes and device None."""
    state = student.init_gru_state(4, 3, None)
    assert isinstance(state, tuple) and len(state) == 1, "the state must be a tuple (H,)"
    assert_close(state[0], torch.zeros(4, 3), what="H", hidden=True, kind="exact")


@points(1)
def test_gru_zero_parameters(student):
    """All parameters zero: both gates are 0.5 and the candidate 0, so each step halves H and every output is 0; no nn.GRU."""
    V, H, T = 6, 4, 3
    H0 = torch.tensor([[0.8, -0.4, 0.2, 1.0], [-1.0, 0.5, 0.0, 0.3]])
    inputs = onehot(torch.tensor([[1, 2, 3], [0, 5, 4]]), V)
    outputs, (H_T,) = _run(student, inputs, (H0,), [torch.zeros(s) for s in _shapes(V, H)], "gru")
    for t, o in enumerate(outputs):
        assert_close(o, torch.zeros(2, V), what=f"output {t}")
    assert_close(H_T, H0 / 2 ** T, what="H after 3 steps")


@points(1)
def test_gru_reset_gate_on_previous_state(student):
    """The reset gate multiplies the previous state before W_hh (the formula), not H W_hh (the book's code)."""
    V, H = 1, 2
    p = [torch.zeros(s) for s in _shapes(V, H)]
    p[2][:] = -30.0                          # b_z: Z = 0, so H_1 is the candidate
    p[5][:] = torch.tensor([30.0, -30.0])    # b_r: R = [1, 0]
    p[7][:] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # W_hh swaps the two units
    H0 = torch.tensor([[0.5, -0.8]])
    _, (H1,) = _run(student, [torch.ones(1, 1)], (H0,), p, "gru")
    # (R * H0) W_hh = [0.5, 0] W_hh = [0, 0.5]; the book's R * (H0 W_hh) would give [-0.8, 0].
    assert_close(H1, torch.tensor([[0.0, torch.tanh(torch.tensor(0.5)).item()]]), what="H_1", atol=1e-5, rtol=1e-5)


@hidden
@points(2)
def test_gru_matches_reference(student):
    """Random parameters, inputs and initial state: outputs and final state agree with the reference."""
    V, H, B, T = 8, 6, 3, 5
    params = _params(V, H, 0.6)
    inputs = onehot(torch.randint(0, V, (B, T)), V)
    state = (torch.randn(B, H),)
    outputs, (H_T,) = _run(student, inputs, state, params, "gru")
    exp_outputs, (exp_H,) = ref.gru(inputs, state, params)
    for o, e in zip(outputs, exp_outputs):
        assert_close(o, e, what="an output", hidden=True, kind="reduction")
    assert_close(H_T, exp_H, what="the final state", hidden=True, kind="reduction")


@hidden
@points(2)
@call_timeout(60)
def test_gru_converges_and_memorises(student, submission, trainer_for, lyrics_corpus, memorised, feedback):
    """Trained with train_and_predict_rnn (consecutive, 64 units, 10 epochs, lr 100): low perplexity, prefix completed."""
    scratch = submission.module("ch06_rnn.rnn_scratch")
    corpus, char_to_idx, idx_to_char, V = lyrics_corpus
    cell, get_params, init = student.gru.value(), student.get_params.value(), student.init_gru_state.value()
    params, ppl = _run_result(trainer_for(scratch.train_and_predict_rnn, student.get_params, V, 64)(cell, get_params, init, 64, V, None, corpus, idx_to_char,
                                                            char_to_idx, False, 10, 10, 100.0, 0.01, 4, 10**6, 1, []))
    feedback(f"GRU perplexity after 10 epochs: {ppl[-1]:.3f} (first epoch {ppl[0]:.2f})")
    # The reference: 26.7-26.9 after epoch 1, 1.00 after 10 epochs (seeds 0-2, 0.35 s).
    assert ppl[-1] < 1.5, "the GRU's perplexity after 10 epochs is too high"
    text = scratch.predict_rnn("星光", 20, cell, params, init, 64, V, None, idx_to_char, char_to_idx)
    assert memorised(text, "星光", 20), "the trained GRU does not continue the prefix with the memorised lyrics"
