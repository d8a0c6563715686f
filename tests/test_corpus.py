"""SEARCH, LOAD and COPY over a corpus folder (FTS5), and COPY splicing on the mock engine."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from islands import InvalidInput, SamplingParams
from islands.engine import Engine
from islands.tools import IslandRunner, Registry
from islands.tools.corpus import Corpus, migrate


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / "tides.md").write_text("# Tide tables\nThe tide at Kirkwall rises 3.2 metres at spring tides.\n")
    (root / "sub" / "lights.txt").write_text("Lighthouses of Orkney\nThe Noup Head lighthouse was built in 1898 on Westray.\n")
    (root / "long.txt").write_text("Ledger\n" + "".join(f"line {i} of the harbour ledger\n" for i in range(400)))
    (root / "ignored.bin").write_bytes(b"\x00\x01")
    (root / ".hidden.md").write_text("secret")
    return root


@pytest.fixture
def corpus(folder: Path, tmp_path: Path) -> Corpus:
    c = Corpus(folder, tmp_path / "index.sqlite")
    assert c.index()["added"] == 3
    return c


def test_schema_is_migrated_once(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.sqlite")
    migrate(db)
    migrate(db)
    assert [r[0] for r in db.execute("SELECT name FROM migrations")] == ["_m001_initial"]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"docs", "docs_fts", "migrations"} <= tables


def test_search_ranks_and_snippets(corpus: Corpus) -> None:
    hits = corpus.search("Westray lighthouse")
    assert hits and hits[0].title == "Lighthouses of Orkney"
    assert "Westray" in hits[0].snippet
    assert corpus.search("tides")[0].title == "Tide tables"  # porter stemming: tides ~ tide
    with pytest.raises(InvalidInput):
        corpus.search("!!!")


def test_reindex_sees_changes_and_deletions(corpus: Corpus, folder: Path) -> None:
    (folder / "tides.md").write_text("# Tide tables\nNew readings: 4.1 metres.\n")
    (folder / "sub" / "lights.txt").unlink()
    counts = corpus.index()
    assert counts["updated"] == 1 and counts["removed"] == 1 and counts["unchanged"] == 1
    assert not corpus.search("Westray")
    assert "4.1" in corpus.search("readings")[0].snippet


def test_load_pages_through_a_document(corpus: Corpus) -> None:
    doc = corpus.search("ledger")[0].id
    first, more = corpus.load(doc, 0, 100)
    assert len(first) == 100 and more == 100
    rest, _ = corpus.load(doc, more, 100)
    assert (first + rest) == corpus.text(doc)[1][:200]
    with pytest.raises(InvalidInput, match="no document"):
        corpus.load(999)


def test_tools_over_the_corpus(corpus: Corpus) -> None:
    tools = Registry.default(corpus)
    assert "[" in tools.get("SEARCH").fn("Kirkwall tide")
    doc = corpus.search("ledger")[0].id
    page = tools.get("LOAD").fn(doc)
    assert page.endswith(f"[continue: LOAD({doc}, 1500)]")
    island = tools.get("COPY").fn(doc, 7, 40)
    assert island.output == corpus.text(doc)[1][7:47]
    assert island.context.startswith("[copied 40 characters of long.txt at 7:")


def test_copy_goes_to_the_output_not_the_context(corpus: Corpus, engine: Engine) -> None:
    doc = corpus.search("ledger")[0].id
    runner = IslandRunner(engine, Registry.default(corpus).subset(["COPY"]))
    try:
        g = runner.generate(f"the ledger: COPY({doc}, 0, 5000)", params=SamplingParams(max_tokens=4, seed=1))
        read = runner.generate(f"the ledger: COPY({doc}, 0, 300, True)", params=SamplingParams(max_tokens=4, seed=1))
    finally:
        runner.close()
    text = corpus.text(doc)[1]
    assert g.outputs[0].text.startswith(" => " + text[:5000])
    assert g.injected_tokens < 100  # the mock's tokens are bytes: only the marker went in
    assert read.injected_tokens == len(" => ") + 300  # asked to read it: the span went in


def test_corpus_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        Corpus.open(tmp_path / "nope")


def _one_page_pdf(text: str) -> bytes:
    """A minimal valid PDF with one line of Helvetica text."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdfs_are_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "skara.pdf").write_bytes(_one_page_pdf("Skara Brae is a Neolithic village on Orkney."))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    corpus = Corpus(folder, tmp_path / "i.sqlite")
    counts = corpus.index()
    assert counts["added"] == 1 and counts["skipped"] == 1
    assert len(corpus.problems) == 1 and "cannot read PDF" in corpus.problems[0] and "broken.pdf" in corpus.problems[0]
    hit = corpus.search("neolithic village")[0]
    assert "Skara Brae" in corpus.text(hit.id)[1]


def test_plugins_register_through_the_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    import islands.tools.registry as registry_module

    class EntryPoint:
        def load(self):  # type: ignore[no-untyped-def]
            def register(reg: Registry) -> None:
                @reg.register(name="TWICE")
                def twice(x: int) -> int:
                    return 2 * x

            return register

    monkeypatch.setattr(registry_module, "entry_points", lambda group: [EntryPoint()] if group == "islands.tools" else [])
    tools = Registry.default()
    assert tools.get("TWICE").fn(*tools.get("TWICE").parse_args("21")) == 42
    assert "CALC" in tools
