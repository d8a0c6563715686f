"""A resident engine: CLI commands use a running `islands serve` when there is one.

`islands serve` on a loopback address records itself in `$ISLANDS_HOME/servers/PORT.json`
(URL, pid, models, whether it wants an API key) and removes the record when it stops.
`islands ask` and `islands generate` then send their work to it instead of loading the model
themselves — no model load, no grammar set-up, and the server's prefix cache already holds the
few-shot header — as `llm` and Ollama users expect. A record whose process is gone, whose
server does not answer within half a second, or that serves another model is skipped (a dead
one is removed). `--local` or `ISLANDS_SERVER=off` keeps the work in this process.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from islands.files import pid_alive
from islands.home import islands_home

__all__ = ["Resident", "find_resident", "register", "unregister"]

_PROBE_TIMEOUT = 0.5


@dataclass(frozen=True)
class Resident:
    """A running `islands serve` this process may use."""

    url: str  # base URL without /v1
    pid: int
    model: str  # the completions model's name
    api_key: str | None  # the key to send (from ISLANDS_API_KEY), when the server wants one


def _folder() -> Path:
    return islands_home() / "servers"


def register(host: str, port: int, model: str, *, api_key_required: bool) -> Path | None:
    """Record a server that just started; None for a non-loopback bind (not ours to share)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{port}.json"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "model": model, "api_key_required": api_key_required}))
    tmp.replace(path)
    return path


def unregister(path: Path | None) -> None:
    """Remove this process's record (not one a newer server on the same port wrote)."""
    if path is None:
        return
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def find_resident(model: str) -> Resident | None:
    """A running server whose completions model is `model`, answering now; else None."""
    if os.environ.get("ISLANDS_SERVER", "").lower() in ("off", "0", "no", "false"):
        return None
    folder = _folder()
    if not folder.is_dir():
        return None
    key = os.environ.get("ISLANDS_API_KEY")
    for path in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
            url, pid, served = str(doc["url"]), int(doc["pid"]), str(doc["model"])
            wants_key = bool(doc.get("api_key_required"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not pid_alive(pid):
            path.unlink(missing_ok=True)
            continue
        if served != model or (wants_key and not key):
            continue
        headers = {"Authorization": f"Bearer {key}"} if wants_key and key else {}
        try:
            response = httpx.get(f"{url}/v1/models", timeout=_PROBE_TIMEOUT, headers=headers)
        except httpx.HTTPError:
            continue
        if response.status_code == 200 and any(m.get("id") == model for m in response.json().get("data", [])):
            return Resident(url=url, pid=pid, model=model, api_key=key if wants_key else None)
    return None
