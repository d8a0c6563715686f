"""EngineLoop: the one thread that drives the engine for every request (continuous batching).

HTTP handlers never touch the engine. They submit a job factory and get a `Ticket`; the loop
thread builds the job, and from then on every `engine.step()` decodes the branches of all
live jobs in one batch. Text deltas and the final result travel back to the handler's
asyncio queue. A cancelled ticket (client gone) has its job closed and branches released
at the next step.

Flows and `remember` are plain code that drives the engine itself; they run as
`ThreadJob`s on worker threads under the loop's `Driver` (islands.engine.driver): whenever
they wait on the engine, the loop steps their branches in the same batches as every other
request's, so they no longer stall the server.

What it leaves out: priorities and fairness between requests (FIFO admission only).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from islands.engine import Delta, Engine
from islands.engine.driver import Driver
from islands.engine.stream import Job
from islands.errors import ContextFull

__all__ = ["EngineLoop", "Ticket"]


@dataclass
class Ticket:
    """A request's handle: events arrive on `events` as ("delta", Delta), ("done", result)
    or ("error", exception). A ticket without `deltas` (a request not streamed) gets only
    the result or the error."""

    make_job: Callable[[], Job]
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    cancelled: bool = False
    job: Job | None = None
    deltas: bool = True
    outbox: list[tuple[Ticket, str, Any]] | None = None  # the loop's: sent together once per step

    def send(self, kind: str, value: Any) -> None:
        if kind == "delta" and not self.deltas:
            return
        if self.outbox is not None:
            self.outbox.append((self, kind, value))
            return
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the event loop has closed: nobody is listening any more
            self.cancelled = True


def _put_all(events: list[tuple[Ticket, str, Any]]) -> None:
    for ticket, kind, value in events:
        ticket.events.put_nowait((kind, value))


class EngineLoop:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._inbox: queue.Queue[Ticket] = queue.Queue()
        self._tickets: list[Ticket] = []
        self._outbox: list[tuple[Ticket, str, Any]] = []  # events of this step, one wake-up per event loop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="islands-engine", daemon=True)
        self.requests = 0
        self.sampled = 0
        self.prompt_tokens = 0
        self.reused_tokens = 0
        # where the loop thread's time goes (seconds): engine steps, flow threads' turns,
        # handing deltas and results to the handlers (`islands bench serve` reports them)
        self.step_s = 0.0
        self.flows_s = 0.0
        self.deliver_s = 0.0
        self.started = time.monotonic()
        self.started_at = int(time.time())  # Unix time, for /v1/models' `created`
        self.driver = Driver(engine)  # flow threads hand their engine calls to this loop

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._inbox.put_nowait(None)  # type: ignore[arg-type]
        self._thread.join(timeout=10)
        for ticket in list(self._tickets):  # requests still running when the server stops
            if ticket.job is not None:
                ticket.job.close()
        self._tickets = []
        if self.engine.driver is self.driver:
            self.engine.driver = None  # the engine may be driven directly again

    def submit(self, make_job: Callable[[], Job], *, deltas: bool = True) -> Ticket:
        """Queue a request's job; without `deltas` only its result (or error) comes back."""
        ticket = Ticket(make_job, asyncio.get_running_loop(), deltas=deltas, outbox=self._outbox)
        self._inbox.put_nowait(ticket)
        return ticket

    @property
    def live_jobs(self) -> int:
        return len(self._tickets)

    def _admit(self, ticket: Ticket) -> None:
        self.requests += 1
        try:
            ticket.job = ticket.make_job()
            ticket.job.begin()
        except Exception as e:  # noqa: BLE001 - bad input found while building the job
            if ticket.job is not None:
                ticket.job.close()
            ticket.send("error", e)
            return
        self._tickets.append(ticket)

    def _flush(self) -> None:
        """Hand this step's events to the handlers: one cross-thread wake-up per event loop
        (not one per delta: 64 streams would mean 64 wake-ups a step)."""
        if not self._outbox:
            return
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Ticket, str, Any]]] = {}
        for item in self._outbox:
            by_loop.setdefault(item[0].loop, []).append(item)
        self._outbox.clear()
        for aloop, events in by_loop.items():
            try:
                aloop.call_soon_threadsafe(_put_all, events)
            except RuntimeError:  # the event loop has closed: nobody is listening any more
                for ticket, _, _ in events:
                    ticket.cancelled = True

    def _run(self) -> None:
        self.driver.bind()
        while not self._stop.is_set():
            try:
                self._turn()
            finally:
                self._flush()

    def _turn(self) -> None:
        """Admit new requests, step the engine once, deliver what it made."""
        block = not self._tickets
        try:
            while True:
                ticket = self._inbox.get(block=block, timeout=0.5 if block else None)
                block = False
                if ticket is None:
                    break
                self._admit(ticket)
        except queue.Empty:
            pass
        if not self._tickets:
            return
        self._drop_cancelled()
        t0 = time.perf_counter()
        try:
            progressed = self.engine.step()
        except ContextFull as e:  # the newest request is the one that does not fit: it fails alone
            self._finish(self._tickets[-1], "error", e)
            return
        except Exception as e:  # noqa: BLE001 - a bug: fail the live requests, keep serving
            for ticket in list(self._tickets):
                self._finish(ticket, "error", e)
            self._tickets = []
            return
        t1 = time.perf_counter()
        self.step_s += t1 - t0
        try:
            self.driver.yield_turn()  # flow threads whose wait is over run until they wait again
        except Exception as e:  # noqa: BLE001 - a bug in a hosted job: fail the live requests, keep serving
            for ticket in list(self._tickets):
                self._finish(ticket, "error", e)
            return
        t2 = time.perf_counter()
        self.flows_s += t2 - t1
        busy = False
        for ticket in list(self._tickets):
            job = ticket.job
            assert job is not None
            try:
                deltas: list[Delta] = job.advance()
            except Exception as e:  # noqa: BLE001 - this request fails alone
                self._finish(ticket, "error", e)
                continue
            for delta in deltas:
                ticket.send("delta", delta)
            if job.done:
                self._finish(ticket, "done", getattr(job, "result", None))
            elif job.busy():
                busy = True
        self.deliver_s += time.perf_counter() - t2
        if not progressed and not busy and self._tickets:
            self._flush()
            self._tickets[0].job.idle_wait()  # type: ignore[union-attr]  # tools are running

    def _drop_cancelled(self) -> None:
        for ticket in [t for t in self._tickets if t.cancelled]:
            self._tickets.remove(ticket)
            assert ticket.job is not None
            ticket.job.close()

    def _finish(self, ticket: Ticket, kind: str, value: Any) -> None:
        if ticket in self._tickets:
            self._tickets.remove(ticket)
        if ticket.job is not None:
            ticket.job.close()
        stats = getattr(value, "stats", None)
        if stats is not None:
            self.sampled += stats.sampled_tokens
            self.prompt_tokens += stats.prompt_tokens
            self.reused_tokens += stats.reused_tokens
        ticket.send(kind, value)
