"""Generated papers for tests, demos and the soak benchmark: two-page PDFs (a title, an
abstract, sections of text and a figure: a bar chart drawn with reportlab) and an
arXiv-style Atom feed describing them. Needs the `radio` extra (reportlab).

    write_papers(Path("inbox"), 3)     # inbox/2612.00001.pdf ... and inbox/feed.atom
    write_corrupt_pdf(Path("inbox/broken.pdf"))
"""

from __future__ import annotations

import random
from pathlib import Path
from xml.sax.saxutils import escape

from islands.errors import InvalidInput

__all__ = ["TOPICS", "write_corrupt_pdf", "write_paper", "write_papers"]

# (title, abstract, body sentences): three themes, so a week's papers cluster
TOPICS = [
    ("Sparse attention for long contexts",
     "We study sparse attention patterns that let transformers read contexts of a million tokens. "
     "Our method keeps a few global tokens and a sliding window, and matches dense attention on retrieval tasks.",
     ["Attention cost grows with the square of the context length.", "We keep a sliding window of local tokens.",
      "A few global tokens see the whole sequence.", "On long retrieval tasks the sparse model matches dense attention.",
      "Memory use falls by a factor of eight at one million tokens."]),
    ("Speculative decoding with small draft models",
     "We speed up decoding by letting a small draft model propose tokens that a large model verifies in one batch. "
     "Acceptance rates stay high on code and dialogue, and the output distribution is unchanged.",
     ["Decoding one token at a time leaves the accelerator idle.", "A small draft model proposes several tokens.",
      "The large model checks all proposals in a single forward pass.", "Accepted tokens cost a fraction of normal decoding.",
      "The output distribution equals that of the large model alone."]),
    ("Protein structure prediction from single sequences",
     "We predict protein structures from a single sequence without multiple alignments. "
     "A language model over amino acids supplies the evolutionary signal, and a folding head builds coordinates.",
     ["Multiple sequence alignments are slow to build.", "A protein language model learns evolutionary signal from sequences.",
      "The folding head predicts distances between residues.", "Accuracy approaches alignment-based methods on most targets.",
      "Orphan proteins benefit the most from the single-sequence approach."]),
]


def write_paper(path: Path, title: str, abstract: str, body: list[str], *, authors: str = "A. Author, B. Author",
                seed: int = 0) -> Path:
    """A two-page PDF: title, authors, abstract and text on page 1, a figure and more text on page 2."""
    try:
        from reportlab.lib.pagesizes import A4
        from reportlab.pdfgen import canvas
    except ImportError:
        raise InvalidInput("generating papers needs reportlab: pip install 'islands[radio]'") from None
    rng = random.Random(seed)
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setTitle(title)
    c.setAuthor(authors)
    width, height = A4

    def paragraph(y: float, text: str, size: int = 10) -> float:
        c.setFont("Helvetica", size)
        line = ""
        for word in text.split():
            if c.stringWidth(line + " " + word, "Helvetica", size) > width - 144:
                c.drawString(72, y, line)
                y -= size + 4
                line = word
            else:
                line = f"{line} {word}".strip()
        if line:
            c.drawString(72, y, line)
            y -= size + 4
        return y - 6

    c.setFont("Helvetica-Bold", 16)
    c.drawString(72, height - 80, title)
    c.setFont("Helvetica", 10)
    c.drawString(72, height - 100, authors)
    y = paragraph(height - 130, "Abstract. " + abstract)
    y = paragraph(y, "1 Introduction. " + " ".join(body[:3]))
    c.showPage()
    c.setFont("Helvetica-Bold", 11)
    c.drawString(72, height - 80, "Figure 1: results on three benchmarks")
    for i in range(3):  # the figure: three bars
        h = 60 + rng.random() * 120
        c.setFillColorRGB(0.2 + 0.25 * i, 0.4, 0.7)
        c.rect(100 + i * 90, height - 300, 60, h, fill=1, stroke=0)
    c.setFillColorRGB(0, 0, 0)
    paragraph(height - 340, "2 Results. " + " ".join(body[3:]) + " We conclude that the method works as claimed.")
    c.showPage()
    c.save()
    return path


def write_papers(folder: Path, n: int, *, start: int = 1, month: str = "2612", feed: bool = True, seed: int = 0) -> list[Path]:
    """n papers named as arXiv ids (`2612.00001.pdf`, ...), cycling through TOPICS with varied
    wording, and `feed.atom` listing them (links relative to the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths, entries = [], []
    for i in range(start, start + n):
        title, abstract, body = TOPICS[(i - 1) % len(TOPICS)]
        variant = f"{title}, part {i}" if i > len(TOPICS) else title
        ident = f"{month}.{i:05d}"
        sentences = body[:]
        rng.shuffle(sentences)
        authors = f"{rng.choice(['Ana', 'Bo', 'Chen', 'Dara'])} {rng.choice(['Ng', 'Ito', 'Kim', 'Roy'])}"
        paths.append(write_paper(folder / f"{ident}.pdf", variant, abstract, sentences, authors=authors, seed=i))
        entries.append(f"""  <entry>
    <id>http://arxiv.org/abs/{ident}v1</id>
    <published>2026-12-07T00:00:00Z</published>
    <title>{escape(variant)}</title>
    <summary>{escape(abstract)}</summary>
    <author><name>{escape(authors)}</name></author>
    <link href="http://arxiv.org/abs/{ident}v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="{ident}.pdf" rel="related" type="application/pdf"/>
  </entry>""")
    if feed:
        (folder / "feed.atom").write_text('<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
                                          "  <title>arXiv listing</title>\n" + "\n".join(entries) + "\n</feed>\n")
    return paths


def write_corrupt_pdf(path: Path) -> Path:
    """A file that starts like a PDF and is not one."""
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage that never ends \x00\x01\x02" * 3)
    return path
