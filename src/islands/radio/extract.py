"""The extract stage: a paper's text (pypdf) and page images (poppler's `pdftoppm`), written
into its folder in the station; a PDF at an http(s) URL is fetched first.

    extract_paper(folder, source)   # -> {"pages": 2, "chars": 5120, "title": "..."}

Files land under temporary names and are renamed, so a killed extract leaves nothing that a
reader could mistake for finished output. A PDF that pypdf cannot read raises `BadPaper`
(one line: what is wrong); the queue retries it and then parks it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from islands.errors import IslandsError

__all__ = ["BadPaper", "extract_paper", "write_atomic"]


class BadPaper(IslandsError):
    """A paper that cannot be read: a corrupt or empty PDF, a URL that gives no PDF."""


def write_atomic(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    tmp.replace(path)


def _fetch(url: str, target: Path) -> None:
    import httpx

    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as r:
            r.raise_for_status()
            tmp = target.with_name(".paper.pdf.part")
            with tmp.open("wb") as f:
                for chunk in r.iter_bytes():
                    f.write(chunk)
        tmp.replace(target)
    except httpx.HTTPError as e:
        raise BadPaper(f"could not fetch {url}: {e}") from None


def _title_of(reader: Any, text: str) -> str:
    meta = reader.metadata
    title = str(meta.title).strip() if meta is not None and meta.title else ""
    if title:
        return title
    for line in text.splitlines():
        if len(line.split()) >= 2:
            return line.strip()[:200]
    return ""


def extract_paper(folder: Path, source: str, *, dpi: int = 40, max_pages: int = 8) -> dict[str, Any]:
    """Text and page images of `folder/paper.pdf` (fetched from `source` when that is a URL)."""
    import logging

    import pypdf
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on a broken file would interleave with progress bars

    pdf = folder / "paper.pdf"
    if not pdf.exists():
        if source.startswith(("http://", "https://")):
            folder.mkdir(parents=True, exist_ok=True)
            _fetch(source, pdf)
        else:
            raise BadPaper(f"the station's copy of the PDF is missing: {pdf}")
    try:
        reader = pypdf.PdfReader(pdf, strict=False)
        pages = [p.extract_text() or "" for p in reader.pages]
        title = _title_of(reader, pages[0] if pages else "")
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as e:
        raise BadPaper(f"unreadable PDF ({type(e).__name__}: {' '.join(str(e).split())[:160]})") from None
    text = "\n\n".join(pages).strip()
    if not pages:
        raise BadPaper("the PDF has no pages")
    if len(text) < 20:
        raise BadPaper(f"the PDF has no text layer ({len(pages)} pages, {len(text)} characters): scanned images are not OCRed")
    write_atomic(folder / "text.txt", text)
    images = _page_images(pdf, folder / "pages", dpi, min(max_pages, len(pages)))
    return {"pages": len(pages), "chars": len(text), "title": title, "images": images}


def _page_images(pdf: Path, out: Path, dpi: int, pages: int) -> int:
    """PNG per page via pdftoppm into a temp folder, then swapped in; 0 when poppler is absent."""
    if shutil.which("pdftoppm") is None:
        return 0
    tmp = out.with_name(".pages.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    p = subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", str(pages), str(pdf), str(tmp / "page")],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BadPaper(f"pdftoppm could not render the pages: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    for i, png in enumerate(sorted(tmp.glob("page-*.png"), key=lambda x: int(x.stem.split("-")[-1])), start=1):
        png.rename(tmp / f"{i}.png")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return len(list(out.glob("*.png")))
