"""Intake: PDFs (files, or folders watched for new ones) and arXiv-style feeds (Atom, or RSS 2.0)
for their metadata — all local files; a feed's `http(s)` PDF link is fetched by the extract
stage where a network exists.

    register_pdf(q, station, Path("2401.00001.pdf"))   # -> "2401.00001" (or None: seen before)
    read_feed(Path("arxiv.atom"))                       # -> [FeedEntry(id="2401.00001", title=...)]

A paper's id is its arXiv id (from the file name or the feed entry that links it), else
`sha-` and 12 hex digits of its SHA-256; the same bytes added twice are one paper. The PDF is
copied into the station (temp file, then rename) before its row and first job are written
in one transaction, so a kill at any point leaves either nothing or a paper ready to extract.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from islands.errors import InvalidInput
from islands.radio.queue import JobQueue

__all__ = ["FeedEntry", "add_feed", "arxiv_id", "read_feed", "register_pdf", "scan_watched"]

_ARXIV = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\d])")
_ATOM = "{http://www.w3.org/2005/Atom}"


def arxiv_id(text: str) -> str | None:
    """The arXiv id in a name or URL, version dropped: "http://arxiv.org/abs/2401.00001v2" -> "2401.00001"."""
    m = _ARXIV.search(text)
    return m.group(1) if m else None


@dataclass(frozen=True)
class FeedEntry:
    """One paper's metadata from a feed; `link` is its PDF (a path, file:// or http(s) URL) or ''."""

    id: str
    title: str
    authors: str
    abstract: str
    published: str
    link: str


def _text(node: ET.Element | None) -> str:
    return " ".join((node.text or "").split()) if node is not None else ""


def read_feed(path: Path) -> list[FeedEntry]:
    """Entries of an Atom feed (arXiv's API format) or an RSS 2.0 feed; bad XML is InvalidInput."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as bad:
        raise InvalidInput(f"{path} is not a readable feed: {bad}") from None
    entries: list[FeedEntry] = []
    if root.tag == f"{_ATOM}feed":
        for e in root.iter(f"{_ATOM}entry"):
            ident = _text(e.find(f"{_ATOM}id"))
            links = e.findall(f"{_ATOM}link")
            pdf = next((x.get("href", "") for x in links if x.get("type") == "application/pdf" or x.get("title") == "pdf"), "")
            authors = ", ".join(_text(a.find(f"{_ATOM}name")) for a in e.findall(f"{_ATOM}author"))
            entries.append(_entry(ident, pdf, _text(e.find(f"{_ATOM}title")), authors,
                                  _text(e.find(f"{_ATOM}summary")), _text(e.find(f"{_ATOM}published"))))
    elif root.tag == "rss":
        for item in root.iter("item"):
            link = _text(item.find("link"))
            enclosure = item.find("enclosure")
            pdf = enclosure.get("url", "") if enclosure is not None else link
            creators = [_text(c) for c in item if c.tag.endswith("}creator") or c.tag == "author"]
            entries.append(_entry(_text(item.find("guid")) or link, pdf, _text(item.find("title")), ", ".join(creators),
                                  _text(item.find("description")), _text(item.find("pubDate"))))
    else:
        raise InvalidInput(f"{path} is neither an Atom nor an RSS 2.0 feed (root element {root.tag!r})")
    return [e for e in entries if e.id]


def _entry(ident: str, pdf: str, title: str, authors: str, abstract: str, published: str) -> FeedEntry:
    found = arxiv_id(ident) or arxiv_id(pdf)
    return FeedEntry(found or "", title or found or "", authors, abstract, published, pdf)


def _local(link: str, base: Path) -> Path | None:
    if link.startswith("file://"):
        return Path(unquote(urlparse(link).path))
    if not link or "://" in link:
        return None
    return (base / link).resolve()


def add_feed(q: JobQueue, station: Path, path: Path) -> tuple[int, list[str]]:
    """Keep a feed's metadata; register the PDFs it links that are on disk (or at an http(s)
    URL). Returns (entries, ids of the papers registered)."""
    entries = read_feed(path)
    with q.tx() as db:
        for e in entries:
            db.execute("INSERT OR REPLACE INTO feed VALUES (?, ?, ?, ?, ?, ?)", (e.id, e.title, e.authors, e.abstract, e.published, e.link))
    added: list[str] = []
    for e in entries:
        local = _local(e.link, path.parent)
        if local is not None and local.is_file():
            ident = register_pdf(q, station, local, paper_id=e.id)
            if ident:
                added.append(ident)
        elif e.link.startswith(("http://", "https://")) and not q.rows("SELECT 1 FROM papers WHERE id = ?", (e.id,)):
            with q.tx() as db:
                _insert(q, db, e.id, e.link, None, e)
            added.append(e.id)
    return len(entries), added


def _feed_entry(q: JobQueue, paper_id: str) -> FeedEntry | None:
    rows = q.rows("SELECT * FROM feed WHERE id = ?", (paper_id,))
    return FeedEntry(**dict(rows[0])) if rows else None


def _insert(q: JobQueue, db: sqlite3.Connection, paper_id: str, source: str, sha: str | None, meta: FeedEntry | None) -> None:
    now = time.time()
    title = meta.title if meta else Path(source).stem.replace("_", " ")
    db.execute("INSERT INTO papers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (paper_id, title, meta.authors if meta else "", meta.abstract if meta else "", meta.published if meta else "",
                source, sha, datetime.fromtimestamp(now, UTC).date().isoformat(), now))
    q.enqueue(db, f"paper:{paper_id}", "extract")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def register_pdf(q: JobQueue, station: Path, path: Path, *, paper_id: str | None = None) -> str | None:
    """Copy a PDF into the station and queue it; None when the same bytes are already in."""
    if not path.is_file():
        raise InvalidInput(f"no such PDF: {path}")
    sha = sha256_of(path)
    if q.rows("SELECT 1 FROM papers WHERE sha256 = ?", (sha,)):
        return None
    ident = paper_id or arxiv_id(path.name) or f"sha-{sha[:12]}"
    if q.rows("SELECT 1 FROM papers WHERE id = ?", (ident,)):
        ident = f"{ident}-{sha[:6]}"  # another version or another file under the same name
    folder = station / "papers" / ident
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".paper.pdf.part"
    shutil.copyfile(path, tmp)
    tmp.replace(folder / "paper.pdf")
    with q.tx() as db:
        _insert(q, db, ident, str(path), sha, _feed_entry(q, ident))
    return ident


def scan_watched(q: JobQueue, station: Path, *, settle: float = 1.0) -> list[str]:
    """Register the new PDFs in every watched folder (files still changing within `settle` s wait)."""
    added: list[str] = []
    now = time.time()
    for row in q.rows("SELECT path FROM watched"):
        folder = Path(row["path"])
        if not folder.is_dir():
            continue
        for pdf in sorted(folder.glob("*.pdf")):
            st = pdf.stat()
            if now - st.st_mtime < settle:
                continue
            key = str(pdf.resolve())
            if q.rows("SELECT 1 FROM seen WHERE path = ? AND size = ? AND mtime = ?", (key, st.st_size, st.st_mtime)):
                continue
            ident = register_pdf(q, station, pdf)
            if ident:
                added.append(ident)
            with q.tx() as db:
                db.execute("INSERT OR REPLACE INTO seen VALUES (?, ?, ?)", (key, st.st_size, st.st_mtime))
    return added
