"""Shared fixtures: a private ISLANDS_HOME, the mock engine, and the embedded model
(assembled once per session into that home, then shared by the short real-model tests)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from islands.engine import Engine, MockModel

# stores opened without naming an embedder use BM25 alone (and load no torch); the tests of
# dense recall name theirs (tests/test_memory_dense.py)
os.environ["ISLANDS_EMBEDDER"] = "none"
# CLI commands under test load their own model, whatever `islands serve` runs on this machine;
# tests/test_resident.py turns the resident server on where it is the point
os.environ["ISLANDS_SERVER"] = "off"


@pytest.fixture(scope="session")
def islands_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("islands-home")
    old = os.environ.get("ISLANDS_HOME")
    os.environ["ISLANDS_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("ISLANDS_HOME", None)
    else:
        os.environ["ISLANDS_HOME"] = old


@pytest.fixture
def mock() -> MockModel:
    return MockModel(n_ctx=2048, n_seq_max=32, n_batch=64)


@pytest.fixture
def engine(mock: MockModel) -> Iterator[Engine]:
    e = Engine(mock)
    yield e
    assert e.ledger.used == mock.used_cells, "the KV ledger disagrees with the cells in use"


@pytest.fixture(scope="session")
def model_path(islands_home: Path) -> Path:
    from islands.engine.embedded import resolve_model_path

    return resolve_model_path(None)


@pytest.fixture(scope="session")
def real_engine(model_path: Path) -> Iterator[Engine]:
    e = Engine(model_path, n_ctx=2048)
    yield e
    e.close()


@pytest.fixture
def real(real_engine: Engine) -> Iterator[Engine]:
    """The shared real engine with an empty prefix cache and no branches left behind."""
    real_engine.clear_cache()
    yield real_engine
    assert not real_engine.live_branches, "a test left live branches behind"


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server with pgvector on 127.0.0.1, started by scripts/postgres.sh for
    this test session and stopped at its end; skipped, with the script's reason, where
    none can be had."""
    import tempfile

    where = tempfile.mkdtemp(prefix="islands-pg-")  # readable by the server's own user
    p = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start", where], capture_output=True, text=True, timeout=300)
    if p.returncode == 3:
        pytest.skip(f"no PostgreSQL server: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    try:
        yield p.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", where], capture_output=True, timeout=120)


@pytest.fixture
def fresh_pg(pg_url: str) -> Callable[[], str]:
    """The server's URL with the islands schema dropped: each call starts empty."""
    import psycopg

    def reset() -> str:
        with psycopg.connect(pg_url, autocommit=True) as db:
            db.execute("DROP SCHEMA IF EXISTS islands CASCADE")
        return pg_url

    return reset
