"""The gradebook's tables (SQLAlchemy Core) and the few helpers every query uses."""
from __future__ import annotations

import sqlalchemy as sa

#: The database file a batch writes beside its other class files.
DEFAULT_FILE = "gradebook.sqlite"
#: Bumped when the schema changes incompatibly (checked when a database is opened).
SCHEMA_VERSION = 1
#: Longest test message kept in the database (the full text stays in results.json).
MESSAGE_CHARS = 2000

metadata = sa.MetaData()

meta_table = sa.Table(
    "gradebook_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

batches = sa.Table(
    "batches", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("assignment", sa.String(200), nullable=False),
    sa.Column("chapters", sa.Text, nullable=False, default="[]"),       # JSON list
    sa.Column("batch_seed", sa.BigInteger),
    sa.Column("submissions_dir", sa.Text, nullable=False, default=""),
    sa.Column("out_dir", sa.Text, nullable=False, default=""),
    sa.Column("options", sa.Text, nullable=False, default="{}"),        # JSON: policy, roster...
)

students = sa.Table(
    "students", metadata,
    sa.Column("student", sa.String(200), primary_key=True),   # the submission's folder name
    sa.Column("student_id", sa.String(200), nullable=False, default=""),
    sa.Column("name", sa.String(400), nullable=False, default=""),
    sa.Column("email", sa.String(400), nullable=False, default=""),
    sa.Column("section", sa.String(200), nullable=False, default=""),
    sa.Column("lms_id", sa.String(200), nullable=False, default=""),
    sa.Column("in_roster", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_key", sa.String(400), nullable=False, unique=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), nullable=True),
    sa.Column("student", sa.String(200), nullable=False),
    sa.Column("assignment", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("chapters", sa.Text, nullable=False, default="[]"),       # JSON list
    sa.Column("source", sa.Text, nullable=False, default=""),           # the folder/zip graded
    sa.Column("fingerprint", sa.String(64), nullable=False, default=""),
    sa.Column("submitted_at", sa.String(40)),                          # None: unknown
    sa.Column("submitted_source", sa.String(40), nullable=False, default=""),  # cli/zip/file...
    sa.Column("graded_at", sa.String(40), nullable=False),
    sa.Column("seed", sa.BigInteger),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("problem", sa.Text, nullable=False, default=""),          # why not (fully) graded
    sa.Column("notes", sa.Text, nullable=False, default="[]"),          # JSON: harmless notes
    sa.Column("import_errors", sa.Text, nullable=False, default="[]"),  # JSON: did-not-import list
    sa.Column("raw_score", sa.Float, nullable=False, default=0.0),
    sa.Column("max_score", sa.Float, nullable=False, default=0.0),
    sa.Column("due_at", sa.String(40)),
    sa.Column("extension", sa.String(200), nullable=False, default=""),
    sa.Column("late_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("late_days", sa.Integer, nullable=False, default=0),
    sa.Column("penalty_pct", sa.Float, nullable=False, default=0.0),
    sa.Column("policy", sa.String(200), nullable=False, default=""),
    sa.Column("score", sa.Float, nullable=False, default=0.0),          # after the penalty
    sa.Column("elapsed_s", sa.Float, nullable=False, default=0.0),
    sa.Column("output_dir", sa.Text, nullable=False, default=""),
    sa.UniqueConstraint("student", "assignment", "attempt", name="uq_attempt"),
)

chapter_scores = sa.Table(
    "chapter_scores", metadata,
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), primary_key=True),
    sa.Column("chapter", sa.String(100), primary_key=True),
    sa.Column("raw_score", sa.Float, nullable=False),
    sa.Column("max_score", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),                       # after the penalty
)

test_results = sa.Table(
    "test_results", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False,
              index=True),
    sa.Column("chapter", sa.String(100), nullable=False),
    sa.Column("test", sa.String(400), nullable=False),                  # display name
    sa.Column("nodeid", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("points", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("max_score", sa.Float, nullable=False),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("duration", sa.Float, nullable=False, default=0.0),
    sa.Column("message", sa.Text, nullable=False, default=""),
)

skipped_entries = sa.Table(
    "skipped_entries", metadata,
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), primary_key=True),
    sa.Column("name", sa.String(400), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
)

def sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=DELETE")  # every commit lands in the one file
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def safe_url(url: str) -> str:
    """The URL without its password (for messages)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url
