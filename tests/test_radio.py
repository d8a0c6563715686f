"""Paper Radio end to end on the mock engine: generated PDFs (text, a figure, two pages)
through extract -> summarize -> embed -> write -> speak -> encode; the audio decodes at the
expected length; the stream serves two listeners at once; the feed is RSS 2.0; a corrupt
PDF is parked with a one-line reason; a run killed with SIGKILL resumes with nothing lost
and nothing done twice. One short real-model test summarizes a paper with the 270M model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from islands.engine import Engine, MockModel
from islands.errors import InvalidInput, ModelError
from islands.radio import RunReport, Station, run_station
from islands.radio.bench import check_station
from islands.radio.samples import TOPICS, write_corrupt_pdf, write_papers
from islands.radio.shows import WORDS_PER_MINUTE, daily_script, pick_hosts
from islands.radio.summarize import kmeans, summarize_paper

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("espeak-ng", "ffmpeg", "ffprobe", "pdftoppm")),
                                reason="Paper Radio needs espeak-ng, ffmpeg and poppler-utils (make test installs them)")

DAILY_MINUTES = 1.0


def _mock_engine() -> Engine:
    return Engine(MockModel(n_ctx=4096, n_seq_max=16))


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, RunReport]]:
    """Four papers from a feed and a watched folder, plus a corrupt PDF, run to the end."""
    root = tmp_path_factory.mktemp("radio")
    write_papers(root / "inbox", 4)
    write_corrupt_pdf(root / "inbox" / "broken.pdf")
    folder = root / "station"
    with Station(folder) as s:
        s.configure(daily_minutes=DAILY_MINUTES, papers_per_show=2, weekly_minutes=1.5)
        added = s.add([root / "inbox" / "feed.atom", root / "inbox"])
    assert sorted(added["papers"])[:4] == ["2612.00001", "2612.00002", "2612.00003", "2612.00004"]
    report = run_station(folder, _mock_engine, embedder="hash", backoff=0.01, weekly_now=True)
    yield folder, report


def test_the_pipeline_runs_every_stage_of_every_paper_and_show(station: tuple[Path, RunReport]) -> None:
    folder, report = station
    assert report.done == {"extract": 4, "summarize": 4, "embed": 4, "write": 3, "speak": 3, "encode": 3}
    with Station(folder) as s:
        status = s.status()
        shows = s.shows()
    assert status["unfinished_jobs"] == 0 and status["papers"] == 5 and status["papers_done"] == 4
    assert sorted(x["id"] for x in shows) == ["daily-2026-12-07-1", "daily-2026-12-07-2", "weekly-2026-W50"] or \
        {x["kind"] for x in shows} == {"daily", "weekly"}
    assert sorted(p for x in shows if x["kind"] == "daily" for p in x["papers"]) == [f"2612.0000{i}" for i in range(1, 5)]
    pages = sorted((folder / "papers" / "2612.00001" / "pages").glob("*.png"))
    assert [p.name for p in pages] == ["1.png", "2.png"] and pages[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (folder / "papers" / "2612.00001" / "text.txt").read_text()
    assert "Sparse attention" in text and "Results" in text  # both pages' text
    assert check_station(folder)["finished_twice"] == []


def test_summaries_cite_their_paper_in_the_store_and_on_air(station: tuple[Path, RunReport]) -> None:
    folder, _ = station
    from islands.memory import open_store

    with Station(folder) as s:
        papers = {p["id"]: p for p in s.papers() if not p["id"].startswith("sha-")}
    for pid, p in papers.items():
        summary = json.loads((folder / "papers" / pid / "summary.json").read_text())
        assert summary["summary"].startswith(f'"{p["title"]}" (arXiv {pid}):')
        assert len(summary["drafts"]) == 3 and summary["scored_by"] == "logprob"  # the mock model has no grammars
    with open_store(folder / "memory.sqlite", embedder="hash") as store:
        texts = [m.text for m in store.memories() if m.kind == "paper"]
        assert sorted(t.split("(arXiv ")[1][:10] for t in texts) == sorted(papers)
        hit = store.search("speculative decoding draft", k=1)[0]
        assert "2612.00002" in hit.text
    for show in (folder / "shows").iterdir():
        segments = json.loads((show / "transcript.json").read_text())["segments"]
        spoken = " ".join(s["text"] for s in segments)
        for pid in {s["paper_id"] for s in segments if s["paper_id"]}:
            assert f"{papers[pid]['title']}\" (arXiv {pid})" in spoken


def _ffprobe(path: Path) -> dict[str, str]:
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration,format_name:stream=codec_name,sample_rate,channels",
                        "-of", "default=noprint_wrappers=1", str(path)], capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in p.stdout.splitlines())


def test_the_audio_decodes_at_the_expected_length_with_timed_transcripts(station: tuple[Path, RunReport]) -> None:
    folder, _ = station
    for show in sorted((folder / "shows").iterdir()):
        script = json.loads((show / "script.json").read_text())
        mp3, ogg = _ffprobe(show / "show.mp3"), _ffprobe(show / "show.ogg")
        assert (mp3["codec_name"], mp3["sample_rate"], mp3["channels"]) == ("mp3", "22050", "1")
        assert ogg["codec_name"] == "vorbis"
        seconds = float(mp3["duration"])
        decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(show / "show.mp3"), "-f", "null", "-"], capture_output=True, text=True)
        assert decoded.returncode == 0 and decoded.stderr == ""
        # length control: the words fill the minutes asked for, and espeak speaks WORDS_PER_MINUTE
        target = script["minutes"] * 60
        assert 0.6 * target <= seconds <= 1.5 * target, (show.name, seconds, target)
        assert abs(script["words"] / WORDS_PER_MINUTE * 60 - seconds) < 0.45 * seconds
        transcript = json.loads((show / "transcript.json").read_text())
        segments = transcript["segments"]
        assert abs(segments[-1]["end"] - seconds) < 1.0
        assert all(a["end"] <= b["start"] for a, b in zip(segments, segments[1:]))
        assert len({s["voice"] for s in segments}) >= 2 and len({s["host"] for s in segments}) >= 2
        vtt = (show / "transcript.vtt").read_text()
        assert vtt.startswith("WEBVTT") and vtt.count(" --> ") == len(segments)
        assert not (show / "show.wav").exists()  # removed once encoded


def test_the_weekly_show_groups_the_weeks_papers_into_themes(station: tuple[Path, RunReport]) -> None:
    folder, _ = station
    weekly = next(p for p in (folder / "shows").iterdir() if p.name.startswith("weekly"))
    script = json.loads((weekly / "script.json").read_text())
    themes = {t["name"]: set(t["papers"]) for t in script["themes"]}
    assert len(themes) == 2 and set().union(*themes.values()) == {f"2612.0000{i}" for i in range(1, 5)}
    # papers 1 and 4 share a title ("Sparse attention for long contexts"): one theme holds both
    assert any({"2612.00001", "2612.00004"} <= ids for ids in themes.values())


def test_a_corrupt_pdf_is_parked_with_a_one_line_reason_and_the_rest_go_on(station: tuple[Path, RunReport]) -> None:
    folder, report = station
    with Station(folder) as s:
        parked = s.status()["parked"]
    assert len(parked) == 1
    assert parked[0]["subject"].startswith("paper:sha-") and parked[0]["stage"] == "extract" and parked[0]["attempts"] == 3
    assert "unreadable PDF" in parked[0]["reason"] and "\n" not in parked[0]["reason"]
    assert report.failed == {"extract": 3}
    p = subprocess.run([sys.executable, "-m", "islands", "radio", "status", "--station", str(folder)], capture_output=True, text=True)
    assert p.returncode == 0 and "parked paper:sha-" in p.stdout and "unreadable PDF" in p.stdout


def test_the_stream_serves_two_listeners_at_once_and_the_feed_is_rss2(station: tuple[Path, RunReport]) -> None:
    from islands.radio.serve import radio_app
    from islands.server.background import serve_in_thread

    folder, _ = station
    with serve_in_thread(radio_app(folder, pace=8.0), timeout_graceful_shutdown=2) as base:
        got: dict[int, bytes] = {}
        listening = threading.Barrier(3)

        def listen(i: int) -> None:
            data = b""
            with httpx.stream("GET", f"{base}/stream.mp3", timeout=30) as r:
                assert r.headers["content-type"] == "audio/mpeg"
                for chunk in r.iter_bytes():
                    if not data:
                        listening.wait(timeout=20)
                    data += chunk
                    if len(data) >= 30_000:  # 5 s of audio at 48 kbit/s
                        break
            got[i] = data

        threads = [threading.Thread(target=listen, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        listening.wait(timeout=20)
        now = httpx.get(f"{base}/now.json", timeout=10).json()
        for t in threads:
            t.join(timeout=60)
        assert now["listeners"] == 2 and now["show"] is not None
        assert now["paper"] is None or now["paper"]["pages"][0].endswith("/pages/1.png")
        for data in got.values():
            assert len(data) >= 30_000
            assert data.count(b"\xff\xf3") + data.count(b"\xff\xf2") > 50  # MPEG-2 layer III frame headers
        sample = folder / "heard.mp3"
        sample.write_bytes(got[0])
        assert float(_ffprobe(sample)["duration"]) > 4.0

        feed = httpx.get(f"{base}/feed.xml", timeout=10)
        root = ET.fromstring(feed.content)
        assert root.tag == "rss" and root.get("version") == "2.0"
        channel = root.find("channel")
        assert channel is not None and all(channel.findtext(tag) for tag in ("title", "link", "description"))
        items = channel.findall("item")
        assert len(items) == 3
        for item in items:
            assert item.findtext("title") and item.findtext("guid") and item.findtext("pubDate")
            enclosure = item.find("enclosure")
            assert enclosure is not None and enclosure.get("type") == "audio/mpeg"
            audio = httpx.get(str(enclosure.get("url")), timeout=10)
            assert audio.status_code == 200 and len(audio.content) == int(str(enclosure.get("length")))
            transcript = item.find("{https://podcastindex.org/namespace/1.0}transcript")
            assert transcript is not None and httpx.get(str(transcript.get("url")), timeout=10).text.startswith("WEBVTT")
        page = httpx.get(f"{base}/", timeout=10).text
        assert "<audio" in page and "/stream.mp3" in page
        png = httpx.get(f"{base}/papers/2612.00001/pages/2.png", timeout=10)
        assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
        assert httpx.get(f"{base}/shows/../station.sqlite", timeout=10).status_code == 404


def test_a_run_killed_mid_pipeline_resumes_with_nothing_lost_or_done_twice(tmp_path: Path) -> None:
    write_papers(tmp_path / "inbox", 5)
    folder = tmp_path / "station"
    with Station(folder) as s:
        s.configure(daily_minutes=0.5, papers_per_show=2)
        s.add([tmp_path / "inbox" / "feed.atom"])
    cmd = [sys.executable, "-m", "islands", "radio", "run", "--station", str(folder), "--model", "mock", "--embedder", "hash", "--json"]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "ISLANDS_EMBEDDER": "hash"})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            with Station(folder) as s:
                if s.q.counts().get("embed", {}).get("done", 0) >= 2:
                    break
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with Station(folder) as s:
        before = s.status()
    assert before["shows_done"] < 3  # killed mid-pipeline, with work left
    report = run_station(folder, _mock_engine, embedder="hash")
    checks = check_station(folder)
    assert checks["lost"] == [] and checks["parked"] == [] and checks["finished_twice"] == []
    assert checks["memories"] == 5 and checks["memories_match"] and checks["in_one_daily_show"]
    assert checks["still_queued"] == checks["embedded_awaiting_show"] == 0
    assert checks["shows"] == checks["shows_encoded"] == 3
    done_before = {stage: v.get("done", 0) for stage, v in before["stages"].items()}
    for stage, n in report.done.items():  # the second run did only what the first had not finished
        assert done_before.get(stage, 0) + n == (5 if stage in ("extract", "summarize", "embed") else 3), stage


def test_intake_dedups_watches_and_refuses_bad_input(tmp_path: Path) -> None:
    paths = write_papers(tmp_path / "inbox", 2, feed=False)
    with Station(tmp_path / "st") as s:
        assert s.add([paths[0]])["papers"] == ["2612.00001"]
        assert s.add([paths[0]])["papers"] == []  # the same bytes again: one paper
        assert s.add([tmp_path / "inbox"])["papers"] == ["2612.00002"]
        write_papers(tmp_path / "inbox", 1, start=3, feed=False)
        from islands.radio.intake import scan_watched

        assert scan_watched(s.q, s.folder, settle=0.0) == ["2612.00003"]
    bad_feed = tmp_path / "bad.atom"
    bad_feed.write_text("<feed><entry>")
    cli = [sys.executable, "-m", "islands", "radio"]
    p = subprocess.run([*cli, "add", str(tmp_path / "nope.pdf"), "--station", str(tmp_path / "never")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and not (tmp_path / "never").exists()  # a refused add creates no station
    for args, needle in [(["add", str(bad_feed)], "not a readable feed"), (["add", str(tmp_path / "nope.pdf")], "no such file"),
                         (["add", str(tmp_path / "inbox" / "2612.00001.pdf"), str(bad_feed)], "not a readable feed"),
                         (["run", "--hosts", "7"], "hosts"), (["run", "--language", "xx-nowhere"], "no voice"),
                         (["run", "--model", "no-such-model"], "unknown model"),
                         (["serve", "--pace", "0"], "pace")]:
        p = subprocess.run([*cli, *args, "--station", str(tmp_path / "fresh")], capture_output=True, text=True, timeout=60)
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        assert p.returncode == 2 and len(lines) == 1 and needle in lines[0], (args, p.stderr)
    with Station(tmp_path / "fresh") as s:
        assert s.papers() == []  # nothing half-added by the failed commands
        s.add([paths[1]])

    def broken() -> Engine:
        raise ModelError("the model file is corrupt")

    with pytest.raises(ModelError, match="corrupt"):  # the run stops; the paper is not parked for it
        run_station(tmp_path / "fresh", broken, embedder="none")
    with Station(tmp_path / "fresh") as s:
        assert s.q.parked() == [] and s.q.state("paper:2612.00002", "summarize") == "pending"
    (tmp_path / "afile").write_text("x")
    p = subprocess.run([*cli, "status", "--station", str(tmp_path / "afile")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "is a file" in p.stderr


def test_kmeans_finds_separated_groups() -> None:
    rng = np.random.default_rng(1)
    centers = np.eye(3, 8)
    x = np.concatenate([c + 0.05 * rng.standard_normal((10, 8)) for c in centers])
    labels = kmeans(x, 3)
    assert len(set(labels[:10])) == len(set(labels[10:20])) == len(set(labels[20:])) == 1
    assert len(set(labels.tolist())) == 3


def test_length_control_scales_the_script_with_the_minutes() -> None:
    title, abstract, body = TOPICS[0]
    paper = {"id": "2612.00001", "title": title, "authors": "A. B", "body": "This paper is short.", "abstract": abstract,
             "text": " ".join(body * 6)}
    hosts = pick_hosts(3, "en")
    assert len({h.voice for h in hosts}) == 3
    assert all(h.voice.startswith("de+") for h in pick_hosts(2, "de"))
    with pytest.raises(InvalidInput, match="no voice for language"):
        pick_hosts(2, "xx-nowhere")
    short = daily_script([paper], hosts, minutes=0.5, day="2026-12-07")
    long = daily_script([paper], hosts, minutes=1.0, day="2026-12-07")
    words = [sum(len(line.text.split()) for line in s) for s in (short, long)]
    assert abs(words[0] - 0.5 * WORDS_PER_MINUTE) <= 10 and abs(words[1] - WORDS_PER_MINUTE) <= 10
    assert f'"{title}" (arXiv 2612.00001)' in " ".join(line.text for line in long)


@pytest.mark.model
def test_the_real_model_summarizes_a_paper_with_a_judge(real: Engine) -> None:
    title, abstract, _ = TOPICS[1]
    result = summarize_paper(real, "2612.00002", title, abstract, drafts=2, tokens=16, budget=80)
    assert result["summary"].startswith(f'"{title}" (arXiv 2612.00002): ')
    assert result["scored_by"] == "judge"
    assert all(0 <= d["score"] <= 100 for d in result["drafts"] if d["score"] is not None)
    assert len(result["body"].split()) >= 2


def test_a_feed_entry_with_an_http_pdf_link_is_fetched_by_the_extract_stage(tmp_path: Path) -> None:
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    write_papers(tmp_path / "site", 1, start=7)
    handler = functools.partial(Quiet, directory=str(tmp_path / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/2612.00007.pdf"
        feed = tmp_path / "remote.atom"
        feed.write_text((tmp_path / "site" / "feed.atom").read_text().replace('href="2612.00007.pdf"', f'href="{url}"'))
        with Station(tmp_path / "st") as s:
            assert s.add([feed])["papers"] == ["2612.00007"]
            assert s.paper("2612.00007")["source"] == url
        report = run_station(tmp_path / "st", _mock_engine, embedder="none", weekly_now=False)
        assert report.done["extract"] == 1 and report.done["encode"] == 1
        assert (tmp_path / "st" / "papers" / "2612.00007" / "text.txt").read_text().startswith("Sparse attention for long contexts, part 7")
    finally:
        server.shutdown()
        server.server_close()


def test_the_station_plays_every_show_before_repeating_one_newest_first(station: tuple[Path, RunReport]) -> None:
    from islands.radio.serve import Broadcaster

    folder, _ = station
    with Station(folder) as s:
        caster = Broadcaster(s)
        order = [caster.next_show()[0] for _ in range(4)]
        newest = s.shows(finished=True)[0]["id"]
    assert order[0] == newest and len(set(order[:3])) == 3 and order[3] in order[:3]
