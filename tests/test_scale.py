"""Batch work on Ray (islands.scale): a local Ray cluster (`ray start --head --block` on
127.0.0.1, started by this module and stopped by signalling the process group it started),
actors that own mock engines; the results equal the single-process run, failed items and a
dying actor are retried, progress counts every item."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

import islands
from islands.engine.protocol import Generator
from islands.scale import EngineSpec, run_batch, run_here
from islands.scale.jobs import ask_item

QUESTIONS = [f"What is {a} + {b}?" for a, b in [(2, 3), (10, 7), (41, 1), (6, 6), (12, 30), (9, 9)]]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="rayi")
    src = str(Path(islands.__file__).resolve().parent.parent)
    # a loopback cluster of this test alone: no token (Ray keeps one in ~/.ray once any run made it)
    old_auth = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([src, str(Path(__file__).parent)]), "RAY_USAGE_STATS_ENABLED": "0"}
    ray_bin = str(Path(sys.executable).parent / "ray")
    proc = subprocess.Popen([ray_bin, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
                             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
                break
            except (ConnectionError, RuntimeError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Ray head did not start (exit {proc.poll()})") from None
                time.sleep(1)
        yield address
    finally:
        ray.shutdown()
        if old_auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old_auth
        for sig in (signal.SIGTERM, signal.SIGKILL):  # only the processes this fixture started
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(20)
                break
            except subprocess.TimeoutExpired:
                continue


def test_a_batch_on_ray_equals_the_single_process_run(cluster: str) -> None:
    spec = EngineSpec.local("mock")
    work = functools.partial(ask_item, n=2, max_tokens=24, seed=3)
    seen: list[tuple[int, int]] = []
    here = run_here(QUESTIONS, work, spec)
    there = run_batch(QUESTIONS, work, spec, workers=2, progress=lambda d, t: seen.append((d, t)))
    assert there.ok and here.ok and there.workers == 2
    assert there.results == here.results and all(r is not None and r["question"] == q for r, q in zip(there.results, QUESTIONS))
    assert seen[-1] == (len(QUESTIONS), len(QUESTIONS)) and len(seen) == len(QUESTIONS)


def flaky(marks: str, engine: Generator, item: dict[str, Any]) -> dict[str, Any]:
    """Fails the first time it sees some items: raises for one, kills its actor for another."""
    mark = Path(marks) / str(item["i"])
    if item["i"] in (1, 4) and not mark.exists():
        mark.write_text("seen")
        if item["i"] == 4:
            os._exit(3)  # the actor's process dies: Ray restarts it, the item goes out again
        raise RuntimeError(f"item {item['i']} failed once")
    return ask_item(engine, item, n=1, max_tokens=16, seed=5) | {"i": item["i"]}


def test_failed_items_and_a_dying_actor_are_retried(cluster: str, tmp_path: Path) -> None:
    items = [{"question": q, "i": i} for i, q in enumerate(QUESTIONS)]
    spec = EngineSpec.local("mock")
    result = run_batch(items, functools.partial(flaky, str(tmp_path)), spec, workers=2, retries=2)
    assert result.ok, result.failed
    # item 1 raised once; item 4 killed its actor, and whatever else was queued on that actor went again too
    assert 2 <= result.retried <= 3 and [r["i"] for r in result.results] == list(range(len(items)))  # type: ignore[index]
    again = run_here(items, functools.partial(flaky, str(tmp_path)), spec)  # the marks exist: nothing fails now
    assert again.results == result.results
    never = run_batch(items[:2], functools.partial(_always_fails), spec, workers=1, retries=1)
    assert set(never.failed) == {0, 1} and never.retried == 2 and "ValueError: no" in never.failed[0]


def _always_fails(engine: Generator, item: dict[str, Any]) -> None:
    raise ValueError("no")


def test_the_cli_answers_a_file_on_the_cluster_and_refuses_bad_files(cluster: str, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('"What is 2 + 3?"\n\n{"question": "What is 6 * 7?"}\n')
    out = tmp_path / "deep" / "answers.jsonl"
    args = [sys.executable, "-m", "islands", "scale", "ask", str(questions), "--model", "mock", "--n", "2", "--max-tokens", "16"]
    p = subprocess.run([*args, "--workers", "2", "--address", cluster, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "2 of 2 answered" in p.stderr and "0 failed" in p.stderr
    here = subprocess.run([*args, "--workers", "0"], capture_output=True, text=True, timeout=300)
    assert out.read_text() == here.stdout and [json.loads(x)["question"] for x in here.stdout.splitlines()] == [
        "What is 2 + 3?", "What is 6 * 7?"]
    questions.write_text('{"question": ""}\n')
    bad = subprocess.run([*args, "--workers", "0"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [f'error: {questions}:1: each line is a question, or an object '
                                                                        'with a non-empty "question"']
