"""Shared fixtures of the chapter-6 graders (trusted; they run in the grading process).

* ``lyrics_text``: the project's own small corpus, a fixed cycle of six lyric-like lines
  repeated 15 times (615 characters, 31 distinct), written by ``build_lyrics_fixture`` into
  ``fixtures/generated/ch06_rnn/`` as ``lyrics.txt`` and as ``lyrics.txt.zip`` (holding
  ``lyrics.txt``, like the book's ``jaychou_lyrics.txt.zip``). Its content is a pure function
  of this code, so a small RNN can memorise it (``memorised`` checks a predicted line).
* ``lyrics_corpus``: ``(corpus_indices, char_to_idx, idx_to_char, vocab_size)`` of that text
  computed by the reference loader in the parent.
* ``get_params_of``: ``get_params_of(student, vocab_size, num_hiddens)`` calls the student's
  ``get_params`` the course's way, or the book's way (``get_params()`` reading module-level
  ``num_inputs``, ``num_hiddens``, ``num_outputs`` and ``device``, set for that one call).

From-scratch policies of ``ch06_rnn.rnn_scratch`` live here, not in ``test_rnn_scratch.py``,
because the GRU and LSTM graders reach the same functions (``predict_rnn``,
``train_and_predict_rnn``, ``grad_clipping``) with their own cells: a policy in a conftest.py
applies to every grader file beside it, whichever of them a run collects.
"""
import os
import tempfile
import zipfile
from pathlib import Path

import pytest
import torch

from d2lgrade import from_scratch, ops, reference

#: The module whose policies this file declares (``validate`` reads MODULE, as in a grader file).
MODULE = "ch06_rnn.rnn_scratch"
#: Recurrent modules and kernels a scratch cell may not reach (names; the ops are ops.RECURRENT).
NO_RECURRENT = ["RNN", "RNNCell", "GRU", "GRUCell", "LSTM", "LSTMCell", "RNNBase", "rnn_tanh",
                "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "gru_cell", "lstm_cell"]
NO_CLIP = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_",
           "get_total_norm", "_foreach_norm"]

# From-scratch policies: every call, from any test and from the student's other functions,
# is traced in the child. Small functions: elementary ops only (the cell may use tanh, as
# the book does). get_params and init_rnn_state draw or create tensors and have no library
# routine to avoid, so they have no policy (their module docstring names the rules).
from_scratch(MODULE, "one_hot", allow=ops.ELEMENTARY, names=["one_hot"])
from_scratch(MODULE, "to_onehot", allow=ops.ELEMENTARY, names=["one_hot"])
from_scratch(MODULE, "rnn", allow=ops.ELEMENTARY | {"aten.tanh"}, names=NO_RECURRENT)
# The global norm from squares and sums: no norm routine, no clip_grad_norm_.
from_scratch(MODULE, "grad_clipping", allow=ops.ELEMENTARY, names=NO_CLIP)
# predict_rnn and the trainer run the cell they are given (the student's rnn, gru or lstm,
# traced under its own policy); the trainer's backward runs tanh/sigmoid backward and the
# spec's nn.CrossEntropyLoss, so it gets a deny-list: no recurrent kernel, no solver, no
# torch.optim (the spec's sgd), and it must clip through grad_clipping and step with sgd.
# NumPy and lists are part of its spec (get_params draws with NumPy like the book, the data
# iterators build tensors from the corpus list).
from_scratch(MODULE, "predict_rnn", allow=ops.ELEMENTARY, names=NO_RECURRENT + ["one_hot"])
from_scratch(MODULE, "train_and_predict_rnn",
             deny=ops.RECURRENT | ops.SOLVERS | ops.FUSED_OPTIMIZERS | ops.CONVOLUTION,
             names=NO_RECURRENT + NO_CLIP + ["optim"], requires=["grad_clipping", "sgd"],
             conversions=True)

LINES = ["想要有直升机", "和你飞到宇宙去", "融化在一起", "我每天在想着你", "风吹过山谷", "星光落满天"]
REPEATS = 15


def lyrics_text() -> str:
    """The corpus: the six lines, each ended by a newline, cycled ``REPEATS`` times."""
    return "".join(line + "\n" for line in LINES) * REPEATS


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def build_lyrics_fixture(folder: Path) -> dict:
    """Write ``lyrics.txt`` and ``lyrics.txt.zip`` under ``folder`` (once); return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = lyrics_text().encode("utf-8")
    txt, zpath = folder / "lyrics.txt", folder / "lyrics.txt.zip"
    if not txt.exists() or txt.read_bytes() != data:
        _write_atomic(txt, data)
    if not zpath.exists() or zipfile.ZipFile(zpath).read("lyrics.txt") != data:
        tmp = folder / "lyrics.tmp.zip"
        with zipfile.ZipFile(tmp, "w") as z:
            z.writestr("lyrics.txt", data)
        os.replace(tmp, zpath)
    return {"txt": txt, "zip": zpath}


@pytest.fixture(scope="session")
def lyrics_files(course) -> dict:
    return build_lyrics_fixture(course.fixtures / "generated" / "ch06_rnn")


@pytest.fixture(scope="session")
def lyrics_corpus(lyrics_files):
    return reference("ch06_rnn.lyrics").load_data_jay_lyrics(lyrics_files["txt"], None)


@pytest.fixture(scope="session")
def get_params_of():
    def run(student, vocab_size, num_hiddens):
        if not student.get_params.signature():  # the book's get_params() (6.4, 6.7, 6.8)
            return student.get_params.with_globals(num_inputs=vocab_size, num_hiddens=num_hiddens,
                                                   num_outputs=vocab_size, device=torch.device("cpu"))()
        return student.get_params(vocab_size, num_hiddens)
    return run


@pytest.fixture(scope="session")
def trainer_for():
    """``trainer_for(train, get_params, V, H, device=None)``: the student's
    ``train_and_predict_rnn`` as the training tests call it. The book's ``get_params()`` (6.4,
    6.7, 6.8) reads ``num_inputs``, ``num_hiddens``, ``num_outputs`` and ``device`` from its
    module, where a notebook sets them from the corpus: set them there for the call."""
    def run(train, get_params, vocab_size, num_hiddens, device=None):
        if get_params.signature():
            return train
        names_in = () if get_params.module == train.module else (get_params.module,)
        return train.with_globals(*names_in, num_inputs=vocab_size, num_hiddens=num_hiddens,
                                  num_outputs=vocab_size, device=device or torch.device("cpu"))
    return run


@pytest.fixture(scope="session")
def memorised():
    """``memorised(text, prefix, n)``: ``text`` is ``prefix`` and ``n`` more characters that
    follow the lyrics: all but at most ``SLIPS`` of its neighbouring pairs occur in the corpus
    (newlines read as spaces). Not the exact line: the corpus has one character followed by
    different ones ('融化在一起', '我每天在想着你'), and a model trained on consecutive batches,
    predicting from a zero state, takes the other branch there, or skips a character once
    ('星光落天'), on some seeds (5 tests in a class of 100 copies of the reference lost their
    points on the exact line). An untrained or broken model's characters do not follow the
    corpus; the perplexity check beside this one is the main measure of learning."""
    flat = lyrics_text().replace("\n", " ")
    pairs = {flat[i:i + 2] for i in range(len(flat) - 1)}

    def check(text, prefix: str, n: int) -> bool:
        if not (isinstance(text, str) and len(text) == len(prefix) + n and text.startswith(prefix)):
            return False
        return sum(text[i:i + 2] not in pairs for i in range(len(text) - 1)) <= SLIPS
    return check


#: Neighbouring pairs of a predicted line that may be off the corpus (``memorised``).
SLIPS = 2
