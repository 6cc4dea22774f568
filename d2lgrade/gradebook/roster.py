"""The class list: which submission belongs to which student.

A roster is a CSV file with a header line. Column names are matched without regard to
case, spaces, dashes or underscores, and several spellings are understood:

========================  ==============================================================
what                      column names
========================  ==============================================================
submission (required)     ``submission``, ``folder``, ``file``, ``username``, ``login``
student id                ``student_id``, ``id``, ``sis_user_id``, ``id_number``, ``matriculation``
name                      ``name``, ``full_name``, ``student`` (or ``first_name`` + ``last_name``)
e-mail                    ``email``, ``e_mail``, ``email_address``, ``mail``
section (optional)        ``section``, ``group``
LMS user id (optional)    ``lms_id``, ``canvas_id``, ``canvas_user_id``
========================  ==============================================================

``submission`` is the name of the student's entry in the class folder: a folder, or a file
with or without its ``.zip`` / ``.ipynb`` suffix. An entry is matched to the roster by that
name (exactly, then ignoring case), else by a student id or e-mail equal to the entry's name.
Students without a roster row and roster rows without a submission are both reported.
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from d2lgrade.gradebook.rows import StudentInfo

_SPELLINGS = {
    "submission": ("submission", "folder", "file", "filename", "username", "login", "user"),
    "student_id": ("studentid", "id", "sisuserid", "idnumber", "matriculation", "matrikelnummer"),
    "name": ("name", "fullname", "student", "studentname"),
    "first_name": ("firstname", "givenname"),
    "last_name": ("lastname", "surname", "familyname"),
    "email": ("email", "mail", "emailaddress"),
    "section": ("section", "group"),
    "lms_id": ("lmsid", "canvasid", "canvasuserid"),
}
_SUFFIXES = (".zip", ".ipynb")


class RosterError(ValueError):
    """A roster that cannot be used (the message names the file and line)."""


def _norm_header(h: str) -> str:
    return re.sub(r"[\s_\-.]+", "", h.strip().lower())


def _key(name: str) -> str:
    n = name.strip()
    for s in _SUFFIXES:
        if n.lower().endswith(s):
            n = n[: -len(s)]
    return n.lower()


@dataclass(frozen=True)
class RosterEntry:
    submission: str
    student_id: str = ""
    name: str = ""
    email: str = ""
    section: str = ""
    lms_id: str = ""

    def info(self, student: str) -> StudentInfo:
        return StudentInfo(student=student, student_id=self.student_id, name=self.name,
                           email=self.email, section=self.section, lms_id=self.lms_id,
                           in_roster=True)


@dataclass
class RosterMatch:
    #: entry name -> its roster row
    matched: dict[str, RosterEntry] = field(default_factory=dict)
    #: entries (submissions) the roster does not list
    not_in_roster: list[str] = field(default_factory=list)
    #: roster rows that no entry matched
    no_submission: list[RosterEntry] = field(default_factory=list)


@dataclass
class Roster:
    entries: list[RosterEntry]
    source: str = ""

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Roster":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")  # Excel writes a BOM
        except OSError as exc:
            raise RosterError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise RosterError(f"{path}: not UTF-8 text (save the roster as CSV UTF-8)") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, source: str = "roster") -> "Roster":
        try:
            dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text), dialect)
        try:
            header = next(reader)
        except StopIteration:
            raise RosterError(f"{source}: empty (expected a header line such as "
                              "submission,student_id,name,email)") from None
        columns: dict[str, int] = {}
        for i, h in enumerate(header):
            n = _norm_header(h)
            for field_name, names in _SPELLINGS.items():
                if n in names and field_name not in columns:
                    columns[field_name] = i
                    break
        if "submission" not in columns:
            raise RosterError(f"{source}: no column names the submission (found "
                              f"{', '.join(h.strip() for h in header) or 'nothing'}; expected "
                              "one of submission, folder, file, username)")
        entries: list[RosterEntry] = []
        seen: dict[str, int] = {}
        for line, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue

            def cell(name: str) -> str:
                i = columns.get(name)
                return row[i].strip() if i is not None and i < len(row) else ""

            sub = cell("submission")
            if not sub:
                raise RosterError(f"{source}, line {line}: the submission column is empty")
            if _key(sub) in seen:
                raise RosterError(f"{source}, line {line}: {sub!r} is listed twice "
                                  f"(first on line {seen[_key(sub)]})")
            seen[_key(sub)] = line
            name = cell("name") or " ".join(p for p in (cell("first_name"), cell("last_name")) if p)
            entries.append(RosterEntry(submission=sub, student_id=cell("student_id"), name=name,
                                       email=cell("email"), section=cell("section"),
                                       lms_id=cell("lms_id")))
        return cls(entries, source)

    def match(self, names: dict[str, str]) -> RosterMatch:
        """Match entries (student name -> the entry's file or folder name) to roster rows."""
        by_sub = {_key(e.submission): e for e in self.entries}
        by_other = {}
        for e in self.entries:
            for value in (e.student_id, e.email):
                if value:
                    by_other.setdefault(value.lower(), e)
        out = RosterMatch()
        used: set[int] = set()
        for student, original in names.items():
            entry = (by_sub.get(_key(original)) or by_sub.get(_key(student))
                     or by_other.get(_key(original)) or by_other.get(_key(student)))
            if entry is None or id(entry) in used:
                out.not_in_roster.append(student)
            else:
                used.add(id(entry))
                out.matched[student] = entry
        out.no_submission = [e for e in self.entries if id(e) not in used]
        return out
