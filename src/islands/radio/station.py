"""A station: one folder holding the job queue (`station.sqlite`), the papers (PDF, text,
page images, summary), the shows (script, transcript, MP3, Ogg) and, by default, the memory
store the summaries are embedded into (`memory.sqlite`).

    station = Station(Path("~/radio").expanduser())
    station.add([Path("inbox/"), Path("arxiv.atom"), Path("2401.00001.pdf")])
    station.status()     # {"papers": 3, "stages": {"extract": {"done": 3}, ...}, "parked": [...]}

Layout:  station.sqlite, memory.sqlite, papers/<id>/{paper.pdf,text.txt,pages/N.png,summary.json},
shows/<id>/{script.json,transcript.json,transcript.vtt,show.mp3,show.ogg}.
`plan_shows` turns papers whose embedding is done into shows: a daily show as soon as
`papers_per_show` of a day are ready (the rest when that day's papers are drained), and a
weekly show per ISO week once the week is over (or at once when asked).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from islands.errors import InvalidInput
from islands.radio.intake import add_feed, read_feed, register_pdf, scan_watched
from islands.radio.queue import JobQueue
from islands.radio.shows import pick_hosts

__all__ = ["Station", "StationConfig", "check_paths"]


def check_paths(paths: list[Path]) -> list[Path]:
    """What `Station.add` takes, checked before a station is opened or anything written: every
    path exists, files are PDFs or feeds, feeds parse. The feeds, in order."""
    for p in paths:
        if not p.exists():
            raise InvalidInput(f"no such file or folder: {p}")
        if p.is_file() and p.suffix.lower() not in (".pdf", ".xml", ".atom", ".rss"):
            raise InvalidInput(f"{p}: add PDFs, folders of PDFs, or an Atom/RSS feed (.xml, .atom, .rss)")
    feeds = [p for p in paths if p.is_file() and p.suffix.lower() != ".pdf"]
    for f in feeds:
        read_feed(f)  # a bad feed fails here, before any PDF is taken
    return feeds


@dataclass
class StationConfig:
    """How shows are made; kept in the station's database, so `run` remembers it."""

    daily_minutes: float = 3.0
    weekly_minutes: float = 6.0
    hosts: int = 2
    language: str = "en"
    papers_per_show: int = 5
    drafts: int = 3
    tokens: int = 40

    def check(self) -> StationConfig:
        if not 0.1 <= self.daily_minutes <= 180 or not 0.1 <= self.weekly_minutes <= 180:
            raise InvalidInput(f"invalid show length {self.daily_minutes}/{self.weekly_minutes} min: must be 0.1 to 180 minutes")
        if not 2 <= self.hosts <= 4:
            raise InvalidInput(f"invalid hosts={self.hosts}: a show has 2 to 4 hosts")
        if not 1 <= self.papers_per_show <= 50:
            raise InvalidInput(f"invalid papers per show {self.papers_per_show}: must be 1 to 50")
        if not 1 <= self.drafts <= 8 or not 8 <= self.tokens <= 256:
            raise InvalidInput(f"invalid drafts={self.drafts} / tokens={self.tokens}: drafts 1-8, tokens 8-256")
        pick_hosts(self.hosts, self.language)  # a language espeak-ng has no voice for is refused now, not at the speech stage
        return self


def week_of(day: str) -> str:
    """ISO week of a day: "2026-12-07" -> "2026-W50"."""
    y, w, _ = date.fromisoformat(day).isocalendar()
    return f"{y}-W{w:02d}"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


class Station:
    """A station folder and its queue (one connection: one per thread)."""

    def __init__(self, folder: Path, *, attempts: int = 3, backoff: float = 2.0) -> None:
        if folder.exists() and not folder.is_dir():
            raise InvalidInput(f"a station is a folder, and {folder} is a file")
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.q = JobQueue(folder / "station.sqlite", attempts=attempts, backoff=backoff)

    def close(self) -> None:
        self.q.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings ------------------------------------------------------------------------------

    @property
    def config(self) -> StationConfig:
        saved = self.q.get_meta("config")
        return StationConfig(**json.loads(saved)) if saved else StationConfig()

    def configure(self, **changes: Any) -> StationConfig:
        config = StationConfig(**{**asdict(self.config), **{k: v for k, v in changes.items() if v is not None}}).check()
        self.q.set_meta("config", json.dumps(asdict(config)))
        return config

    # -- intake --------------------------------------------------------------------------------

    def add(self, paths: list[Path]) -> dict[str, Any]:
        """PDFs are queued, folders watched (and their PDFs queued), feeds (.xml/.atom/.rss) read.
        Every path is checked before anything is written."""
        feeds = check_paths(paths)
        added: list[str] = []
        entries = 0
        for f in feeds:
            n, ids = add_feed(self.q, self.folder, f)
            entries += n
            added += ids
        for p in paths:
            if p.is_dir():
                with self.q.tx() as db:
                    db.execute("INSERT OR IGNORE INTO watched VALUES (?)", (str(p.resolve()),))
            elif p.suffix.lower() == ".pdf":
                ident = register_pdf(self.q, self.folder, p)
                if ident:
                    added.append(ident)
        added += scan_watched(self.q, self.folder, settle=0.0)
        return {"papers": added, "feed_entries": entries, "watched": [r["path"] for r in self.q.rows("SELECT path FROM watched")]}

    # -- planning shows ------------------------------------------------------------------------

    def _ready(self, db: sqlite3.Connection, kind: str) -> list[sqlite3.Row]:
        """Papers whose embedding is done, not yet in a show of this kind, by day and id."""
        return list(db.execute(
            "SELECT p.id, p.day FROM papers p JOIN jobs j ON j.subject = 'paper:' || p.id AND j.stage = 'embed' AND j.state = 'done' "
            "WHERE NOT EXISTS (SELECT 1 FROM show_papers s WHERE s.paper_id = p.id AND s.kind = ?) ORDER BY p.day, p.added, p.id",
            (kind,)))

    def _drained(self, db: sqlite3.Connection, days: set[str]) -> bool:
        """No paper of these days still on its way (pending or running, before its show)."""
        marks = ",".join("?" * len(days))
        row = db.execute(
            f"SELECT count(*) FROM jobs j JOIN papers p ON j.subject = 'paper:' || p.id WHERE p.day IN ({marks}) "
            "AND j.state IN ('pending', 'running')", tuple(days)).fetchone()
        return int(row[0]) == 0

    def _new_show(self, db: sqlite3.Connection, show_id: str, kind: str, title: str, day: str, minutes: float, ids: list[str]) -> None:
        db.execute("INSERT INTO shows (id, kind, title, day, created, minutes) VALUES (?, ?, ?, ?, ?, ?)",
                   (show_id, kind, title, day, time.time(), minutes))
        db.executemany("INSERT INTO show_papers VALUES (?, ?, ?)", [(show_id, pid, kind) for pid in ids])
        self.q.enqueue(db, f"show:{show_id}", "write")

    def plan_shows(self, *, weekly_now: bool = False) -> list[str]:
        """Create the shows that are due (one transaction); returns their ids."""
        config = self.config
        made: list[str] = []
        with self.q.tx() as db:
            by_day: dict[str, list[str]] = {}
            for row in self._ready(db, "daily"):
                by_day.setdefault(row["day"], []).append(row["id"])
            for day, ids in by_day.items():
                drained = self._drained(db, {day})
                n = config.papers_per_show
                groups = [ids[i : i + n] for i in range(0, len(ids), n)]
                if groups and len(groups[-1]) < n and not drained:
                    groups.pop()  # a partial show waits for the rest of its day
                for group in groups:
                    part = int(db.execute("SELECT count(*) FROM shows WHERE kind = 'daily' AND day = ?", (day,)).fetchone()[0]) + 1
                    show_id = f"daily-{day}-{part}"
                    self._new_show(db, show_id, "daily", f"Paper Radio daily, {day}" + (f" (part {part})" if part > 1 else ""),
                                   day, config.daily_minutes, group)
                    made.append(show_id)
            by_week: dict[str, list[sqlite3.Row]] = {}
            for row in self._ready(db, "weekly"):
                by_week.setdefault(week_of(row["day"]), []).append(row)
            this_week = week_of(today())
            for week, rows in by_week.items():
                if (week == this_week and not weekly_now) or len(rows) < 2 or not self._drained(db, {r["day"] for r in rows}):
                    continue
                n = int(db.execute("SELECT count(*) FROM shows WHERE kind = 'weekly' AND day = ?", (week,)).fetchone()[0])
                show_id = f"weekly-{week}" + (f"-{n + 1}" if n else "")
                self._new_show(db, show_id, "weekly", f"Paper Radio weekly, {week}", week, config.weekly_minutes, [r["id"] for r in rows])
                made.append(show_id)
        return made

    # -- reading -------------------------------------------------------------------------------

    def papers(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.q.rows("SELECT * FROM papers ORDER BY added, id")]

    def paper(self, paper_id: str) -> dict[str, Any]:
        rows = self.q.rows("SELECT * FROM papers WHERE id = ?", (paper_id,))
        if not rows:
            raise InvalidInput(f"no paper {paper_id!r} in this station")
        out = dict(rows[0])
        folder = self.folder / "papers" / paper_id
        summary = folder / "summary.json"
        out["summary"] = json.loads(summary.read_text())["summary"] if summary.exists() else None
        out["pages"] = len(list((folder / "pages").glob("*.png"))) if (folder / "pages").is_dir() else 0
        return out

    def shows(self, *, finished: bool = False) -> list[dict[str, Any]]:
        """Shows newest first, with their papers, stage states and files."""
        out = []
        for r in self.q.rows("SELECT * FROM shows ORDER BY created DESC, id DESC"):
            show = dict(r)
            show["papers"] = [x["paper_id"] for x in self.q.rows("SELECT paper_id FROM show_papers WHERE show_id = ? ORDER BY rowid",
                                                                 (show["id"],))]
            show["stages"] = {x["stage"]: x["state"] for x in self.q.rows("SELECT stage, state FROM jobs WHERE subject = ?",
                                                                          (f"show:{show['id']}",))}
            folder = self.folder / "shows" / show["id"]
            show["mp3"] = str(folder / "show.mp3") if show["stages"].get("encode") == "done" else None
            if finished and not show["mp3"]:
                continue
            out.append(show)
        return out

    def status(self) -> dict[str, Any]:
        counts = self.q.counts()
        papers = int(self.q.rows("SELECT count(*) FROM papers")[0][0])
        embedded = counts.get("embed", {}).get("done", 0)
        return {
            "station": str(self.folder),
            "papers": papers,
            "papers_done": embedded,
            "shows": int(self.q.rows("SELECT count(*) FROM shows")[0][0]),
            "shows_done": counts.get("encode", {}).get("done", 0),
            "unfinished_jobs": self.q.unfinished(),
            "stages": counts,
            "stage_seconds": self.q.stage_seconds(),
            "parked": self.q.parked(),
            "watched": [r["path"] for r in self.q.rows("SELECT path FROM watched")],
            "config": asdict(self.config),
        }
