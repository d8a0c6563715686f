"""The driver: flows written as plain code run on worker threads while one loop thread
steps the engine for everyone, so their branches share batches (mock engine)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from islands import SamplingParams
from islands.engine import Engine, MockModel
from islands.engine.driver import Driver, ThreadJob
from islands.engine.stream import GenerationJob, Job
from islands.errors import EngineError
from islands.tools import IslandRunner, Registry

P = SamplingParams(max_tokens=10, temperature=0.9, seed=5, ignore_eos=True)


def _fanout_flow(engine: Engine, prompt: str) -> Callable[[Callable[[str], None]], list[str]]:
    """A flow as plain code: prefill, fork, run, backtrack one branch, run it again."""

    def work(emit: Callable[[str], None]) -> list[str]:
        root = engine.branch(prompt)
        engine.prefill(root)
        kids = root.fork(3)
        root.release()
        for i, kid in enumerate(kids):
            kid.start(P.for_branch(i))
        engine.run(kids)
        kids[0].truncate(len(kids[0].tokens) - 4)
        kids[0].start(P.replace(max_tokens=4))
        engine.run(kids[:1])
        texts = [k.text for k in kids]
        for k in kids:
            emit(k.text)
            k.release()
        return texts

    return work


def _loop(engine: Engine, jobs: list[Job]) -> list[int]:
    """A minimal server loop; returns how many branches each decode step held."""
    driver = engine.driver
    assert driver is not None
    rows: list[int] = []
    for job in jobs:
        job.begin()
    while not all(job.done for job in jobs):
        progressed = engine.step()
        if progressed:
            rows.append(len(engine.model.batches[-1]))  # type: ignore[attr-defined]
        driver.yield_turn()
        for job in jobs:
            if not job.done:
                job.advance()
        if not progressed and all(not j.busy() for j in jobs if not j.done):
            driver.idle_wait()
    for job in jobs:
        job.close()
    return rows


def test_flows_on_threads_share_the_loops_batches(mock: MockModel) -> None:
    alone = Engine(MockModel(n_ctx=2048, n_seq_max=32, n_batch=64))
    expected = _fanout_flow(alone, "the sea is wide")(lambda _t: None)

    engine = Engine(mock)
    driver = Driver(engine)
    flows = [ThreadJob(driver, _fanout_flow(engine, "the sea is wide")), ThreadJob(driver, _fanout_flow(engine, "memory keeps"))]
    plain = GenerationJob(engine, "numbers are exact", 2, P)
    rows = _loop(engine, [*flows, plain])
    assert flows[0].result == expected  # the same text as when the flow drives the engine itself
    assert flows[1].result is not None and len(flows[1].result) == 3
    assert plain.result is not None and all(len(o.tokens) == 10 for o in plain.result.outputs)
    assert max(rows) >= 6, "the flows' branches never shared a decode step"
    assert engine.live_count == 0
    assert engine.ledger.used == mock.used_cells


def test_hard_island_jobs_from_a_flow_thread_are_hosted_by_the_loop(mock: MockModel) -> None:
    engine = Engine(mock)
    driver = Driver(engine)
    runner = IslandRunner(engine, Registry.default().subset(["CALC"]))
    seen: list[str] = []

    def work(emit: Callable[[str], None]) -> str:
        greedy = SamplingParams(max_tokens=3, temperature=0)
        out = runner.generate("2^10 is CALC(2^10)", params=greedy, on_text=lambda _i, t: seen.append(t))
        return out.outputs[0].text

    job = ThreadJob(driver, work)
    _loop(engine, [job])
    runner.close()
    assert job.error is None and job.result is not None and job.result.startswith(" => 1024")
    assert "".join(seen) == job.result  # streamed through the loop as it was made


def test_a_cancelled_flow_thread_stops_and_frees_its_branches(mock: MockModel) -> None:
    engine = Engine(mock)
    driver = Driver(engine)
    started = threading.Event()

    def work(emit: Callable[[str], None]) -> None:
        b = engine.branch("the islands are small")
        try:
            b.start(SamplingParams(max_tokens=1000, ignore_eos=True, seed=1))
            started.set()
            engine.run([b])
        finally:
            b.release(cache=False)

    job = ThreadJob(driver, work)
    job.begin()
    for _ in range(5):
        engine.step()
        driver.yield_turn()
    assert started.is_set() and engine.live_count == 1
    job.close()  # the client went away
    assert job.done and type(job.error).__name__ == "Cancelled"
    assert engine.live_count == 0 and mock.used_cells == engine.ledger.used


def test_step_belongs_to_the_loop_thread(mock: MockModel) -> None:
    engine = Engine(mock)
    driver = Driver(engine)

    def work(emit: Callable[[str], None]) -> None:
        engine.step()

    job = ThreadJob(driver, work)
    job.begin()
    driver.yield_turn()
    with pytest.raises(EngineError, match="loop thread"):
        job.advance()
