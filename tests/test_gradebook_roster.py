"""The roster: column spellings, matching entries to students, and what does not match."""
import pytest

from d2lgrade.gradebook.roster import Roster, RosterError


def test_columns_in_several_spellings_and_a_bom(tmp_path):
    p = tmp_path / "roster.csv"
    p.write_text("\ufeffFolder;Student ID;First name;Last name;E-Mail Address;Section\n"
                 "alice;S1;Alice;Adams;alice@uni.edu;A\n"
                 "bob.zip;S2;Bob;Brown;bob@uni.edu;B\n", encoding="utf-8")
    r = Roster.load(p)
    assert [(e.submission, e.student_id, e.name, e.email, e.section) for e in r.entries] == [
        ("alice", "S1", "Alice Adams", "alice@uni.edu", "A"),
        ("bob.zip", "S2", "Bob Brown", "bob@uni.edu", "B")]


def test_matching_by_name_suffix_case_id_and_email():
    r = Roster.parse("submission,student_id,name,email\n"
                     "alice,S1,Alice,alice@uni.edu\n"
                     "Bob.zip,S2,Bob,bob@uni.edu\n"
                     "carol,S3,Carol,carol@uni.edu\n"
                     "dave,S4,Dave,dave@uni.edu\n"
                     "erin,S5,Erin,erin@uni.edu\n")
    m = r.match({"alice": "alice", "bob": "bob.zip", "s3": "S3", "dave_nb": "dave@uni.edu",
                 "zed": "zed.zip"})
    assert {k: v.student_id for k, v in m.matched.items()} == {
        "alice": "S1", "bob": "S2", "s3": "S3", "dave_nb": "S4"}
    assert m.not_in_roster == ["zed"]
    assert [e.submission for e in m.no_submission] == ["erin"]
    info = m.matched["alice"].info("alice")
    assert info.in_roster and info.email == "alice@uni.edu"


def test_one_roster_row_is_matched_once():
    r = Roster.parse("submission,email\nalice,alice@uni.edu\n")
    m = r.match({"alice": "alice", "alice-2": "alice@uni.edu"})
    assert list(m.matched) == ["alice"] and m.not_in_roster == ["alice-2"]


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("name,email\nAlice,a@x\n", "no column names the submission"),
    ("submission,email\nalice,a@x\nAlice,b@x\n", "line 3: 'Alice' is listed twice"),
    ("submission,email\n,a@x\n", "line 2: the submission column is empty"),
])
def test_bad_rosters_say_where(text, message):
    with pytest.raises(RosterError, match=message):
        Roster.parse(text, source="roster.csv")


def test_unreadable_files(tmp_path):
    with pytest.raises(RosterError, match="cannot be read"):
        Roster.load(tmp_path / "missing.csv")
    p = tmp_path / "latin1.csv"
    p.write_bytes("submission,name\nj\xf6rg,J\xf6rg\n".encode("latin-1"))
    with pytest.raises(RosterError, match="not UTF-8"):
        Roster.load(p)
