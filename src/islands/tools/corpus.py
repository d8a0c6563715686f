"""A local corpus for SEARCH, LOAD and COPY: a folder of text, Markdown and PDF files,
indexed into SQLite FTS5 (BM25 ranking, porter stemming).

    corpus = Corpus.open(Path("notes/"))     # index in $ISLANDS_HOME/corpora/, kept current
    corpus.index()                           # new and changed files only
    corpus.search("tide tables")             # [(id, title, snippet, score), ...]
    corpus.load(3, offset=0, budget=1500)    # text, and the offset to continue from

The index is one SQLite file per folder; migrations are numbered and recorded, so opening
an old index upgrades it. Re-indexing runs in one transaction: an interrupted run leaves
the previous index intact.

What it leaves out: OCR for scanned PDFs, other formats (docx, html).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from islands.errors import InvalidInput
from islands.home import islands_home

__all__ = ["SUFFIXES", "Corpus", "Hit"]

SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text", ".pdf"}
MAX_FILE_BYTES = 50_000_000


def _m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, title TEXT NOT NULL, "
        "mtime REAL NOT NULL, size INTEGER NOT NULL, text TEXT NOT NULL)"
    )
    db.execute("CREATE VIRTUAL TABLE docs_fts USING fts5(title, text, content='docs', content_rowid='id', tokenize='porter unicode61')")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_initial]


def migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations not yet recorded in the `migrations` table."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY)")
    done = {row[0] for row in db.execute("SELECT name FROM migrations")}
    for step in MIGRATIONS:
        if step.__name__ not in done:
            with db:
                step(db)
                db.execute("INSERT INTO migrations (name) VALUES (?)", (step.__name__,))


@dataclass(frozen=True)
class Hit:
    id: int
    title: str
    snippet: str
    score: float


def _read(path: Path) -> str:
    if path.suffix.lower() == ".pdf":
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(str(path))
            return "\n\n".join(page.extract_text() or "" for page in reader.pages)
        except (PdfReadError, ValueError, KeyError, OSError) as e:
            raise InvalidInput(f"cannot read PDF {path}: {e}") from None
    return path.read_text(encoding="utf-8", errors="replace")


def _title(path: Path, text: str) -> str:
    for line in text.splitlines()[:20]:
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:120]
    return path.stem


class Corpus:
    """One folder's FTS5 index."""

    def __init__(self, root: Path, db_path: Path) -> None:
        self.root = root
        self.db_path = db_path
        self.problems: list[str] = []
        self.db = sqlite3.connect(db_path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        migrate(self.db)

    @classmethod
    def open(cls, root: Path, db_path: Path | None = None) -> Corpus:
        root = root.expanduser().resolve()
        if not root.is_dir():
            raise InvalidInput(f"corpus folder not found: {root}")
        if db_path is None:
            key = hashlib.sha1(str(root).encode()).hexdigest()[:16]
            folder = islands_home() / "corpora"
            folder.mkdir(parents=True, exist_ok=True)
            db_path = folder / f"{key}.sqlite"
        return cls(root, db_path)

    def files(self) -> Iterator[Path]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and path.suffix.lower() in SUFFIXES and not any(p.startswith(".") for p in path.relative_to(self.root).parts):
                yield path

    def index(self, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Add new files, refresh changed ones, drop deleted ones — in one transaction.
        Files that cannot be read are skipped and described in `self.problems`."""
        files = list(self.files())
        self.problems = []
        known = {row[0]: (row[1], row[2]) for row in self.db.execute("SELECT path, mtime, size FROM docs")}
        counts = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0, "skipped": 0}
        with self.db:
            for i, path in enumerate(files):
                rel = str(path.relative_to(self.root))
                stat = path.stat()
                if known.get(rel) == (stat.st_mtime, stat.st_size):
                    counts["unchanged"] += 1
                elif stat.st_size > MAX_FILE_BYTES:
                    counts["skipped"] += 1
                else:
                    try:
                        text = _read(path)
                    except InvalidInput as e:  # one bad file does not stop the others
                        self.problems.append(str(e))
                        counts["skipped"] += 1
                        continue
                    self._put(rel, _title(path, text), stat.st_mtime, stat.st_size, text, rel in known)
                    counts["updated" if rel in known else "added"] += 1
                if progress:
                    progress(i + 1, len(files))
            present = {str(p.relative_to(self.root)) for p in files}
            for rel in set(known) - present:
                self._delete(rel)
                counts["removed"] += 1
        return counts

    def _put(self, rel: str, title: str, mtime: float, size: int, text: str, exists: bool) -> None:
        if exists:
            self._delete(rel)
        cur = self.db.execute("INSERT INTO docs (path, title, mtime, size, text) VALUES (?, ?, ?, ?, ?)", (rel, title, mtime, size, text))
        self.db.execute("INSERT INTO docs_fts (rowid, title, text) VALUES (?, ?, ?)", (cur.lastrowid, title, text))

    def _delete(self, rel: str) -> None:
        row = self.db.execute("SELECT id, title, text FROM docs WHERE path = ?", (rel,)).fetchone()
        if row:
            self.db.execute("INSERT INTO docs_fts (docs_fts, rowid, title, text) VALUES ('delete', ?, ?, ?)", row)
            self.db.execute("DELETE FROM docs WHERE id = ?", (row[0],))

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM docs").fetchone()[0])

    def search(self, query: str, limit: int = 5) -> list[Hit]:
        """BM25-ranked documents for the words of `query` (any of them; FTS syntax not needed)."""
        words = re.findall(r"\w+", query.lower())
        if not words:
            raise InvalidInput("search query has no words")
        match = " OR ".join(f'"{w}"' for w in words[:32])
        rows = self.db.execute(
            "SELECT rowid, title, snippet(docs_fts, 1, '', '', '…', 12), bm25(docs_fts) FROM docs_fts "
            "WHERE docs_fts MATCH ? ORDER BY bm25(docs_fts) LIMIT ?",
            (match, limit),
        ).fetchall()
        return [Hit(int(r[0]), str(r[1]), " ".join(str(r[2]).split()), float(r[3])) for r in rows]

    def text(self, doc_id: int) -> tuple[str, str]:
        """(path, text) of a document."""
        row = self.db.execute("SELECT path, text FROM docs WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise InvalidInput(f"no document with id {doc_id} (SEARCH gives ids)")
        return str(row[0]), str(row[1])

    def load(self, doc_id: int, offset: int = 0, budget: int = 1500) -> tuple[str, int | None]:
        """Up to `budget` characters from `offset`, and where to continue (None at the end)."""
        _, text = self.text(doc_id)
        if not 0 <= offset <= len(text):
            raise InvalidInput(f"offset {offset} is outside document {doc_id} ({len(text)} characters)")
        end = min(len(text), offset + budget)
        return text[offset:end], (end if end < len(text) else None)

    def close(self) -> None:
        self.db.close()
