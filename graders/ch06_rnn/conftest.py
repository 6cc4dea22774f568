"""Shared fixtures of the chapter-6 graders (trusted; they run in the grading process).

* ``lyrics_text``: the project's own small corpus, a fixed cycle of six lyric-like lines
  repeated 15 times (615 characters, 31 distinct), written by ``build_lyrics_fixture`` into
  ``fixtures/generated/ch06_rnn/`` as ``lyrics.txt`` and as ``lyrics.txt.zip`` (holding
  ``lyrics.txt``, like the book's ``jaychou_lyrics.txt.zip``). Its content is a pure function
  of this code, so a small RNN can memorise it and a prefix has one right continuation.
* ``lyrics_corpus``: ``(corpus_indices, char_to_idx, idx_to_char, vocab_size)`` of that text
  computed by the reference loader in the parent.
"""
import os
import tempfile
import zipfile
from pathlib import Path

import pytest

from d2lgrade import reference

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
def continuation():
    """``continuation(prefix, n)``: the prefix and the ``n`` characters that follow its first
    occurrence in the corpus (newlines read as spaces, as the loader does)."""
    flat = lyrics_text().replace("\n", " ")

    def run(prefix: str, n: int) -> str:
        i = flat.index(prefix)
        return flat[i:i + len(prefix) + n]
    return run
