"""Driver: plain Python flows on other threads, stepped by the one thread that owns an engine.

A server has one loop thread that steps the engine for every request (continuous batching).
A flow (search, fan-out, an optimizer, `remember`'s scoring) is ordinary code that calls
`engine.run(...)`, `engine.prefill(...)` or runs a job, and expects to drive the engine
itself. With a driver attached, such code runs on a worker thread (`ThreadJob`) and, when it
would step the engine, hands its turn to the loop instead: the loop steps everyone's
branches in the same batches and hands the turn back once what the flow waits for is done.
So a flow no longer stalls the other requests; they share its batches.

Only one thread touches the engine at a time. The turn goes loop -> a flow thread -> loop:

    driver = Driver(engine)            # on the loop thread: engine.driver = driver
    job = ThreadJob(driver, lambda emit: run_my_flow(engine, emit))
    ... the loop: job.begin(); then after every engine.step(): driver.yield_turn(), job.advance()

What it leaves out: priorities between flows (the turn goes round in arrival order), and
timeouts (a flow that never returns its turn holds the loop; flows always do, since they
return it whenever they wait on the engine or end).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from islands.engine.results import Delta
from islands.engine.stream import Job
from islands.errors import EngineError

if TYPE_CHECKING:
    from islands.engine.core import Engine

__all__ = ["Cancelled", "Driver", "ThreadJob"]

_LOOP = -1  # the turn's owner when the loop thread holds it


class Cancelled(EngineError):
    """The request behind a flow thread went away; the flow stops at its next engine call."""


@dataclass
class _Waiter:
    """A flow thread waiting for the loop: until `ready()` holds (checked after each step)."""

    thread: int
    ready: Callable[[], bool]
    job: Job | None = None  # a job the loop advances for the waiter
    deltas: list[Delta] = field(default_factory=list)
    error: BaseException | None = None


class Driver:
    """The turn between one loop thread and the flow threads that use its engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cv = threading.Condition()
        self._loop = threading.get_ident()
        self._owner = _LOOP
        self._runnable: list[int] = []  # flow threads to hand the turn to, in order
        self._waiters: list[_Waiter] = []
        self._cancelled: set[int] = set()
        engine.driver = self

    def bind(self) -> None:
        """Make the calling thread the loop thread (call it first thing on that thread)."""
        with self._cv:
            self._loop = threading.get_ident()

    def foreign(self) -> bool:
        """Is the caller a flow thread (not the loop)?"""
        return threading.get_ident() != self._loop

    @property
    def hosted(self) -> int:
        """Flow threads waiting on the engine."""
        return len(self._waiters)

    # -- the loop thread ---------------------------------------------------------------------

    def yield_turn(self) -> None:
        """After a step: advance hosted jobs, then let every flow thread whose wait is over
        (and every new one) run until it waits again or ends."""
        with self._cv:
            for w in list(self._waiters):
                if w.job is not None:
                    try:
                        w.deltas.extend(w.job.advance())
                    except Exception as e:  # the flow thread raises it
                        w.error = e
                if w.error is not None or w.deltas or w.ready():
                    self._waiters.remove(w)
                    self._runnable.append(w.thread)
            while self._runnable:
                self._owner = self._runnable.pop(0)
                self._cv.notify_all()
                self._cv.wait_for(lambda: self._owner == _LOOP)

    def idle_wait(self, timeout: float = 0.05) -> None:
        """Nothing to step: block briefly on what hosted jobs wait for (tools)."""
        jobs = [w.job for w in self._waiters if w.job is not None and not w.job.busy()]
        if jobs:
            jobs[0].idle_wait()
        else:
            threading.Event().wait(timeout / 10)

    def cancel(self, thread: int) -> None:
        """Stop a flow thread at its next engine call; it gets the turn to clean up."""
        with self._cv:
            self._cancelled.add(thread)
            for w in list(self._waiters):
                if w.thread == thread:
                    self._waiters.remove(w)
                    w.error = Cancelled("the request was cancelled")
                    self._runnable.append(thread)
        if not self.foreign():
            self.yield_turn()

    # -- flow threads ------------------------------------------------------------------------

    def enter(self, queued: threading.Event | None = None) -> None:
        """A new flow thread asks for its first turn (`queued` is set once it is in line)."""
        me = threading.get_ident()
        with self._cv:
            self._runnable.append(me)
            if queued is not None:
                queued.set()
            self._cv.wait_for(lambda: self._owner == me)
            if me in self._cancelled:
                raise Cancelled("the request was cancelled")

    def leave(self) -> None:
        """A flow thread ends: the turn goes back to the loop."""
        with self._cv:
            self._cancelled.discard(threading.get_ident())
            self._owner = _LOOP
            self._cv.notify_all()

    def wait(self, ready: Callable[[], bool], job: Job | None = None) -> _Waiter:
        """Give the turn to the loop until `ready()` (or `job` has news); raise Cancelled."""
        me = threading.get_ident()
        with self._cv:
            if me in self._cancelled:
                raise Cancelled("the request was cancelled")
            waiter = _Waiter(me, ready, job)
            self._waiters.append(waiter)
            self._owner = _LOOP
            self._cv.notify_all()
            self._cv.wait_for(lambda: self._owner == me)
        if waiter.error is not None:
            raise waiter.error
        return waiter

    def host(self, job: Job) -> Iterator[Delta]:
        """Run `job` on the loop (beside every other request), yielding its deltas here."""
        job.begin()
        try:
            yield from job.advance()
            while not job.done:
                waiter = self.wait(lambda: job.done, job)
                yield from waiter.deltas
        finally:
            job.close()


class ThreadJob(Job):
    """`work(emit)` on a worker thread under the driver's turn, as a job for the loop.

    `emit(text)` streams text to the request; the job's `result` is what `work` returns.
    """

    def __init__(self, driver: Driver, work: Callable[[Callable[[str], None]], Any]) -> None:
        self.driver = driver
        self.work = work
        self.result: Any = None
        self._deltas: queue.SimpleQueue[Delta] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ident: int | None = None

    def begin(self) -> None:
        queued = threading.Event()

        def main() -> None:
            self._ident = threading.get_ident()
            try:
                self.driver.enter(queued)
                self.result = self.work(lambda text: self._deltas.put(Delta(0, text)))
            except BaseException as e:  # noqa: BLE001 - handed to the loop as the job's error
                self.error = e
            finally:
                self.done = True
                self.driver.leave()

        self._thread = threading.Thread(target=main, name="islands-flow", daemon=True)
        self._thread.start()
        queued.wait()
        self.driver.yield_turn()  # its first turn: it runs until it waits on the engine

    def advance(self) -> list[Delta]:
        out = []
        while True:
            try:
                out.append(self._deltas.get_nowait())
            except queue.Empty:
                break
        if self.error is not None and self.done:
            raise self.error
        return out

    def busy(self) -> bool:
        return not self.done and self.driver.hosted > 0

    def idle_wait(self) -> None:
        self.driver.idle_wait()

    def close(self) -> None:
        if self._thread is not None and not self.done and self._ident is not None:
            self.driver.cancel(self._ident)
