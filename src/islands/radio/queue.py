"""The station's persistent job queue: one SQLite file (`station.sqlite`) holding the papers,
the shows, and one job per (subject, stage), so a killed run loses nothing and redoes no
finished stage.

    q = JobQueue(folder / "station.sqlite")
    job = q.claim({"extract"}, owner="1234/media-1")      # pending, due, not held -> running
    q.done(job, seconds=1.2, then="summarize")               # done + the next stage, one transaction
    q.fail(job, "PdfReadError: EOF marker not found")        # retried with backoff, then parked

A subject is `paper:<id>` or `show:<id>`. Every claim is logged in `runs` (started, finished),
so "no finished stage ran twice" is a query, not a belief. Jobs left `running` by a process
that is gone are handed back (`recover`) without counting an attempt: a kill is not a failure.
What it leaves out: several machines sharing one queue (owners are process ids on this host).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from islands.errors import InvalidInput
from islands.files import pid_alive

__all__ = ["PAPER_STAGES", "SHOW_STAGES", "Job", "JobQueue"]

PAPER_STAGES = ("extract", "summarize", "embed")
SHOW_STAGES = ("write", "speak", "encode")
_NEXT = {"extract": "summarize", "summarize": "embed", "write": "speak", "speak": "encode"}
# later stages first: a paper that started goes all the way through before a new one starts
_PRIORITY = {"encode": 0, "speak": 1, "write": 2, "embed": 3, "summarize": 4, "extract": 5}
_APP_ID = 0x52414449  # "RADI": a file that is not ours is refused untouched

_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []


def _migration(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    _MIGRATIONS.append(fn)
    return fn


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Statements one by one: `executescript` would commit the migration's transaction."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


@_migration
def m001_initial(db: sqlite3.Connection) -> None:
    _script(db, """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE papers (id TEXT PRIMARY KEY, title TEXT NOT NULL, authors TEXT NOT NULL DEFAULT '',
            abstract TEXT NOT NULL DEFAULT '', published TEXT NOT NULL DEFAULT '', source TEXT NOT NULL,
            sha256 TEXT UNIQUE, day TEXT NOT NULL, added REAL NOT NULL);
        CREATE TABLE feed (id TEXT PRIMARY KEY, title TEXT NOT NULL, authors TEXT NOT NULL, abstract TEXT NOT NULL,
            published TEXT NOT NULL, link TEXT NOT NULL);
        CREATE TABLE watched (path TEXT PRIMARY KEY);
        CREATE TABLE seen (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL);
        CREATE TABLE shows (id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL, day TEXT NOT NULL,
            created REAL NOT NULL, minutes REAL NOT NULL, duration REAL);
        CREATE TABLE show_papers (show_id TEXT NOT NULL, paper_id TEXT NOT NULL, kind TEXT NOT NULL,
            PRIMARY KEY (show_id, paper_id));
        CREATE UNIQUE INDEX one_daily_show_per_paper ON show_papers (paper_id) WHERE kind = 'daily';
        CREATE TABLE jobs (subject TEXT NOT NULL, stage TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_at REAL NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT '',
            seconds REAL, updated REAL NOT NULL, PRIMARY KEY (subject, stage));
        CREATE INDEX jobs_due ON jobs (state, next_at);
        CREATE TABLE runs (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, stage TEXT NOT NULL, owner TEXT NOT NULL,
            started REAL NOT NULL, finished REAL, outcome TEXT NOT NULL DEFAULT 'running');
    """)


@dataclass(frozen=True)
class Job:
    """One claimed stage of one subject."""

    subject: str
    stage: str
    attempts: int
    run_id: int

    @property
    def kind(self) -> str:
        return self.subject.split(":", 1)[0]

    @property
    def key(self) -> str:
        return self.subject.split(":", 1)[1]


class JobQueue:
    """The station's database. One connection per thread: open one per worker."""

    def __init__(self, path: Path, *, attempts: int = 3, backoff: float = 2.0) -> None:
        self.path = path
        self.max_attempts = attempts
        self.backoff = backoff
        # never open() the file itself: closing any descriptor of it would drop this process's
        # POSIX locks, and another process could then checkpoint and delete the WAL under us
        self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout = 30000")
        try:
            app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
            tables = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError:
            self.db.close()
            raise InvalidInput(f"{path} is not a station database (not SQLite)") from None
        if app_id != _APP_ID and tables:
            self.db.close()
            raise InvalidInput(f"{path} is not a station database (a SQLite file of something else)")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        with self.tx() as db:
            db.execute(f"PRAGMA application_id = {_APP_ID}")
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)")
            done = {r[0] for r in db.execute("SELECT name FROM migrations")}
            for fn in _MIGRATIONS:
                if fn.__name__ not in done:
                    fn(db)
                    db.execute("INSERT INTO migrations VALUES (?, ?)", (fn.__name__, time.time()))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), so claims never race."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def rows(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return list(self.db.execute(sql, tuple(args)))

    # -- settings ------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- jobs ----------------------------------------------------------------------------------

    def enqueue(self, db: sqlite3.Connection, subject: str, stage: str) -> None:
        """A pending job, unless this (subject, stage) already exists (call inside `tx`)."""
        db.execute("INSERT OR IGNORE INTO jobs (subject, stage, state, updated) VALUES (?, ?, 'pending', ?)", (subject, stage, time.time()))

    def recover(self) -> int:
        """Hand back jobs held by processes that are gone. Returns how many."""
        back = 0
        with self.tx() as db:
            for row in db.execute("SELECT subject, stage, owner FROM jobs WHERE state = 'running'").fetchall():
                pid = int(str(row["owner"]).split("/")[0] or 0)
                if pid and pid != os.getpid() and pid_alive(pid):
                    continue
                db.execute("UPDATE jobs SET state = 'pending', owner = '', updated = ? WHERE subject = ? AND stage = ?",
                           (time.time(), row["subject"], row["stage"]))
                db.execute("UPDATE runs SET outcome = 'interrupted' WHERE subject = ? AND stage = ? AND finished IS NULL",
                           (row["subject"], row["stage"]))
                back += 1
        return back

    def claim(self, stages: Iterable[str], owner: str) -> Job | None:
        """The most urgent due job among `stages`, now held by `owner`; None when none is due."""
        wanted = sorted(stages, key=_PRIORITY.__getitem__)
        marks = ",".join("?" * len(wanted))
        order = " ".join(f"WHEN '{s}' THEN {_PRIORITY[s]}" for s in wanted)
        now = time.time()
        with self.tx() as db:
            row = db.execute(
                f"SELECT subject, stage, attempts FROM jobs WHERE state = 'pending' AND next_at <= ? AND stage IN ({marks}) "
                f"ORDER BY CASE stage {order} END, next_at, subject LIMIT 1", (now, *wanted)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = 'running', owner = ?, updated = ? WHERE subject = ? AND stage = ?",
                       (owner, now, row["subject"], row["stage"]))
            cur = db.execute("INSERT INTO runs (subject, stage, owner, started) VALUES (?, ?, ?, ?)",
                             (row["subject"], row["stage"], owner, now))
            return Job(row["subject"], row["stage"], int(row["attempts"]), int(cur.lastrowid or 0))

    def done(self, job: Job, seconds: float, then: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Mark `job` done and queue its next stage; `then(db)` adds more in the same transaction."""
        now = time.time()
        with self.tx() as db:
            db.execute("UPDATE jobs SET state = 'done', seconds = ?, reason = '', owner = '', updated = ? WHERE subject = ? AND stage = ?",
                       (seconds, now, job.subject, job.stage))
            db.execute("UPDATE runs SET finished = ?, outcome = 'done' WHERE id = ?", (now, job.run_id))
            if job.stage in _NEXT:
                self.enqueue(db, job.subject, _NEXT[job.stage])
            if then is not None:
                then(db)

    def fail(self, job: Job, reason: str, *, permanent: bool = False) -> str:
        """Count a failed attempt: retried after backoff·2^(attempts-1) s, parked after the last
        attempt (or at once when `permanent`). Returns the new state."""
        reason = " ".join(reason.split())[:300] or "failed"
        attempts = job.attempts + 1
        parked = permanent or attempts >= self.max_attempts
        now = time.time()
        state = "parked" if parked else "pending"
        with self.tx() as db:
            db.execute("UPDATE jobs SET state = ?, attempts = ?, next_at = ?, reason = ?, owner = '', updated = ? "
                       "WHERE subject = ? AND stage = ?",
                       (state, attempts, now + self.backoff * 2 ** (attempts - 1), reason, now, job.subject, job.stage))
            db.execute("UPDATE runs SET finished = ?, outcome = 'failed' WHERE id = ?", (now, job.run_id))
        return state

    def release(self, job: Job) -> None:
        """Give a claimed job back untouched (a run stopping before it began the work)."""
        with self.tx() as db:
            db.execute("UPDATE jobs SET state = 'pending', owner = '' WHERE subject = ? AND stage = ? AND state = 'running'",
                       (job.subject, job.stage))
            db.execute("UPDATE runs SET finished = ?, outcome = 'released' WHERE id = ?", (time.time(), job.run_id))

    def unpark(self, subject: str | None = None) -> int:
        """Parked jobs (all, or one subject's) back to pending with fresh attempts."""
        with self.tx() as db:
            sql = "UPDATE jobs SET state = 'pending', attempts = 0, next_at = 0, reason = '' WHERE state = 'parked'"
            cur = db.execute(sql + (" AND subject = ?" if subject else ""), (subject,) if subject else ())
            return cur.rowcount

    # -- reading ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        """stage -> state -> number of jobs."""
        out: dict[str, dict[str, int]] = {}
        for row in self.db.execute("SELECT stage, state, count(*) FROM jobs GROUP BY stage, state"):
            out.setdefault(row[0], {})[row[1]] = int(row[2])
        return out

    def unfinished(self) -> int:
        """Jobs still to do (pending or running): parked and done ones are not."""
        return int(self.db.execute("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')").fetchone()[0])

    def next_due(self) -> float | None:
        row = self.db.execute("SELECT min(next_at) FROM jobs WHERE state = 'pending'").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def state(self, subject: str, stage: str) -> str | None:
        row = self.db.execute("SELECT state FROM jobs WHERE subject = ? AND stage = ?", (subject, stage)).fetchone()
        return str(row[0]) if row else None

    def parked(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            "SELECT subject, stage, attempts, reason FROM jobs WHERE state = 'parked' ORDER BY updated")]

    def stage_seconds(self) -> dict[str, dict[str, float]]:
        """stage -> {n, mean, total} seconds over finished jobs."""
        out: dict[str, dict[str, float]] = {}
        for row in self.db.execute("SELECT stage, count(*), avg(seconds), sum(seconds) FROM jobs WHERE state = 'done' GROUP BY stage"):
            out[row[0]] = {"n": int(row[1]), "mean_s": round(float(row[2] or 0), 3), "total_s": round(float(row[3] or 0), 3)}
        return out

    def finished_twice(self) -> list[tuple[str, str, int]]:
        """(subject, stage, times) for every stage that finished more than once: should be empty."""
        return [(r[0], r[1], int(r[2])) for r in self.db.execute(
            "SELECT subject, stage, count(*) FROM runs WHERE outcome = 'done' GROUP BY subject, stage HAVING count(*) > 1")]
