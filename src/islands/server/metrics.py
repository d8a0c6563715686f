"""Request metrics and the request log: an ASGI middleware that times every request,
counts it by path and status, keeps a latency histogram, and writes one line per request
("POST /v1/completions 200 84 ms") to the log function it was given.

The time of a streamed response runs until its last byte. `/metrics` renders the counters
in Prometheus' text format beside the engine loops' own.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["BUCKETS", "Metrics", "RequestLog"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


class Metrics:
    """Counters by (path, status) and a latency histogram (seconds), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_status: Counter[tuple[str, int]] = Counter()
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total_s = 0.0

    def observe(self, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.by_status[(path, status)] += 1
            self.count += 1
            self.total_s += seconds
            for i, le in enumerate(BUCKETS):
                if seconds <= le:
                    self.buckets[i] += 1

    def render(self) -> str:
        with self._lock:
            lines = ["# HELP islands_http_requests_total HTTP requests answered, by path and status.",
                     "# TYPE islands_http_requests_total counter"]
            lines += [f'islands_http_requests_total{{path="{p}",status="{s}"}} {n}' for (p, s), n in sorted(self.by_status.items())]
            errors = sum(n for (_p, s), n in self.by_status.items() if s >= 400)
            lines += ["# HELP islands_http_errors_total HTTP requests answered with a 4xx or 5xx status.",
                      "# TYPE islands_http_errors_total counter", f"islands_http_errors_total {errors}"]
            lines += ["# HELP islands_request_seconds Time from a request's arrival to its last byte.",
                      "# TYPE islands_request_seconds histogram"]
            lines += [f'islands_request_seconds_bucket{{le="{le}"}} {n}' for le, n in zip(BUCKETS, self.buckets, strict=True)]
            lines += [f'islands_request_seconds_bucket{{le="+Inf"}} {self.count}',
                      f"islands_request_seconds_sum {self.total_s:.6f}", f"islands_request_seconds_count {self.count}"]
        return "\n".join(lines) + "\n"


class RequestLog:
    """ASGI middleware: time, count and log each HTTP request."""

    def __init__(self, app: Any, metrics: Metrics, log: Callable[[str], None] | None = None) -> None:
        self.app, self.metrics, self.log = app, metrics, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - t0
            path = str(scope.get("path", ""))
            known = path if path.startswith(("/v1/", "/health", "/metrics")) and status[0] != 404 else "other"
            self.metrics.observe(known, status[0], seconds)
            if self.log is not None:
                self.log(f"{scope.get('method', '?')} {path} {status[0]} {seconds * 1000:.0f} ms")
