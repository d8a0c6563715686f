"""The job behind a request, built on the loop thread of the model that serves it.

- plain text (optionally under a grammar): a `GenerationJob`;
- hard-island tools by name: the model's `IslandRunner` job;
- a flow: the flow's plain code on a worker thread (`ThreadJob`), its engine calls stepped
  by the loop beside every other request;
- memory: `remember_statements` on a worker thread beside the answer (`Beside`), so the
  reply does not wait for the surprise scoring and neither do other requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from islands.engine import Generation
from islands.engine.driver import ThreadJob
from islands.engine.results import Delta, Output, Stats
from islands.engine.stream import GenerationJob, Job
from islands.errors import InvalidInput
from islands.flows.chat import remember_statements
from islands.flows.graph import Flow, load_flow, run_flow
from islands.grammar import Grammar
from islands.memory import MemoryStore
from islands.params import SamplingParams
from islands.server.errors import ApiError
from islands.server.sampling import grammar_of
from islands.server.schemas import Common
from islands.server.state import Served, ServerState
from islands.tools import Registry

__all__ = ["Beside", "MemoryAsk", "flow_job", "job_for", "memory_ask", "plain_job", "remembering"]

MakeJob = Callable[[], Job]


class Beside(Job):
    """`main`'s deltas and result, with `side` run alongside; done when both are. A failing
    side does not fail the request: its error is kept in `side_error`."""

    def __init__(self, main: Job, side: Job) -> None:
        self.main, self.side = main, side
        self.result: Any = None
        self.side_error: BaseException | None = None

    def begin(self) -> None:
        self.main.begin()
        try:
            self.side.begin()
        except Exception as e:  # noqa: BLE001 - kept, the answer goes on
            self.side_error, self.side.done = e, True

    def advance(self) -> list[Delta]:
        out = self.main.advance() if not self.main.done else []
        if not self.side.done or self.side.error is not None and self.side_error is None:
            try:
                self.side.advance()
            except Exception as e:  # noqa: BLE001
                self.side_error = e
        self.done = self.main.done and self.side.done
        if self.main.done:
            self.result = getattr(self.main, "result", None)
        return out

    def busy(self) -> bool:
        return (not self.main.done and self.main.busy()) or (not self.side.done and self.side.busy())

    def idle_wait(self) -> None:
        (self.main if not self.main.done else self.side).idle_wait()

    def close(self) -> None:
        try:
            self.main.close()
        finally:
            self.side.close()


def plain_job(served: Served, prompt: str, n: int, params: SamplingParams, grammar: Grammar | None = None,
              tools: Registry | None = None) -> MakeJob:
    def make() -> Job:
        engine = served.engine
        assert engine is not None
        if tools is not None:
            return served.runner(tools).job(prompt, n, params)
        return GenerationJob(engine, prompt, n, params, engine.constraint(grammar) if grammar else None)

    return make


def remembering(served: Served, store: MemoryStore, message: str, make_main: MakeJob) -> MakeJob:
    """`make_main`'s job with the user's statements in `message` remembered beside it."""

    def make() -> Job:
        assert served.engine is not None and served.loop is not None
        engine = served.engine
        side = ThreadJob(served.loop.driver, lambda _emit: remember_statements(engine, store, message, source="server"))
        return Beside(make_main(), side)

    return make


def flow_job(served: Served, flow: Flow, inputs: dict[str, str]) -> MakeJob:
    def make() -> Job:
        assert served.engine is not None and served.loop is not None
        engine = served.engine

        def work(emit: Callable[[str], None]) -> Generation:
            t0 = time.perf_counter()
            run = run_flow(engine, flow, inputs)
            emit(str(run.output))
            result = Generation([Output(str(run.output), [], "stop", 0)], Stats(seconds=time.perf_counter() - t0))
            result.flow = run  # type: ignore[attr-defined]
            return result

        return ThreadJob(served.loop.driver, work)

    return make


class MemoryAsk:
    """What a request's `memory` extension asks for."""

    def __init__(self, store: MemoryStore, k: int, recall: bool, remember: bool) -> None:
        self.store, self.k, self.recall, self.remember = store, k, recall, remember


def memory_ask(state: ServerState, req: Common) -> MemoryAsk | None:
    if not req.memory:
        return None
    if state.memory is None:
        raise ApiError(400, "this server has no memory (start it with --memory FILE or URL)", param="memory")
    opts = req.memory if isinstance(req.memory, dict) else {}
    k = opts.get("k", 3)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 50:
        raise ApiError(400, "memory.k must be a whole number from 1 to 50", param="memory")
    return MemoryAsk(state.memory, k, bool(opts.get("recall", True)), bool(opts.get("remember", True)))


def tools_of(state: ServerState, req: Common) -> Registry | None:
    """The hard-island tools a request names (["calc", "py"]), or None."""
    names = req.tools or []
    if not names or not all(isinstance(t, str) for t in names):
        return None
    try:
        return state.registry.subset([str(t) for t in names])
    except InvalidInput as e:
        raise ApiError(400, str(e), param="tools") from None


def job_for(state: ServerState, served: Served, req: Common, prompt: str, params: SamplingParams, *,
            grammar: Grammar | None = None, remember: str | None = None) -> MakeJob:
    """The job for a request whose prompt is ready (memories already recalled into it);
    `remember`: the user's text to remember beside the answer."""
    assert served.engine is not None
    if req.flow is not None:
        flow = flow_of(state, req)
        make = flow_job(served, flow, inputs_of(req, flow, prompt))
    else:
        tools = tools_of(state, req)
        grammar = grammar if grammar is not None else grammar_of(req, served.engine)
        if tools is not None and grammar is not None:
            raise ApiError(400, "tools cannot be combined with a grammar yet", param="tools")
        make = plain_job(served, prompt, req.n, params, grammar, tools)
    ask = memory_ask(state, req)
    if ask is not None and ask.remember and remember and remember.strip():
        return remembering(served, ask.store, remember, make)
    return make


def flow_of(state: ServerState, req: Common) -> Flow:
    if isinstance(req.flow, str):
        if req.flow not in state.flows:
            known = ", ".join(sorted(state.flows)) or "none (start the server with --flows DIR)"
            raise ApiError(404, f"unknown flow {req.flow!r}; served flows: {known}", "flow_not_found", "flow")
        return state.flows[req.flow]
    try:
        return load_flow(req.flow or {})
    except InvalidInput as e:
        raise ApiError(400, str(e), param="flow") from None


def inputs_of(req: Common, flow: Flow, prompt: str) -> dict[str, str]:
    return req.inputs if req.inputs is not None else ({"question": prompt} if "question" in flow.inputs else {})
