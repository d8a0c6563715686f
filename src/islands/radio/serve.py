"""Listening: `radio_app(folder)` is a FastAPI app that plays the station — an endless MP3
stream (the finished shows in rotation, a show that has just finished played next, every
listener hearing the same moment), the RSS podcast feed, the show files, and a page with a
player, the paper on air now and its page images.

    GET /stream.mp3      endless audio/mpeg        GET /feed.xml       RSS 2.0
    GET /now.json        the show and paper on air GET /shows/{id}.mp3 | .ogg | .vtt | .json
    GET /                the player page           GET /papers/{id}/pages/{n}.png

One broadcaster task reads the shows' MP3 bytes and hands each chunk to every listener's
queue at the bit rate (`pace` times faster for tests); a listener that falls behind loses
its oldest chunks, never holds up the others. With no finished show it plays silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse

from islands.radio.audio import MP3_BITRATE, silence_mp3
from islands.radio.feed import rss
from islands.radio.station import Station

__all__ = ["Broadcaster", "radio_app"]

CHUNK_S = 0.5


class Broadcaster:
    """The station's one clock: what is on air, and the queues of everyone listening."""

    def __init__(self, station: Station, *, pace: float = 1.0, backlog_s: float = 2.0) -> None:
        self.station, self.pace = station, pace
        self.listeners: set[asyncio.Queue[bytes]] = set()
        self.recent: deque[bytes] = deque(maxlen=max(1, int(backlog_s / CHUNK_S)))
        self.plays: dict[str, int] = {}
        self.on_air: dict[str, Any] = {"show": None, "started": time.time(), "offset_s": 0.0}
        self.silence = silence_mp3(station.folder / "silence.mp3")
        self.sent = 0

    def next_show(self) -> tuple[str | None, Path]:
        """The finished show played least so far (a new one has 0 plays), newest first on ties."""
        shows = self.station.shows(finished=True)
        if not shows:
            return None, self.silence
        best = min(shows, key=lambda s: (self.plays.get(s["id"], 0), -s["created"]))
        self.plays[best["id"]] = self.plays.get(best["id"], 0) + 1
        return best["id"], Path(best["mp3"])

    async def run(self) -> None:
        step = int(MP3_BITRATE / 8 * CHUNK_S)  # bytes per chunk
        clock = time.monotonic()
        while True:
            show, path = self.next_show()
            data = await asyncio.to_thread(path.read_bytes)
            self.on_air = {"show": show, "started": time.time(), "offset_s": 0.0}
            for i in range(0, len(data), step):
                chunk = data[i : i + step]
                self.recent.append(chunk)
                for q in list(self.listeners):
                    if q.full():
                        q.get_nowait()  # this listener is behind: it loses the oldest chunk
                    q.put_nowait(chunk)
                self.sent += 1
                self.on_air["offset_s"] = (i + len(chunk)) * 8 / MP3_BITRATE
                clock += CHUNK_S / self.pace
                await asyncio.sleep(max(0.0, clock - time.monotonic()))

    async def listen(self) -> AsyncIterator[bytes]:
        q: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        for chunk in list(self.recent):  # a short backlog, so a player starts at once
            q.put_nowait(chunk)
        self.listeners.add(q)
        try:
            while True:
                yield await q.get()
        finally:
            self.listeners.discard(q)

    def now(self) -> dict[str, Any]:
        """The show on air, the offset into it, and the paper its current line is about."""
        show = self.on_air["show"]
        out: dict[str, Any] = {"show": show, "offset_s": round(self.on_air["offset_s"], 2), "listeners": len(self.listeners),
                               "paper": None}
        if show is None:
            return out
        transcript = self.station.folder / "shows" / show / "transcript.json"
        segments = json.loads(transcript.read_text())["segments"] if transcript.exists() else []
        t = self.on_air["offset_s"]
        current = [s for s in segments if s["start"] <= t] or segments[:1]
        line = current[-1] if current else None
        out["line"] = line
        about = next((s["paper_id"] for s in reversed(current) if s.get("paper_id")), None)
        if about:
            p = self.station.paper(about)
            out["paper"] = {"id": p["id"], "title": p["title"], "authors": p["authors"], "summary": p["summary"],
                            "pages": [f"/papers/{p['id']}/pages/{n}.png" for n in range(1, p["pages"] + 1)]}
        return out


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Paper Radio</title>
<style>body{font-family:sans-serif;max-width:860px;margin:2em auto;color:#223}img{height:260px;border:1px solid #ccd;margin:4px}
#line{color:#556;font-style:italic}</style></head>
<body><h1>Paper Radio</h1>
<audio id="player" controls preload="none" src="/stream.mp3"></audio>
<p><a href="/feed.xml">Podcast feed (RSS)</a> &middot; {shows} shows &middot; {papers} papers</p>
<h2 id="show">&nbsp;</h2><h3 id="title">&nbsp;</h3><p id="summary"></p><p id="line"></p><div id="pages"></div>
<script>
async function tick() {
  const now = await (await fetch('/now.json')).json();
  document.getElementById('show').textContent = now.show || 'between shows';
  const p = now.paper;
  document.getElementById('title').textContent = p ? p.title + ' (' + p.id + ')' : '';
  document.getElementById('summary').textContent = p ? p.summary || '' : '';
  document.getElementById('line').textContent = now.line ? now.line.host + ': ' + now.line.text : '';
  const pages = document.getElementById('pages');
  const want = p ? p.pages.join(' ') : '';
  if (pages.dataset.shown !== want) {
    pages.dataset.shown = want;
    pages.replaceChildren(...(p ? p.pages : []).map(src => Object.assign(document.createElement('img'), {src, alt: src})));
  }
}
tick(); setInterval(tick, 2000);
</script></body></html>
"""


# what /shows/ID.EXT serves from a show's folder
SHOW_FILES = {"mp3": ("show.mp3", "audio/mpeg"), "ogg": ("show.ogg", "audio/ogg"),
              "vtt": ("transcript.vtt", "text/vtt"), "json": ("transcript.json", "application/json")}


def radio_app(folder: Path, *, pace: float = 1.0) -> FastAPI:
    """The station at `folder`, served (the broadcaster runs while the app does)."""
    station = Station(folder)
    caster = Broadcaster(station, pace=pace)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(caster.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        station.close()

    app = FastAPI(title="Paper Radio", lifespan=lifespan)
    app.state.broadcaster = caster

    def show_file(show_id: str, name: str) -> Path:
        known = {s["id"] for s in station.shows(finished=True)}
        if show_id not in known:
            raise HTTPException(404, f"no finished show {show_id!r}")
        return station.folder / "shows" / show_id / name

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        s = station.status()
        return _PAGE.replace("{shows}", html.escape(str(s["shows_done"]))).replace("{papers}", html.escape(str(s["papers_done"])))

    @app.get("/stream.mp3")
    async def stream() -> StreamingResponse:
        return StreamingResponse(caster.listen(), media_type="audio/mpeg", headers={"Cache-Control": "no-store", "icy-name": "Paper Radio"})

    @app.get("/now.json")
    async def now() -> dict[str, Any]:
        return caster.now()

    @app.get("/status.json")
    async def status() -> dict[str, Any]:
        return station.status()

    @app.get("/feed.xml")
    async def feed(request: Request) -> Response:
        return Response(rss(station, str(request.base_url)), media_type="application/rss+xml")

    @app.get("/shows/{show_id}.{ext}")
    async def show_asset(show_id: str, ext: str) -> FileResponse:
        if ext not in SHOW_FILES:
            raise HTTPException(404, f"shows have no .{ext} file")
        name, media_type = SHOW_FILES[ext]
        return FileResponse(show_file(show_id, name), media_type=media_type)

    @app.get("/papers/{paper_id}/pages/{n}.png")
    async def page_image(paper_id: str, n: int) -> FileResponse:
        known = {p["id"] for p in station.papers()}
        path = station.folder / "papers" / paper_id / "pages" / f"{n}.png"
        if paper_id not in known or not path.is_file():
            raise HTTPException(404, f"no page {n} of paper {paper_id!r}")
        return FileResponse(path, media_type="image/png")

    return app
