"""An app served from a thread on a free port of 127.0.0.1, started and stopped around a
block: what the serving benchmark and the tests run their clients against.

    with serve_in_thread(create_app(engine)) as url:
        httpx.get(f"{url}/v1/models")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from islands.errors import EngineError

__all__ = ["free_port", "serve_in_thread"]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any, *, start_s: float = 30.0, stop_s: float = 30.0, **config: Any) -> Iterator[str]:
    """Serve `app` (uvicorn, quiet, `config` passed on) for the block; yields its base URL.
    EngineError when it has not started within `start_s`."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_s
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise EngineError(f"the server on 127.0.0.1:{port} did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=stop_s)
