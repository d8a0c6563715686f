"""`islands bench radio`: generated papers through the whole pipeline, in a child process
(`islands radio run`), measured from the outside.

Reports papers/hour, seconds of audio per second of compute (the stages' summed time) and of
wall time, each stage's mean time; and the soak's checks: every paper embedded or parked
(none lost), no stage finished twice, one memory per paper, each paper in exactly one daily
show, every show encoded, and the pipeline process's resident memory over the run (flat or
not). With `kill_worker`, the child is SIGKILLed once half the papers are embedded or half
the time bound has passed, whichever comes first, and a new one resumes the queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from islands.radio.samples import write_papers
from islands.radio.station import Station

__all__ = ["bench_radio", "check_station"]


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _steady(samples: list[float]) -> dict[str, float]:
    """A run's resident memory once loaded (from the first sample at 90% of its peak to the
    last but two, leaving out start-up and tear-down): start, end, peak and growth, in MB."""
    peak = max(samples)
    start = next(i for i, x in enumerate(samples) if x >= 0.9 * peak)
    body = samples[start : max(start + 1, len(samples) - 2)]
    return {"start_mb": round(body[0]), "end_mb": round(body[-1]), "max_mb": round(max(body)),
            "growth_mb": round(body[-1] - body[0]), "samples": len(samples)}


def check_station(folder: Path) -> dict[str, Any]:
    """What a soak must find: nothing lost (every paper embedded, parked, or still queued when
    the time bound stopped it), nothing twice (memories counted in the station's store)."""
    from islands.memory import open_store

    with Station(folder) as s:
        q = s.q
        papers = [r["id"] for r in q.rows("SELECT id FROM papers")]
        embedded = {r["subject"][6:] for r in q.rows("SELECT subject FROM jobs WHERE stage = 'embed' AND state = 'done'")}
        queued = {r["subject"][6:] for r in q.rows(
            "SELECT subject FROM jobs WHERE state IN ('pending', 'running') AND subject LIKE 'paper:%'")}
        parked = {r["subject"][6:] for r in q.rows("SELECT subject FROM jobs WHERE state = 'parked' AND subject LIKE 'paper:%'")}
        in_daily = q.rows("SELECT paper_id, count(*) AS n FROM show_papers WHERE kind = 'daily' GROUP BY paper_id")
        shows = q.rows("SELECT id FROM shows")
        encoded = {r["subject"][5:] for r in q.rows("SELECT subject FROM jobs WHERE stage = 'encode' AND state = 'done'")}
        twice = q.finished_twice()
        interrupted = int(q.rows("SELECT count(*) FROM runs WHERE outcome = 'interrupted'")[0][0])
    memories = 0
    if (folder / "memory.sqlite").exists():
        with open_store(folder / "memory.sqlite", embedder="none") as store:
            memories = sum(1 for m in store.memories(valid_only=False) if m.kind == "paper")
    return {
        "papers": len(papers),
        "lost": sorted(set(papers) - embedded - parked - queued),
        "still_queued": len(queued - embedded),
        "parked": sorted(parked),
        "finished_twice": [f"{s} {st} x{n}" for s, st, n in twice],
        "memories": memories,
        "memories_match": memories == len(embedded),
        "in_one_daily_show": all(r["n"] == 1 for r in in_daily) and {r["paper_id"] for r in in_daily} <= embedded,
        "embedded_awaiting_show": len(embedded - {r["paper_id"] for r in in_daily}),
        "shows": len(shows),
        "shows_encoded": len(encoded),
        "interrupted_runs": interrupted,
    }


def bench_radio(*, papers: int = 6, minutes: float = 10.0, kill_worker: bool = False, model: str = "gemma-3-270m",
                daily_minutes: float = 1.0, keep: Path | None = None, say: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Run the soak and return its measurements and checks."""
    tmp = None if keep else tempfile.TemporaryDirectory(prefix="islands-radio-bench-")
    root = keep or Path(tmp.name)  # type: ignore[union-attr]
    try:
        say(f"writing {papers} papers")
        write_papers(root / "inbox", papers)
        folder = root / "station"
        with Station(folder) as s:
            s.configure(daily_minutes=daily_minutes, papers_per_show=5)
            s.add([root / "inbox" / "feed.atom"])
        deadline = time.monotonic() + minutes * 60
        cmd = [sys.executable, "-m", "islands", "radio", "run", "--station", str(folder), "--model", model, "--json", "--backoff", "0.5"]
        t0 = time.perf_counter()
        rss: list[list[float]] = []
        killed_at: dict[str, Any] | None = None
        starts = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 5:
                break
            starts += 1
            child = subprocess.Popen([*cmd, "--minutes", f"{left / 60:.3f}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            samples: list[float] = []
            rss.append(samples)
            while child.poll() is None:
                time.sleep(0.2)
                mb = _rss_mb(child.pid)
                if mb is not None:
                    samples.append(mb)
                with Station(folder) as s:
                    done = s.q.counts().get("embed", {}).get("done", 0)
                say(f"run {starts}: {done}/{papers} papers embedded, {time.perf_counter() - t0:.0f} s")
                halfway = done >= max(1, papers // 2) or time.monotonic() >= deadline - minutes * 30
                if kill_worker and killed_at is None and halfway:
                    os.kill(child.pid, signal.SIGKILL)
                    child.wait()
                    killed_at = {"after_s": round(time.perf_counter() - t0, 1), "papers_embedded": done}
            out, errs = child.communicate()
            if child.returncode not in (0, -signal.SIGKILL):
                raise RuntimeError(f"islands radio run failed ({child.returncode}): {errs.strip()[-400:]}")
            with Station(folder) as s:
                if s.q.unfinished() == 0 and child.returncode == 0:
                    break
        wall = time.perf_counter() - t0
        with Station(folder) as s:
            stages = s.q.stage_seconds()
            audio = sum(float(r["duration"] or 0) for r in s.q.rows("SELECT duration FROM shows"))
            embedded = s.q.counts().get("embed", {}).get("done", 0)
        compute = sum(v["total_s"] for v in stages.values())
        steady = [_steady(run) for run in rss if len(run) >= 4]
        return {
            "papers": papers,
            "model": model,
            "wall_s": round(wall, 1),
            "papers_per_hour": round(embedded / wall * 3600, 1),
            "audio_s": round(audio, 1),
            "compute_s": round(compute, 1),
            "audio_per_compute_s": round(audio / compute, 2) if compute else None,
            "audio_per_wall_s": round(audio / wall, 2),
            "stage_mean_s": {k: v["mean_s"] for k, v in stages.items()},
            "runs": starts,
            "killed": killed_at,
            "rss_mb": {"runs": steady, "flat": all(r["growth_mb"] < 0.1 * r["max_mb"] + 50 for r in steady)},
            "checks": check_station(folder),
            "machine_load_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        if tmp is not None:
            tmp.cleanup()
