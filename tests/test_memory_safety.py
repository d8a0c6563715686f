"""The memory store under a killed writer and under concurrent processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from islands.memory import MemoryStore

WRITER = """
import sys
from islands.memory import MemoryStore
store = MemoryStore.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    mid = store.add_memory(f"{sys.argv[3]} fact number {i} about the harbour")
    print(mid, flush=True)  # acknowledged: committed before it is printed
"""


def test_a_killed_writer_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    MemoryStore.open(db).close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "100000", "w"], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    assert proc.stdout is not None
    for line in proc.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) == 300:
            os.kill(proc.pid, signal.SIGKILL)  # in the middle of the run
            break
    proc.wait()
    proc.stdout.close()
    store = MemoryStore.open(db)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = {r[0] for r in store.db.execute("SELECT id FROM memories")}
    assert set(acknowledged) <= ids
    assert len(store.search("harbour fact", k=5)) == 5  # the index came back with the rows


def test_two_writers_and_a_reader_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    MemoryStore.open(db).close()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), "300", name], stdout=subprocess.DEVNULL) for name in ("a", "b")]
    reads = 0
    reader = sqlite3.connect(db, timeout=30)
    while any(w.poll() is None for w in writers):
        reader.execute("SELECT count(*) FROM memories").fetchone()
        reads += 1
        time.sleep(0.01)
    assert all(w.returncode == 0 for w in writers)
    reader.close()
    store = MemoryStore.open(db)
    assert store.stats()["memories"] == 600 and reads > 0
    for name in ("a", "b"):
        assert len(store.db.execute("SELECT id FROM memories WHERE text LIKE ?", (f"{name} fact%",)).fetchall()) == 300


def test_on_postgres_two_writers_a_reader_and_a_killed_writer_lose_nothing(fresh_pg: Callable[[], str]) -> None:
    url, writers = fresh_pg(), 2
    MemoryStore.open(url).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, "200", name], stdout=subprocess.DEVNULL) for name in ("a", "b")[:writers]]
    victim = subprocess.Popen([sys.executable, "-c", WRITER, url, "100000", "k"], stdout=subprocess.PIPE, text=True)
    with MemoryStore.open(url) as reader:
        reads, acknowledged = _watch(victim, reader)
        for p in procs:
            assert p.wait(timeout=120) == 0
        ids = {m.id for m in reader.memories(valid_only=False)}
        assert set(acknowledged) <= ids and reads > 0
        for name in ("a", "b")[:writers]:
            assert sum(m.text.startswith(f"{name} fact") for m in reader.memories()) == 200
        assert len(reader.search("harbour fact", k=5)) == 5


def _watch(victim: subprocess.Popen[str], reader: MemoryStore) -> tuple[int, list[int]]:
    """Read while the victim writes; kill it after 150 acknowledged memories."""
    reads, acknowledged = 0, []
    assert victim.stdout is not None
    for line in victim.stdout:
        acknowledged.append(int(line))
        reads += reader.stats()["memories"] > 0
        if len(acknowledged) == 150:
            os.kill(victim.pid, signal.SIGKILL)  # in the middle of its run
            break
    victim.wait()
    victim.stdout.close()
    return reads, acknowledged
