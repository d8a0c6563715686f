"""`run_station`: the pipeline's workers. One model worker (summarize → embed → write, and
planning shows) and `workers - 1` media workers (extract, speak, encode) run as threads,
each with its own connection to the station's queue; they claim due jobs, do them, and mark
them done (with the next stage queued in the same transaction) or failed (retried with
backoff, then parked with a one-line reason). A paper that fails never stops the others.

    run_station(Path("radio"), lambda: Engine(), workers=2, minutes=10)

Every stage writes its files under temporary names and renames them before its job is
marked done, and the embed stage records the memory it wrote in the memory store's own
transaction, so a run killed anywhere redoes at most the stage it was in, and never adds a
paper's memory twice. What it leaves out: more than one model worker (one engine, one
context: the model stages are its queue).
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from islands.engine.protocol import Brancher
from islands.errors import InvalidInput, IslandsError
from islands.memory import MemoryStore, open_store
from islands.radio.audio import AudioError, encode, speak
from islands.radio.extract import BadPaper, extract_paper, write_atomic
from islands.radio.intake import scan_watched
from islands.radio.queue import Job
from islands.radio.shows import Host, Line, daily_script, pick_hosts, weekly_script, words
from islands.radio.station import Station
from islands.radio.summarize import summarize_paper, themes

__all__ = ["MEDIA_STAGES", "MODEL_STAGES", "RunReport", "run_station"]

MODEL_STAGES = frozenset({"summarize", "embed", "write"})
MEDIA_STAGES = frozenset({"extract", "speak", "encode"})


@dataclass
class RunReport:
    """What one run did."""

    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    parked: list[str] = field(default_factory=list)
    recovered: int = 0
    shows_planned: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stopped_by: str = "drained"

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "failed": self.failed, "parked": self.parked, "recovered": self.recovered,
                "shows_planned": self.shows_planned, "seconds": round(self.seconds, 3), "stopped_by": self.stopped_by}


class _StopRun(Exception):
    """The run cannot go on (the engine failed to load); its cause is what the user sees."""


class _Stages:
    """The work of each stage, for one thread (its own station connection)."""

    def __init__(self, station: Station, engine: Callable[[], Brancher] | None = None,
                 memory: Callable[[], MemoryStore] | None = None) -> None:
        self.s = station
        self._engine, self._memory = engine, memory
        self._engine_obj: Brancher | None = None
        self._memory_obj: MemoryStore | None = None

    @property
    def engine(self) -> Brancher:
        if self._engine_obj is None:
            assert self._engine is not None
            try:
                self._engine_obj = self._engine()
            except Exception as e:  # no model is no reason to park every paper: the run stops
                raise _StopRun() from e
        return self._engine_obj

    @property
    def memory(self) -> MemoryStore:
        if self._memory_obj is None:
            assert self._memory is not None
            self._memory_obj = self._memory()
        return self._memory_obj

    def close(self) -> None:
        if self._memory_obj is not None:
            self._memory_obj.close()

    def paper_dir(self, pid: str) -> Path:
        return self.s.folder / "papers" / pid

    def show_dir(self, sid: str) -> Path:
        folder = self.s.folder / "shows" / sid
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def do(self, job: Job) -> Callable[[Any], None] | None:
        """Run one stage; returns what to write in the transaction that marks it done."""
        result: Callable[[Any], None] | None = getattr(self, f"_{job.stage}")(job.key)
        return result

    # -- paper stages ------------------------------------------------------------------------

    def _extract(self, pid: str) -> Callable[[Any], None]:
        row = self.s.q.rows("SELECT source, title FROM papers WHERE id = ?", (pid,))[0]
        info = extract_paper(self.paper_dir(pid), row["source"])
        write_atomic(self.paper_dir(pid) / "extract.json", json.dumps(info))
        named_by_file = row["title"] == Path(row["source"]).stem.replace("_", " ")
        title = info["title"] if named_by_file and info["title"] else row["title"]
        return lambda db: db.execute("UPDATE papers SET title = ? WHERE id = ?", (title, pid))

    def _summarize(self, pid: str) -> None:
        p = self.s.paper(pid)
        text = (self.paper_dir(pid) / "text.txt").read_text()
        source = p["abstract"] or text
        result = summarize_paper(self.engine, pid, p["title"], source, drafts=self.s.config.drafts, tokens=self.s.config.tokens)
        write_atomic(self.paper_dir(pid) / "summary.json", json.dumps(result, indent=1))

    def _embed(self, pid: str) -> None:
        key = f"radio:paper:{pid}"
        if self.memory.get_meta(key) is not None:
            return  # written by a run killed before it could mark the stage done
        summary = json.loads((self.paper_dir(pid) / "summary.json").read_text())
        with self.memory.transaction():
            mid = self.memory.add_memory(summary["summary"], summary=summary["title"], kind="paper", model="radio")
            self.memory.set_meta(key, str(mid))

    # -- show stages ------------------------------------------------------------------------

    def _paper_for_show(self, pid: str) -> dict[str, Any]:
        p = self.s.paper(pid)
        summary = json.loads((self.paper_dir(pid) / "summary.json").read_text())
        text = self.paper_dir(pid) / "text.txt"
        return {**p, "body": summary["body"], "summary": summary["summary"], "text": text.read_text() if text.exists() else ""}

    def _vectors(self, pids: list[str], papers: dict[str, dict[str, Any]]) -> np.ndarray:
        """The papers' vectors from the memory store; hashed words when it keeps none."""
        rows = []
        for pid in pids:
            mid = self.memory.get_meta(f"radio:paper:{pid}")
            rows.append(self.memory.vector(int(mid)) if mid else None)
        if all(r is not None for r in rows):
            return np.stack(rows)  # type: ignore[arg-type]
        from islands.memory.embed import HashEmbedder

        return HashEmbedder().embed([papers[p]["title"] + " " + papers[p]["body"] for p in pids])

    def _write(self, sid: str) -> None:
        show = self.s.q.rows("SELECT * FROM shows WHERE id = ?", (sid,))[0]
        pids = [r["paper_id"] for r in self.s.q.rows("SELECT paper_id FROM show_papers WHERE show_id = ? ORDER BY rowid", (sid,))]
        config = self.s.config
        hosts = pick_hosts(config.hosts, config.language)
        papers = {pid: self._paper_for_show(pid) for pid in pids}
        if show["kind"] == "daily":
            part = int(sid.rsplit("-", 1)[1])
            lines = daily_script([papers[p] for p in pids], hosts, minutes=show["minutes"], day=show["day"], part=part)
            found: list[dict[str, Any]] = []
        else:
            clusters = themes(self.engine, [papers[p] for p in pids], self._vectors(pids, papers), tokens=config.tokens)
            lines = weekly_script(clusters, papers, hosts, minutes=show["minutes"], week=show["day"])
            found = [{"name": t.name, "papers": t.paper_ids, "summary": t.summary} for t in clusters]
        script = {"id": sid, "title": show["title"], "minutes": show["minutes"], "words": words(lines), "themes": found,
                  "hosts": [{"name": h.name, "voice": h.voice} for h in hosts], "lines": [x.to_dict() for x in lines]}
        write_atomic(self.show_dir(sid) / "script.json", json.dumps(script, indent=1))

    def _speak(self, sid: str) -> Callable[[Any], None]:
        script = json.loads((self.show_dir(sid) / "script.json").read_text())
        hosts = [Host(h["name"], h["voice"]) for h in script["hosts"]]
        seconds = speak([Line(**x) for x in script["lines"]], hosts, self.show_dir(sid))
        return lambda db: db.execute("UPDATE shows SET duration = ? WHERE id = ?", (seconds, sid))

    def _encode(self, sid: str) -> Callable[[Any], None]:
        lengths = encode(self.show_dir(sid))
        return lambda db: db.execute("UPDATE shows SET duration = ? WHERE id = ?", (lengths["mp3_s"], sid))


def _reason(e: BaseException) -> str:
    if isinstance(e, IslandsError):
        return str(e)
    where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    return f"{type(e).__name__}: {e}" + (f" ({Path(where.filename).name}:{where.lineno})" if where else "")


class _Worker:
    def __init__(self, name: str, stages: frozenset[str], station: Path, queue_opts: dict[str, float], report: RunReport,
                 lock: threading.Lock, tell: Callable[[str, Job, str], None] | None) -> None:
        self.name, self.stages = name, stages
        self.station = Station(station, attempts=int(queue_opts["attempts"]), backoff=queue_opts["backoff"])
        self.owner = f"{os.getpid()}/{name}"
        self.report, self.lock, self.tell = report, lock, tell

    def step(self, work: _Stages, stop: threading.Event) -> bool:
        """Claim and do one job; False when none was due."""
        if stop.is_set():
            return False
        job = self.station.q.claim(self.stages, self.owner)
        if job is None:
            return False
        t0 = time.perf_counter()
        try:
            then = work.do(job)
        except _StopRun as stop_run:
            self.station.q.release(job)
            raise stop_run.__cause__ or stop_run from None
        except (BadPaper, AudioError, IslandsError, OSError, ValueError, KeyError, RuntimeError) as e:
            permanent = isinstance(e, BadPaper) and "missing" in str(e)
            state = self.station.q.fail(job, _reason(e), permanent=permanent)
            with self.lock:
                self.report.failed[job.stage] = self.report.failed.get(job.stage, 0) + 1
                if state == "parked":
                    self.report.parked.append(f"{job.subject} {job.stage}: {_reason(e)}")
            if self.tell:
                self.tell(self.name, job, state)
            return True
        self.station.q.done(job, time.perf_counter() - t0, then)
        if job.stage == "encode":
            (self.station.folder / "shows" / job.key / "show.wav").unlink(missing_ok=True)
        with self.lock:
            self.report.done[job.stage] = self.report.done.get(job.stage, 0) + 1
        if self.tell:
            self.tell(self.name, job, "done")
        return True


def run_station(
    folder: Path,
    engine: Callable[[], Brancher],
    *,
    workers: int = 2,
    minutes: float | None = None,
    watch: bool = False,
    weekly_now: bool = False,
    memory: str | None = None,
    embedder: str = "default",
    attempts: int = 3,
    backoff: float = 2.0,
    poll: float = 0.2,
    tell: Callable[[str, Job, str], None] | None = None,
) -> RunReport:
    """Work the station's queue until it is drained (or `minutes` pass; `watch`: keep polling
    the watched folders until then). The engine and memory store load on first need."""
    if workers < 2:
        raise InvalidInput(f"invalid workers={workers}: one model worker and at least one media worker")
    if minutes is not None and minutes <= 0:
        raise InvalidInput(f"invalid minutes={minutes}: must be > 0")
    t0 = time.perf_counter()
    deadline = time.monotonic() + minutes * 60 if minutes else None
    report = RunReport()
    lock = threading.Lock()
    stop = threading.Event()
    opts = {"attempts": attempts, "backoff": backoff}
    main = _Worker("model", MODEL_STAGES, folder, opts, report, lock, tell)
    report.recovered = main.station.q.recover()
    where = memory or str(folder / "memory.sqlite")
    model_work = _Stages(main.station, engine, lambda: open_store(where, embedder=embedder))
    errors: list[BaseException] = []

    def media_loop(w: _Worker) -> None:
        work = _Stages(w.station)
        try:
            while not stop.is_set():
                if not w.step(work, stop):
                    time.sleep(poll)
        except BaseException as e:  # a bug, not a failed job: stop the run and say so
            errors.append(e)
            stop.set()
        finally:
            w.station.close()

    media = [_Worker(f"media-{i}", MEDIA_STAGES, folder, opts, report, lock, tell) for i in range(1, workers)]
    threads = [threading.Thread(target=media_loop, args=(w,), name=w.name, daemon=True) for w in media]
    for t in threads:
        t.start()
    try:
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                report.stopped_by = "minutes"
                break
            worked = main.step(model_work, stop)
            planned = main.station.plan_shows(weekly_now=weekly_now)  # after every job: speech starts while the model works on
            report.shows_planned += planned
            if worked or planned:
                continue
            if scan_watched(main.station.q, folder):
                continue
            if main.station.q.unfinished() == 0 and not watch:
                break
            time.sleep(poll)
    finally:
        stop.set()
        for t in threads:
            t.join()
        model_work.close()
        main.station.close()
    if errors:
        raise errors[0]
    report.seconds = time.perf_counter() - t0
    return report
